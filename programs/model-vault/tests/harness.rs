//! A program-test bank with model-vault loaded natively next to the real SPL Token,
//! Token-2022 and ATA programs, plus builders for every instruction.
#![allow(deprecated)] // program-test 3.1 marks `processor!` and context fields "unstable"

use anchor_lang::{prelude::Pubkey, solana_program::program_pack::Pack as _, AccountDeserialize};
use model_vault::{BuybackGuard, ConfigParams, ConfigUpdate, ModelUpdate};
pub use model_vault_client::{
    config_pda, default_params, program_data_account, program_data_pda, ModelKeys, Protocol,
    TOKEN_2022, TOKEN_PROGRAM,
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

/// The bank's model-vault: natively (the default), or with `PAYWIRE_SBF=1` the SBF build
/// that program-test finds through `SBF_OUT_DIR` (`../shared/sbf/build.sh` writes it to
/// `target/deploy`).
fn program_test() -> ProgramTest {
    if std::env::var_os("PAYWIRE_SBF").is_none_or(|v| v != "1") {
        let mut pt = ProgramTest::new(
            "model_vault",
            model_vault::ID,
            processor!(localnet::solana::native_entry),
        );
        pt.prefer_bpf(false);
        return pt;
    }
    let dir = std::env::var("SBF_OUT_DIR").unwrap_or_else(|_| {
        panic!("PAYWIRE_SBF=1 needs SBF_OUT_DIR: the directory holding model_vault.so (../shared/sbf/build.sh writes target/deploy)")
    });
    let so = std::path::Path::new(&dir).join("model_vault.so");
    assert!(
        so.is_file(),
        "PAYWIRE_SBF=1 but {} does not exist: build it with ../shared/sbf/build.sh",
        so.display()
    );
    let mut pt = ProgramTest::new("model_vault", model_vault::ID, None);
    pt.prefer_bpf(true);
    pt
}

pub struct Env {
    pub ctx: ProgramTestContext,
    pub admin: Keypair,
    pub treasury: Keypair,
    pub usdc: Pubkey,
    pub treasury_usdc: Pubkey,
    nonce: u32,
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
        localnet::quiet_runtime_logs();
        let mut pt = program_test();
        let admin = Keypair::new();
        let treasury = Keypair::new();
        for k in [&admin, &treasury] {
            pt.add_account(k.pubkey(), lamports(100_000_000_000));
        }
        // As deployed by `admin`: the upgradeable loader's record naming the upgrade authority.
        pt.add_account(program_data_pda(), program_data_account(&admin.pubkey()));
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
        self.protocol().initialize(admin, params)
    }

    /// The instruction builders for this bank's USDC and treasury.
    pub fn protocol(&self) -> Protocol {
        Protocol {
            usdc_mint: self.usdc,
            usdc_token_program: TOKEN_PROGRAM,
            treasury: self.treasury.pubkey(),
            treasury_usdc: self.treasury_usdc,
        }
    }

    /// Every address of the model `slug`.
    pub fn model_keys(&self, slug: &str) -> ModelKeys {
        self.protocol().model(slug)
    }

    /// Sends one transaction paid by the context payer, with the compute-unit limit the
    /// clients give it (`model_vault_client::compute_units`): run against the SBF build, every
    /// test checks those budgets hold. The limit is nudged by a counter, which keeps otherwise
    /// identical transactions distinct within one blockhash.
    pub async fn send(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(), TransactionError> {
        self.nonce += 1;
        let mut all = vec![ComputeBudgetInstruction::set_compute_unit_limit(
            model_vault_client::compute_units(ixs) + self.nonce,
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
        let len = spl_token_interface::state::Mint::LEN;
        self.create_mint_of(TOKEN_PROGRAM, len, None, decimals)
            .await
    }

    /// A Token-2022 mint with one mint extension, initialized by `extension_ix(mint)`.
    pub async fn create_token_2022_mint(
        &mut self,
        extension: spl_token_2022_interface::extension::ExtensionType,
        extension_ix: impl FnOnce(&Pubkey) -> Instruction,
    ) -> Pubkey {
        use spl_token_2022_interface::{extension::ExtensionType, state::Mint};
        let len = ExtensionType::try_calculate_account_len::<Mint>(&[extension]).unwrap();
        self.create_mint_of(TOKEN_2022, len, Some(Box::new(extension_ix)), 6)
            .await
    }

    /// A mint of `program`, `len` bytes, the admin its authority; `extension_ix` runs between
    /// allocation and `InitializeMint2`, as mint extensions require.
    async fn create_mint_of(
        &mut self,
        program: Pubkey,
        len: usize,
        extension_ix: Option<Box<dyn FnOnce(&Pubkey) -> Instruction + '_>>,
        decimals: u8,
    ) -> Pubkey {
        let mint = Keypair::new();
        let rent = self.ctx.banks_client.get_rent().await.unwrap();
        let mut ixs = vec![
            anchor_lang::solana_program::system_instruction::create_account(
                &self.ctx.payer.pubkey(),
                &mint.pubkey(),
                rent.minimum_balance(len),
                len as u64,
                &program,
            ),
        ];
        ixs.extend(extension_ix.map(|f| f(&mint.pubkey())));
        // Token-2022's builder speaks for both token programs.
        ixs.push(
            spl_token_2022_interface::instruction::initialize_mint2(
                &program,
                &mint.pubkey(),
                &self.admin.pubkey(),
                None,
                decimals,
            )
            .unwrap(),
        );
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

    /// An empty USDC account of `owner` at a fresh address: right owner and mint, but not the
    /// associated account the program expects.
    pub async fn usdc_account_elsewhere(&mut self, owner: &Pubkey) -> Pubkey {
        let account = Keypair::new();
        let len = spl_token_interface::state::Account::LEN;
        let rent = self.ctx.banks_client.get_rent().await.unwrap();
        let ixs = [
            anchor_lang::solana_program::system_instruction::create_account(
                &self.ctx.payer.pubkey(),
                &account.pubkey(),
                rent.minimum_balance(len),
                len as u64,
                &TOKEN_PROGRAM,
            ),
            spl_token_interface::instruction::initialize_account3(
                &TOKEN_PROGRAM,
                &account.pubkey(),
                &self.usdc,
                owner,
            )
            .unwrap(),
        ];
        self.send(&ixs, &[&account])
            .await
            .expect("create token account");
        account.pubkey()
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
        let keys = self.model_keys(slug);
        let ix = self.register_ix(creator, &keys, share_bps);
        self.send(&[ix], &[creator]).await?;
        Ok(keys)
    }

    pub fn register_ix(&self, creator: &Keypair, keys: &ModelKeys, share_bps: u16) -> Instruction {
        self.protocol().register(&creator.pubkey(), keys, share_bps)
    }

    pub fn tokenize_ix(&self, creator: &Keypair, keys: &ModelKeys) -> Instruction {
        let uri = format!("https://paywire.example/models/{}.json", keys.slug);
        self.protocol().tokenize(
            &creator.pubkey(),
            keys,
            &format!("{} token", keys.slug),
            "MDL",
            &uri,
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
        self.protocol()
            .buy(keys, buyer, buyer_usdc, buyer_tokens, usdc_in, min_out)
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
        self.protocol()
            .sell(keys, seller, seller_tokens, seller_usdc, tokens_in, min_out)
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
        self.protocol().buyback_and_burn(keys)
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
        self.protocol()
            .claim_creator_revenue(keys, creator, destination)
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
        self.protocol().release_held_revenue(keys, amount)
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
    // The treasury and USDC do not enter this instruction.
    Protocol::new(Pubkey::default(), Pubkey::default()).update_config(admin, update)
}

pub fn update_model_ix(keys: &ModelKeys, creator: &Pubkey, update: ModelUpdate) -> Instruction {
    Protocol::new(Pubkey::default(), Pubkey::default()).update_model(creator, keys, update)
}

pub struct Trader {
    pub key: Keypair,
    pub usdc: Pubkey,
    pub tokens: Pubkey,
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
