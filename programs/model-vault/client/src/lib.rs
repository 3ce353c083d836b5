//! Off-chain helpers for the model-vault program: every address of a model, derived the way
//! the program derives it, and one builder per instruction. Used by the CLI, the gateway,
//! localnet and the test suites, so an account list is written down once.

use anchor_lang::{prelude::Pubkey, InstructionData, ToAccountMetas};
use model_vault::{
    accounts as acc, constants::*, instruction as ix, ConfigParams, ConfigUpdate, ModelUpdate,
};
use solana_instruction::Instruction;
use spl_associated_token_account_interface::address::get_associated_token_address_with_program_id as ata;

mod budget;
mod decode;

pub use budget::{compute_units, with_compute_budget};
pub use decode::{decode, VaultInstruction};
pub use model_vault::ID as PROGRAM_ID;
/// The token program of model tokens.
pub const TOKEN_2022: Pubkey = spl_token_2022_interface::ID;
/// The classic SPL Token program (USDC's on mainnet).
pub const TOKEN_PROGRAM: Pubkey = spl_token_interface::ID;

/// Protocol parameters for local use: 5% protocol fee, creators up to 50%, a 30,000 USDC
/// virtual reserve against 1e9 tokens, and buyback guards scaled to 400 ms slots: a crank
/// lifts the price at most 2% (twice the pool fee, so a sandwich cannot pay) and spends at
/// most 250 USDC (a fresh pool absorbs ~300 within that cap).
pub fn default_params() -> model_vault::ConfigParams {
    model_vault::ConfigParams {
        protocol_fee_bps: 500,
        max_creator_share_bps: 5_000,
        curve: model_vault::CurveParams {
            virtual_quote: 30_000_000_000,
            token_supply: 1_000_000_000_000_000,
            fee_bps: 100,
        },
        guard: model_vault::BuybackGuard {
            cooldown_slots: 10,
            max_spend: 250_000_000,
            max_price_impact_bps: 200,
            max_deviation_bps: 200,
            reference_window_slots: 100,
        },
    }
}

pub fn config_pda() -> Pubkey {
    Pubkey::find_program_address(&[CONFIG_SEED], &PROGRAM_ID).0
}

/// The model account of `slug`.
pub fn model_pda(slug: &str) -> Pubkey {
    let id = model_vault::Model::id_for_slug(slug);
    Pubkey::find_program_address(&[MODEL_SEED, &id], &PROGRAM_ID).0
}

/// The owners of the USDC a model's program accounts hold: its revenue vault's (the payTo of a
/// tokenized model) and its pool's.
pub fn usdc_owners_of(model: &Pubkey) -> [Pubkey; 2] {
    let pda = |seed: &[u8]| Pubkey::find_program_address(&[seed, model.as_ref()], &PROGRAM_ID).0;
    [pda(VAULT_SEED), pda(POOL_SEED)]
}

/// The upgradeable loader's `ProgramData` account of model-vault: it names the upgrade
/// authority, the only key `initialize` accepts as admin.
pub fn program_data_pda() -> Pubkey {
    let loader = anchor_lang::solana_program::bpf_loader_upgradeable::ID;
    Pubkey::find_program_address(&[PROGRAM_ID.as_ref()], &loader).0
}

/// A `ProgramData` account naming `authority`, for local banks where the program is loaded
/// natively and no loader wrote one. Its data is what the loader writes (bincode): variant 3,
/// deploy slot 0, `Some(authority)`; no program code follows.
pub fn program_data_account(authority: &Pubkey) -> solana_account::Account {
    let mut data = Vec::with_capacity(45);
    data.extend_from_slice(&3u32.to_le_bytes());
    data.extend_from_slice(&0u64.to_le_bytes());
    data.push(1);
    data.extend_from_slice(authority.as_ref());
    solana_account::Account {
        lamports: 1_000_000_000,
        data,
        owner: anchor_lang::solana_program::bpf_loader_upgradeable::ID,
        executable: false,
        rent_epoch: 0,
    }
}

/// The protocol's fixed accounts: USDC and the treasury. Builds every instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protocol {
    pub usdc_mint: Pubkey,
    pub usdc_token_program: Pubkey,
    /// Owner of the treasury's USDC account.
    pub treasury: Pubkey,
    pub treasury_usdc: Pubkey,
}

/// Every address of one model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelKeys {
    pub slug: String,
    pub id: [u8; 32],
    pub model: Pubkey,
    pub pool: Pubkey,
    pub mint: Pubkey,
    /// The PDA owning the revenue vault: the x402 `payTo` of a tokenized model.
    pub vault_authority: Pubkey,
    /// The revenue vault (USDC account of `vault_authority`).
    pub vault: Pubkey,
    pub pool_token_vault: Pubkey,
    pub pool_quote_vault: Pubkey,
}

fn instruction(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: PROGRAM_ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

impl Protocol {
    /// USDC under the classic SPL Token program, as on mainnet.
    pub fn new(usdc_mint: Pubkey, treasury: Pubkey) -> Self {
        Protocol {
            usdc_mint,
            usdc_token_program: TOKEN_PROGRAM,
            treasury,
            treasury_usdc: ata(&treasury, &usdc_mint, &TOKEN_PROGRAM),
        }
    }

    pub fn model(&self, slug: &str) -> ModelKeys {
        let id = model_vault::Model::id_for_slug(slug);
        let pda = |seeds: &[&[u8]]| Pubkey::find_program_address(seeds, &PROGRAM_ID).0;
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
            vault: ata(&vault_authority, &self.usdc_mint, &self.usdc_token_program),
            pool_token_vault: ata(&pool, &mint, &TOKEN_2022),
            pool_quote_vault: ata(&pool, &self.usdc_mint, &self.usdc_token_program),
        }
    }

    fn market(&self, keys: &ModelKeys) -> acc::Market {
        acc::Market {
            config: config_pda(),
            usdc_mint: self.usdc_mint,
            model: keys.model,
            pool: keys.pool,
            mint: keys.mint,
            pool_token_vault: keys.pool_token_vault,
            pool_quote_vault: keys.pool_quote_vault,
            token_program: TOKEN_2022,
            usdc_token_program: self.usdc_token_program,
        }
    }

    /// `admin` must be the program's upgrade authority.
    pub fn initialize(&self, admin: &Pubkey, params: ConfigParams) -> Instruction {
        instruction(
            acc::Initialize {
                admin: *admin,
                config: config_pda(),
                program_data: program_data_pda(),
                usdc_mint: self.usdc_mint,
                usdc_token_program: self.usdc_token_program,
                system_program: anchor_lang::system_program::ID,
            },
            ix::Initialize {
                treasury: self.treasury,
                params,
            },
        )
    }

    pub fn update_config(&self, admin: &Pubkey, update: ConfigUpdate) -> Instruction {
        instruction(
            acc::UpdateConfig {
                admin: *admin,
                config: config_pda(),
            },
            ix::UpdateConfig { update },
        )
    }

    pub fn register(&self, creator: &Pubkey, keys: &ModelKeys, share_bps: u16) -> Instruction {
        instruction(
            acc::RegisterModel {
                creator: *creator,
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

    pub fn update_model(
        &self,
        creator: &Pubkey,
        keys: &ModelKeys,
        update: ModelUpdate,
    ) -> Instruction {
        instruction(
            acc::UpdateModel {
                creator: *creator,
                config: config_pda(),
                model: keys.model,
            },
            ix::UpdateModel { update },
        )
    }

    /// Token metadata: `name`, `symbol` and a JSON `uri`, as wallets show them.
    pub fn tokenize(
        &self,
        creator: &Pubkey,
        keys: &ModelKeys,
        name: &str,
        symbol: &str,
        uri: &str,
    ) -> Instruction {
        instruction(
            acc::TokenizeModel {
                creator: *creator,
                config: config_pda(),
                model: keys.model,
                pool: keys.pool,
                mint: keys.mint,
                pool_token_vault: keys.pool_token_vault,
                pool_quote_vault: keys.pool_quote_vault,
                vault_authority: keys.vault_authority,
                vault: keys.vault,
                usdc_mint: self.usdc_mint,
                token_program: TOKEN_2022,
                usdc_token_program: self.usdc_token_program,
                associated_token_program: spl_associated_token_account_interface::program::ID,
                system_program: anchor_lang::system_program::ID,
            },
            ix::TokenizeModel {
                name: name.to_string(),
                symbol: symbol.to_string(),
                uri: uri.to_string(),
            },
        )
    }

    /// The model-token account of `owner` (Token-2022).
    pub fn token_account(&self, keys: &ModelKeys, owner: &Pubkey) -> Pubkey {
        ata(owner, &keys.mint, &TOKEN_2022)
    }

    /// The USDC account of `owner`.
    pub fn usdc_account(&self, owner: &Pubkey) -> Pubkey {
        ata(owner, &self.usdc_mint, &self.usdc_token_program)
    }

    /// Creates the USDC account of `owner` unless it exists (`payer` pays the rent).
    pub fn create_usdc_account(&self, payer: &Pubkey, owner: &Pubkey) -> Instruction {
        spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
            payer,
            owner,
            &self.usdc_mint,
            &self.usdc_token_program,
        )
    }

    /// Creates `owner`'s account of the model's token unless it exists (`payer` pays the rent).
    pub fn create_token_account(
        &self,
        payer: &Pubkey,
        keys: &ModelKeys,
        owner: &Pubkey,
    ) -> Instruction {
        spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
            payer, owner, &keys.mint, &TOKEN_2022,
        )
    }

    /// A holder burning `amount` of the model tokens they hold (signed by `owner`).
    pub fn burn_tokens(&self, keys: &ModelKeys, owner: &Pubkey, amount: u64) -> Instruction {
        spl_token_2022_interface::instruction::burn_checked(
            &TOKEN_2022,
            &self.token_account(keys, owner),
            &keys.mint,
            owner,
            &[],
            amount,
            model_vault::constants::MODEL_TOKEN_DECIMALS,
        )
        .expect("burn_checked takes these accounts")
    }

    pub fn buy(
        &self,
        keys: &ModelKeys,
        buyer: &Pubkey,
        buyer_usdc: &Pubkey,
        buyer_tokens: &Pubkey,
        usdc_in: u64,
        min_tokens_out: u64,
    ) -> Instruction {
        instruction(
            acc::Buy {
                buyer: *buyer,
                market: self.market(keys),
                buyer_usdc: *buyer_usdc,
                buyer_tokens: *buyer_tokens,
            },
            ix::Buy {
                usdc_in,
                min_tokens_out,
            },
        )
    }

    pub fn sell(
        &self,
        keys: &ModelKeys,
        seller: &Pubkey,
        seller_tokens: &Pubkey,
        seller_usdc: &Pubkey,
        tokens_in: u64,
        min_usdc_out: u64,
    ) -> Instruction {
        instruction(
            acc::Sell {
                seller: *seller,
                market: self.market(keys),
                seller_tokens: *seller_tokens,
                seller_usdc: *seller_usdc,
            },
            ix::Sell {
                tokens_in,
                min_usdc_out,
            },
        )
    }

    /// Permissionless: any fee payer may crank it.
    pub fn buyback_and_burn(&self, keys: &ModelKeys) -> Instruction {
        instruction(
            acc::BuybackAndBurn {
                market: self.market(keys),
                vault_authority: keys.vault_authority,
                vault: keys.vault,
                treasury_usdc: self.treasury_usdc,
            },
            ix::BuybackAndBurn {},
        )
    }

    pub fn claim_creator_revenue(
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
                usdc_mint: self.usdc_mint,
                usdc_token_program: self.usdc_token_program,
            },
            ix::ClaimCreatorRevenue {},
        )
    }

    /// Signed by the treasury owner.
    pub fn release_held_revenue(&self, keys: &ModelKeys, amount: u64) -> Instruction {
        instruction(
            acc::ReleaseHeldRevenue {
                treasury: self.treasury,
                config: config_pda(),
                model: keys.model,
                vault_authority: keys.vault_authority,
                vault: keys.vault,
                treasury_usdc: self.treasury_usdc,
                usdc_mint: self.usdc_mint,
                usdc_token_program: self.usdc_token_program,
            },
            ix::ReleaseHeldRevenue { amount },
        )
    }
}
