//! model-vault: the on-chain half of paywire.
//!
//! A model is registered by its creator, and may be tokenized: a fixed-supply Token-2022
//! mint sold through the program's own constant-product pool. Paid calls for a tokenized
//! model send USDC to the model's revenue vault; `buyback_and_burn` (anyone may call it)
//! splits that revenue into the creator's share, the protocol fee and a buyback, buys the
//! model's token from the pool under guards against price manipulation, and burns it.

// Anchor's macros emit cfgs this crate does not declare.
#![allow(unexpected_cfgs)]

use anchor_lang::prelude::*;

mod checks;
pub mod constants;
mod create;
pub mod curve;
pub mod error;
mod instructions;
pub mod state;
mod token_ops;

pub use instructions::*;
pub use state::*;

declare_id!("2KL7N9uNqNkqZjbM4t2PbrYwe4sfTr91siimfA1RLT7H");

#[program]
pub mod model_vault {
    use super::*;

    /// Creates the protocol config. Run once, right after deployment.
    pub fn initialize(
        ctx: Context<Initialize>,
        treasury: Pubkey,
        params: ConfigParams,
    ) -> Result<()> {
        instructions::initialize::handler(ctx, treasury, params)
    }

    /// Admin only: change admin, treasury, parameters, or pause/unpause.
    pub fn update_config(ctx: Context<UpdateConfig>, update: ConfigUpdate) -> Result<()> {
        instructions::update_config::handler(ctx, update)
    }

    /// Registers a model under `model_id = sha256(slug)`; the signer becomes its creator.
    pub fn register_model(
        ctx: Context<RegisterModel>,
        model_id: [u8; 32],
        slug: String,
        creator_share_bps: u16,
    ) -> Result<()> {
        instructions::register_model::handler(ctx, model_id, slug, creator_share_bps)
    }

    /// Creator only: hand the model to a new creator or change the creator share.
    pub fn update_model(ctx: Context<UpdateModel>, update: ModelUpdate) -> Result<()> {
        instructions::update_model::handler(ctx, update)
    }

    /// Creator only: mint the model token, seed the pool and open the revenue vault.
    pub fn tokenize_model(
        ctx: Context<TokenizeModel>,
        name: String,
        symbol: String,
        uri: String,
    ) -> Result<()> {
        instructions::tokenize_model::handler(ctx, name, symbol, uri)
    }

    /// Buys model tokens with exactly `usdc_in`, receiving at least `min_tokens_out`.
    pub fn buy(ctx: Context<Buy>, usdc_in: u64, min_tokens_out: u64) -> Result<()> {
        instructions::buy::handler(ctx, usdc_in, min_tokens_out)
    }

    /// Sells exactly `tokens_in`, receiving at least `min_usdc_out`.
    pub fn sell(ctx: Context<Sell>, tokens_in: u64, min_usdc_out: u64) -> Result<()> {
        instructions::sell::handler(ctx, tokens_in, min_usdc_out)
    }

    /// Permissionless: split new vault revenue, buy the model token back and burn it.
    pub fn buyback_and_burn(ctx: Context<BuybackAndBurn>) -> Result<()> {
        instructions::buyback_and_burn::handler(ctx)
    }

    /// Creator only: withdraw the creator share reserved by earlier buybacks.
    pub fn claim_creator_revenue(ctx: Context<ClaimCreatorRevenue>) -> Result<()> {
        instructions::claim_creator_revenue::handler(ctx)
    }

    /// Treasury only: move revenue held before tokenization into the model's vault.
    pub fn release_held_revenue(ctx: Context<ReleaseHeldRevenue>, amount: u64) -> Result<()> {
        instructions::release_held_revenue::handler(ctx, amount)
    }
}
