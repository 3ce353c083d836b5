//! The accounts every pool trade needs, shared by `buy`, `sell` and `buyback_and_burn`.

use anchor_lang::prelude::*;
use anchor_spl::{
    token_2022::Token2022,
    token_interface::{Mint, TokenAccount, TokenInterface},
};

use crate::{
    constants::{CONFIG_SEED, MODEL_SEED, POOL_SEED},
    error::ModelVaultError,
    state::*,
};

#[derive(Accounts)]
pub struct Market<'info> {
    #[account(seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    /// Checked first, so a foreign mint is named as such rather than as a wrong vault.
    #[account(address = config.usdc_mint, mint::token_program = usdc_token_program)]
    pub usdc_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [MODEL_SEED, model.model_id.as_ref()],
        bump = model.bump,
        constraint = model.is_tokenized() @ ModelVaultError::NotTokenized
    )]
    pub model: Box<Account<'info, Model>>,
    #[account(
        mut,
        seeds = [POOL_SEED, model.key().as_ref()],
        bump = pool.bump,
        has_one = model,
        has_one = mint
    )]
    pub pool: Box<Account<'info, Pool>>,
    /// The model token (Token-2022). Writable because a buyback burns from it.
    #[account(mut, mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        associated_token::mint = mint,
        associated_token::authority = pool,
        associated_token::token_program = token_program
    )]
    pub pool_token_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        associated_token::mint = usdc_mint,
        associated_token::authority = pool,
        associated_token::token_program = usdc_token_program
    )]
    pub pool_quote_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Model tokens live on Token-2022 only.
    pub token_program: Program<'info, Token2022>,
    pub usdc_token_program: Interface<'info, TokenInterface>,
}

impl<'info> Market<'info> {
    /// Refuses when paused, then records the pre-trade price for this slot.
    pub fn open(&mut self) -> Result<u64> {
        self.config.require_active()?;
        let slot = Clock::get()?.slot;
        self.pool
            .touch(slot, self.config.params.guard.reference_window_slots)?;
        Ok(slot)
    }

    /// Runs `f` with the pool PDA's signer seeds.
    pub fn with_pool_signer<R>(&self, f: impl FnOnce(&[&[&[u8]]]) -> R) -> R {
        let model = self.model.key();
        let bump = [self.pool.bump];
        let seeds: &[&[u8]] = &[POOL_SEED, model.as_ref(), &bump];
        f(&[seeds])
    }
}
