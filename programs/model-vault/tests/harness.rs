//! A program-test bank with model-vault loaded natively next to the real SPL Token,
//! Token-2022 and ATA programs, plus builders for every instruction.
#![allow(deprecated)] // program-test 3.1 marks `processor!` and context fields "unstable"

use anchor_lang::{
    prelude::Pubkey, solana_program::program_pack::Pack as _, AccountDeserialize, InstructionData,
    ToAccountMetas,
};
use model_vault::{
    accounts as acc, constants::*, instruction as ix, BuybackGuard, ConfigParams, ConfigUpdate,
    CurveParams, ModelUpdate,
};
use solana_account::Account;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_instruction::{error::InstructionError, Instruction};
use solana_keypair::Keypair;
use solana_program_test::{processor, BanksClientError, ProgramTest, ProgramTestContext};
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use spl_associated_token_account_interface::{
    address::get_associated_token_address_with_program_id as ata,
    instruction::create_associated_token_account_idempotent,
};

pub const USDC: u64 = 1_000_000;
pub const TOKEN_PROGRAM: Pubkey = spl_token_interface::ID;
pub const TOKEN_2022: Pubkey = spl_token_2022_interface::ID;

/// Anchor's `entry` ties program id, accounts and data to one lifetime, which `processor!`
/// cannot express; leaking copies of all three gives them that lifetime (a few bytes per
/// instruction, fine in tests).
fn entry(
    program_id: &Pubkey,
    accounts: &[anchor_lang::prelude::AccountInfo],
    data: &[u8],
) -> anchor_lang::solana_program::entrypoint::ProgramResult {
    let program_id: &'static Pubkey = Box::leak(Box::new(*program_id));
    let accounts = Box::leak(accounts.to_vec().into_boxed_slice());
    let data: &'static [u8] = Box::leak(data.to_vec().into_boxed_slice());
    model_vault::entry(program_id, accounts, data)
}

pub fn default_params() -> ConfigParams {
    ConfigParams {
        protocol_fee_bps: 500,
        max_creator_share_bps: 5_000,
        curve: CurveParams {
            virtual_quote: 30_000 * USDC,
            token_supply: 1_000_000_000 * USDC,
            fee_bps: 100,
        },
        guard: BuybackGuard {
            cooldown_slots: 10,
            max_spend: 1_000 * USDC,
            max_price_impact_bps: 500,
            max_deviation_bps: 200,
            reference_window_slots: 100,
        },
    }
}

pub struct Env {
    pub ctx: ProgramTestContext,
    pub admin: Keypair,
    pub treasury: Keypair,
    pub usdc: Pubkey,
    pub treasury_usdc: Pubkey,
    nonce: u32,
}

/// Every address of one model, derived the way clients derive them.
pub struct ModelKeys {
    pub slug: String,
    pub id: [u8; 32],
    pub model: Pubkey,
    pub pool: Pubkey,
    pub mint: Pubkey,
    pub vault_authority: Pubkey,
    pub vault: Pubkey,
    pub pool_token_vault: Pubkey,
    pub pool_quote_vault: Pubkey,
}

pub fn config_pda() -> Pubkey {
    Pubkey::find_program_address(&[CONFIG_SEED], &model_vault::ID).0
}

impl ModelKeys {
    pub fn new(slug: &str, usdc: &Pubkey) -> Self {
        let id = model_vault::Model::id_for_slug(slug);
        let pda = |seeds: &[&[u8]]| Pubkey::find_program_address(seeds, &model_vault::ID).0;
        let model = pda(&[MODEL_SEED, &id]);
        let pool = pda(&[POOL_SEED, model.as_ref()]);
        let mint = pda(&[MINT_SEED, model.as_ref()]);
        let vault_authority = pda(&[VAULT_SEED, model.as_ref()]);
        ModelKeys {
            slug: slug.to_string(),
            id,
            model,
            pool,
            mint,
            vault_authority,
            vault: ata(&vault_authority, usdc, &TOKEN_PROGRAM),
            pool_token_vault: ata(&pool, &mint, &TOKEN_2022),
            pool_quote_vault: ata(&pool, usdc, &TOKEN_PROGRAM),
        }
    }

    pub fn market(&self, usdc: &Pubkey) -> acc::Market {
        acc::Market {
            config: config_pda(),
            usdc_mint: *usdc,
            model: self.model,
            pool: self.pool,
            mint: self.mint,
            pool_token_vault: self.pool_token_vault,
            pool_quote_vault: self.pool_quote_vault,
            token_program: TOKEN_2022,
            usdc_token_program: TOKEN_PROGRAM,
        }
    }
}

pub fn instruction(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: model_vault::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

impl Env {
    /// A bank with USDC, the treasury's USDC account and an initialized config.
    pub async fn new() -> Self {
        let mut env = Self::without_config().await;
        let init = env.initialize_ix(&env.admin.pubkey(), default_params());
        let admin = env.admin.insecure_clone();
        env.send(&[init], &[&admin]).await.expect("initialize");
        env
    }

    /// A bank with USDC and funded admin/treasury keys, before `initialize`.
    pub async fn without_config() -> Self {
        quiet_runtime_logs();
        let mut pt = ProgramTest::new("model_vault", model_vault::ID, processor!(entry));
        pt.prefer_bpf(false);
        let admin = Keypair::new();
        let treasury = Keypair::new();
        for k in [&admin, &treasury] {
            pt.add_account(k.pubkey(), lamports(100_000_000_000));
        }
        let ctx = pt.start_with_context().await;
        let mut env = Env {
            ctx,
            admin,
            treasury,
            usdc: Pubkey::default(),
            treasury_usdc: Pubkey::default(),
            nonce: 0,
        };
        env.usdc = env.create_mint(6).await;
        env.treasury_usdc = env
            .create_ata(&env.treasury.pubkey(), &env.usdc.clone(), TOKEN_PROGRAM)
            .await;
        env
    }

    pub fn initialize_ix(&self, admin: &Pubkey, params: ConfigParams) -> Instruction {
        instruction(
            acc::Initialize {
                admin: *admin,
                config: config_pda(),
                usdc_mint: self.usdc,
                usdc_token_program: TOKEN_PROGRAM,
                system_program: anchor_lang::system_program::ID,
            },
            ix::Initialize {
                treasury: self.treasury.pubkey(),
                params,
            },
        )
    }

    /// Sends one transaction paid by the context payer. A compute-budget instruction with a
    /// fresh value keeps otherwise identical transactions distinct within one blockhash.
    pub async fn send(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(), TransactionError> {
        self.nonce += 1;
        let mut all = vec![ComputeBudgetInstruction::set_compute_unit_limit(
            1_000_000 + self.nonce,
        )];
        all.extend_from_slice(ixs);
        let mut keys: Vec<&Keypair> = vec![&self.ctx.payer];
        keys.extend_from_slice(signers);
        let blockhash = self.ctx.banks_client.get_latest_blockhash().await.unwrap();
        let tx = Transaction::new_signed_with_payer(
            &all,
            Some(&self.ctx.payer.pubkey()),
            &keys,
            blockhash,
        );
        match self.ctx.banks_client.process_transaction(tx).await {
            Ok(()) => Ok(()),
            Err(BanksClientError::TransactionError(e)) => Err(e),
            Err(other) => panic!("bank failure: {other:?}"),
        }
    }

    pub async fn funded_keypair(&mut self) -> Keypair {
        let k = Keypair::new();
        let ix = anchor_lang::solana_program::system_instruction::transfer(
            &self.ctx.payer.pubkey(),
            &k.pubkey(),
            10_000_000_000,
        );
        self.send(&[ix], &[]).await.expect("fund keypair");
        k
    }

    pub async fn create_mint(&mut self, decimals: u8) -> Pubkey {
        let mint = Keypair::new();
        let rent = self.ctx.banks_client.get_rent().await.unwrap();
        let len = spl_token_interface::state::Mint::LEN;
        let ixs = [
            anchor_lang::solana_program::system_instruction::create_account(
                &self.ctx.payer.pubkey(),
                &mint.pubkey(),
                rent.minimum_balance(len),
                len as u64,
                &TOKEN_PROGRAM,
            ),
            spl_token_interface::instruction::initialize_mint2(
                &TOKEN_PROGRAM,
                &mint.pubkey(),
                &self.admin.pubkey(),
                None,
                decimals,
            )
            .unwrap(),
        ];
        self.send(&ixs, &[&mint]).await.expect("create mint");
        mint.pubkey()
    }

    pub async fn create_ata(&mut self, owner: &Pubkey, mint: &Pubkey, program: Pubkey) -> Pubkey {
        let ix = create_associated_token_account_idempotent(
            &self.ctx.payer.pubkey(),
            owner,
            mint,
            &program,
        );
        self.send(&[ix], &[])
            .await
            .expect("create associated token account");
        ata(owner, mint, &program)
    }

    /// `owner`'s associated USDC account, created empty.
    pub async fn usdc_account(&mut self, owner: &Pubkey) -> Pubkey {
        let usdc = self.usdc;
        self.create_ata(owner, &usdc, TOKEN_PROGRAM).await
    }

    /// Mints fresh USDC (the admin is the test mint's authority).
    pub async fn mint_usdc(&mut self, to: &Pubkey, amount: u64) {
        let ix = spl_token_interface::instruction::mint_to(
            &TOKEN_PROGRAM,
            &self.usdc,
            to,
            &self.admin.pubkey(),
            &[],
            amount,
        )
        .unwrap();
        let admin = self.admin.insecure_clone();
        self.send(&[ix], &[&admin]).await.expect("mint usdc");
    }

    /// A USDC payment as an agent makes it: `TransferChecked` from its own account.
    pub async fn pay_usdc(&mut self, from: &Keypair, from_ata: &Pubkey, to: &Pubkey, amount: u64) {
        let ix = spl_token_interface::instruction::transfer_checked(
            &TOKEN_PROGRAM,
            from_ata,
            &self.usdc,
            to,
            &from.pubkey(),
            &[],
            amount,
            6,
        )
        .unwrap();
        self.send(&[ix], &[from]).await.expect("usdc payment");
    }

    /// A keypair holding `amount` USDC in its associated account.
    pub async fn agent_with_usdc(&mut self, amount: u64) -> (Keypair, Pubkey) {
        let agent = self.funded_keypair().await;
        let usdc = self.usdc;
        let account = self.create_ata(&agent.pubkey(), &usdc, TOKEN_PROGRAM).await;
        if amount > 0 {
            self.mint_usdc(&account, amount).await;
        }
        (agent, account)
    }

    pub async fn raw_account(&mut self, key: &Pubkey) -> Option<Account> {
        self.ctx.banks_client.get_account(*key).await.unwrap()
    }

    pub async fn account<T: AccountDeserialize>(&mut self, key: &Pubkey) -> T {
        let raw = self
            .raw_account(key)
            .await
            .unwrap_or_else(|| panic!("no account {key}"));
        T::try_deserialize(&mut raw.data.as_slice()).expect("deserialize")
    }

    /// Token balance of an SPL Token or Token-2022 account.
    pub async fn balance(&mut self, token_account: &Pubkey) -> u64 {
        let raw = self
            .raw_account(token_account)
            .await
            .expect("token account exists");
        spl_token_2022_interface::extension::StateWithExtensions::<
            spl_token_2022_interface::state::Account,
        >::unpack(&raw.data)
        .unwrap()
        .base
        .amount
    }

    pub async fn mint_state(&mut self, mint: &Pubkey) -> spl_token_2022_interface::state::Mint {
        let raw = self.raw_account(mint).await.expect("mint exists");
        spl_token_2022_interface::extension::StateWithExtensions::<
            spl_token_2022_interface::state::Mint,
        >::unpack(&raw.data)
        .unwrap()
        .base
    }

    pub async fn slot(&mut self) -> u64 {
        self.ctx.banks_client.get_root_slot().await.unwrap()
    }

    pub async fn warp_slots(&mut self, n: u64) {
        let slot = self.slot().await;
        self.ctx.warp_to_slot(slot + n).unwrap();
        self.ctx.get_new_latest_blockhash().await.unwrap();
    }

    // ---- model-vault instructions -------------------------------------------------------

    pub async fn register(
        &mut self,
        creator: &Keypair,
        slug: &str,
        share_bps: u16,
    ) -> Result<ModelKeys, TransactionError> {
        let keys = ModelKeys::new(slug, &self.usdc);
        let ix = self.register_ix(creator, &keys, share_bps);
        self.send(&[ix], &[creator]).await?;
        Ok(keys)
    }

    pub fn register_ix(&self, creator: &Keypair, keys: &ModelKeys, share_bps: u16) -> Instruction {
        instruction(
            acc::RegisterModel {
                creator: creator.pubkey(),
                config: config_pda(),
                model: keys.model,
                system_program: anchor_lang::system_program::ID,
            },
            ix::RegisterModel {
                model_id: keys.id,
                slug: keys.slug.clone(),
                creator_share_bps: share_bps,
            },
        )
    }

    pub fn tokenize_ix(&self, creator: &Keypair, keys: &ModelKeys) -> Instruction {
        instruction(
            acc::TokenizeModel {
                creator: creator.pubkey(),
                config: config_pda(),
                model: keys.model,
                pool: keys.pool,
                mint: keys.mint,
                pool_token_vault: keys.pool_token_vault,
                pool_quote_vault: keys.pool_quote_vault,
                vault_authority: keys.vault_authority,
                vault: keys.vault,
                usdc_mint: self.usdc,
                token_program: TOKEN_2022,
                usdc_token_program: TOKEN_PROGRAM,
                associated_token_program: spl_associated_token_account_interface::program::ID,
                system_program: anchor_lang::system_program::ID,
            },
            ix::TokenizeModel {
                name: format!("{} token", keys.slug),
                symbol: "MDL".into(),
                uri: format!("https://paywire.example/models/{}.json", keys.slug),
            },
        )
    }

    /// Registers and tokenizes a model with a fresh creator.
    pub async fn tokenized_model(&mut self, slug: &str, share_bps: u16) -> (Keypair, ModelKeys) {
        let creator = self.funded_keypair().await;
        let keys = self
            .register(&creator, slug, share_bps)
            .await
            .expect("register");
        let ix = self.tokenize_ix(&creator, &keys);
        self.send(&[ix], &[&creator]).await.expect("tokenize");
        (creator, keys)
    }

    pub fn buy_ix(
        &self,
        keys: &ModelKeys,
        buyer: &Pubkey,
        buyer_usdc: &Pubkey,
        buyer_tokens: &Pubkey,
        usdc_in: u64,
        min_out: u64,
    ) -> Instruction {
        instruction(
            acc::Buy {
                buyer: *buyer,
                market: keys.market(&self.usdc),
                buyer_usdc: *buyer_usdc,
                buyer_tokens: *buyer_tokens,
            },
            ix::Buy {
                usdc_in,
                min_tokens_out: min_out,
            },
        )
    }

    pub fn sell_ix(
        &self,
        keys: &ModelKeys,
        seller: &Pubkey,
        seller_tokens: &Pubkey,
        seller_usdc: &Pubkey,
        tokens_in: u64,
        min_out: u64,
    ) -> Instruction {
        instruction(
            acc::Sell {
                seller: *seller,
                market: keys.market(&self.usdc),
                seller_tokens: *seller_tokens,
                seller_usdc: *seller_usdc,
            },
            ix::Sell {
                tokens_in,
                min_usdc_out: min_out,
            },
        )
    }

    /// A trader with USDC and an empty model-token account.
    pub async fn trader(&mut self, keys: &ModelKeys, usdc: u64) -> Trader {
        let (key, usdc_account) = self.agent_with_usdc(usdc).await;
        let tokens = self.create_ata(&key.pubkey(), &keys.mint, TOKEN_2022).await;
        Trader {
            key,
            usdc: usdc_account,
            tokens,
        }
    }

    pub async fn buy(
        &mut self,
        keys: &ModelKeys,
        t: &Trader,
        usdc_in: u64,
        min_out: u64,
    ) -> Result<(), TransactionError> {
        let ix = self.buy_ix(keys, &t.key.pubkey(), &t.usdc, &t.tokens, usdc_in, min_out);
        self.send(&[ix], &[&t.key]).await
    }

    pub async fn sell(
        &mut self,
        keys: &ModelKeys,
        t: &Trader,
        tokens_in: u64,
        min_out: u64,
    ) -> Result<(), TransactionError> {
        let ix = self.sell_ix(
            keys,
            &t.key.pubkey(),
            &t.tokens,
            &t.usdc,
            tokens_in,
            min_out,
        );
        self.send(&[ix], &[&t.key]).await
    }

    pub fn buyback_ix(&self, keys: &ModelKeys) -> Instruction {
        instruction(
            acc::BuybackAndBurn {
                market: keys.market(&self.usdc),
                vault_authority: keys.vault_authority,
                vault: keys.vault,
                treasury_usdc: self.treasury_usdc,
            },
            ix::BuybackAndBurn {},
        )
    }

    /// Cranks with the context payer: no other signer is needed.
    pub async fn buyback(&mut self, keys: &ModelKeys) -> Result<(), TransactionError> {
        let ix = self.buyback_ix(keys);
        self.send(&[ix], &[]).await
    }

    pub fn claim_ix(
        &self,
        keys: &ModelKeys,
        creator: &Pubkey,
        destination: &Pubkey,
    ) -> Instruction {
        instruction(
            acc::ClaimCreatorRevenue {
                creator: *creator,
                config: config_pda(),
                model: keys.model,
                vault_authority: keys.vault_authority,
                vault: keys.vault,
                destination: *destination,
                usdc_mint: self.usdc,
                usdc_token_program: TOKEN_PROGRAM,
            },
            ix::ClaimCreatorRevenue {},
        )
    }

    pub async fn claim(
        &mut self,
        keys: &ModelKeys,
        creator: &Keypair,
        destination: &Pubkey,
    ) -> Result<(), TransactionError> {
        let ix = self.claim_ix(keys, &creator.pubkey(), destination);
        self.send(&[ix], &[creator]).await
    }

    pub fn release_ix(&self, keys: &ModelKeys, amount: u64) -> Instruction {
        instruction(
            acc::ReleaseHeldRevenue {
                treasury: self.treasury.pubkey(),
                config: config_pda(),
                model: keys.model,
                vault_authority: keys.vault_authority,
                vault: keys.vault,
                treasury_usdc: self.treasury_usdc,
                usdc_mint: self.usdc,
                usdc_token_program: TOKEN_PROGRAM,
            },
            ix::ReleaseHeldRevenue { amount },
        )
    }

    pub async fn update_config(&mut self, update: ConfigUpdate) -> Result<(), TransactionError> {
        let admin = self.admin.insecure_clone();
        let ix = update_config_ix(&admin.pubkey(), update);
        self.send(&[ix], &[&admin]).await
    }

    pub async fn set_guard(&mut self, f: impl FnOnce(&mut BuybackGuard)) {
        let mut params = self
            .account::<model_vault::Config>(&config_pda())
            .await
            .params;
        f(&mut params.guard);
        self.update_config(ConfigUpdate {
            params: Some(params),
            ..Default::default()
        })
        .await
        .expect("update guard");
    }
}

pub fn update_config_ix(admin: &Pubkey, update: ConfigUpdate) -> Instruction {
    instruction(
        acc::UpdateConfig {
            admin: *admin,
            config: config_pda(),
        },
        ix::UpdateConfig { update },
    )
}

pub fn update_model_ix(keys: &ModelKeys, creator: &Pubkey, update: ModelUpdate) -> Instruction {
    instruction(
        acc::UpdateModel {
            creator: *creator,
            config: config_pda(),
            model: keys.model,
        },
        ix::UpdateModel { update },
    )
}

pub struct Trader {
    pub key: Keypair,
    pub usdc: Pubkey,
    pub tokens: Pubkey,
}

/// program-test logs every instruction at debug level unless RUST_LOG says otherwise.
fn quiet_runtime_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("RUST_LOG").is_none() {
            // SAFETY: runs once, before program-test starts the logger or any thread reads env.
            unsafe { std::env::set_var("RUST_LOG", "error") };
        }
    });
}

fn lamports(amount: u64) -> Account {
    Account {
        lamports: amount,
        ..Account::default()
    }
}

/// Replaces every account `from` of `ix` with `to`, as an attacker crafting it would.
pub fn swap_account(ix: &mut Instruction, from: Pubkey, to: Pubkey) {
    let mut found = false;
    for meta in ix.accounts.iter_mut().filter(|m| m.pubkey == from) {
        meta.pubkey = to;
        found = true;
    }
    assert!(found, "{from} is not an account of this instruction");
}

/// Asserts that the model-vault instruction (index 1, after the compute-budget one) failed,
/// whatever refused it.
#[track_caller]
pub fn assert_refused(result: Result<(), TransactionError>) {
    assert!(
        matches!(result, Err(TransactionError::InstructionError(1, _))),
        "expected the program instruction to fail, got {result:?}"
    );
}

/// The custom error code a failed transaction's instruction returned.
pub fn custom_code(result: Result<(), TransactionError>) -> u32 {
    match result {
        Err(TransactionError::InstructionError(_, InstructionError::Custom(code))) => code,
        other => panic!("expected a custom instruction error, got {other:?}"),
    }
}

/// Asserts that `result` failed with `expected` (an Anchor or model-vault error).
#[track_caller]
pub fn assert_error(
    result: Result<(), TransactionError>,
    expected: impl Into<u32> + std::fmt::Debug + Copy,
) {
    assert_eq!(
        custom_code(result),
        expected.into(),
        "expected {expected:?}"
    );
}
