use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::{
    constants::{CONFIG_SEED, MODEL_SEED, VAULT_SEED},
    error::ModelVaultError,
    state::*,
    token_ops,
};

/// Allowed while paused: a pause must never lock creators out of money already theirs.
#[derive(Accounts)]
pub struct ClaimCreatorRevenue<'info> {
    pub creator: Signer<'info>,
    #[account(seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [MODEL_SEED, model.model_id.as_ref()],
        bump = model.bump,
        has_one = creator
    )]
    pub model: Box<Account<'info, Model>>,
    /// CHECK: PDA that owns the revenue vault; it holds no data and only signs.
    #[account(seeds = [VAULT_SEED, model.key().as_ref()], bump = model.vault_bump)]
    pub vault_authority: UncheckedAccount<'info>,
    #[account(
        mut,
        associated_token::mint = usdc_mint,
        associated_token::authority = vault_authority,
        associated_token::token_program = usdc_token_program
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Any USDC account the creator chooses.
    #[account(mut, token::mint = usdc_mint, token::token_program = usdc_token_program)]
    pub destination: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.usdc_mint, mint::token_program = usdc_token_program)]
    pub usdc_mint: Box<InterfaceAccount<'info, Mint>>,
    pub usdc_token_program: Interface<'info, TokenInterface>,
}

pub(crate) fn handler(ctx: Context<ClaimCreatorRevenue>) -> Result<()> {
    let a = ctx.accounts;
    let amount = a.model.creator_unclaimed;
    require!(amount > 0, ModelVaultError::NothingToClaim);
    with_vault_signer(&a.model, |signer| {
        token_ops::transfer(
            &a.usdc_token_program.to_account_info(),
            &a.vault.to_account_info(),
            &a.destination.to_account_info(),
            &a.usdc_mint,
            &a.vault_authority.to_account_info(),
            amount,
            signer,
        )
    })?;
    a.model.creator_unclaimed = 0;
    accrue(&mut a.model.totals.creator_claimed, amount)
}
