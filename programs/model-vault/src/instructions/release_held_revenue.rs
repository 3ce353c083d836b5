use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::{
    constants::{CONFIG_SEED, MODEL_SEED, VAULT_SEED},
    error::ModelVaultError,
    state::*,
    token_ops,
};

/// Before a model is tokenized the gateway's `payTo` is the treasury; this moves that held
/// revenue into the vault, where the next buyback splits it like any other revenue.
#[derive(Accounts)]
pub struct ReleaseHeldRevenue<'info> {
    pub treasury: Signer<'info>,
    #[account(seeds = [CONFIG_SEED], bump = config.bump, has_one = treasury)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [MODEL_SEED, model.model_id.as_ref()],
        bump = model.bump,
        constraint = model.is_tokenized() @ ModelVaultError::NotTokenized
    )]
    pub model: Box<Account<'info, Model>>,
    /// CHECK: PDA that owns the revenue vault; only its address matters here.
    #[account(seeds = [VAULT_SEED, model.key().as_ref()], bump = model.vault_bump)]
    pub vault_authority: UncheckedAccount<'info>,
    #[account(
        mut,
        associated_token::mint = usdc_mint,
        associated_token::authority = vault_authority,
        associated_token::token_program = usdc_token_program
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        token::mint = usdc_mint,
        token::authority = treasury,
        token::token_program = usdc_token_program
    )]
    pub treasury_usdc: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.usdc_mint, mint::token_program = usdc_token_program)]
    pub usdc_mint: Box<InterfaceAccount<'info, Mint>>,
    pub usdc_token_program: Interface<'info, TokenInterface>,
}

pub(crate) fn handler(ctx: Context<ReleaseHeldRevenue>, amount: u64) -> Result<()> {
    let a = ctx.accounts;
    a.config.require_active()?;
    require!(amount > 0, ModelVaultError::ZeroAmount);
    token_ops::transfer(
        &a.usdc_token_program.to_account_info(),
        &a.treasury_usdc.to_account_info(),
        &a.vault.to_account_info(),
        &a.usdc_mint,
        &a.treasury.to_account_info(),
        amount,
        &[],
    )?;
    accrue(&mut a.model.totals.held_released, amount)
}
