use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::{checks, error::ModelVaultError, state::*, token_ops};
// Named only by the constraints kept for the IDL (see `checks`).
#[cfg(feature = "idl-build")]
use crate::constants::{CONFIG_SEED, MODEL_SEED, VAULT_SEED};

/// Allowed while paused: a pause must never lock creators out of money already theirs. The
/// addresses are checked by `check` (see `checks`); the constraints below describe them in the IDL.
#[derive(Accounts)]
pub struct ClaimCreatorRevenue<'info> {
    pub creator: Signer<'info>,
    #[cfg_attr(feature = "idl-build", account(seeds = [CONFIG_SEED], bump = config.bump))]
    pub config: Box<Account<'info, Config>>,
    #[cfg_attr(
        feature = "idl-build",
        account(mut, dup, seeds = [MODEL_SEED, model.model_id.as_ref()], bump = model.bump, has_one = creator)
    )]
    #[cfg_attr(not(feature = "idl-build"), account(mut, dup))]
    pub model: Box<Account<'info, Model>>,
    /// CHECK: PDA that owns the revenue vault; it holds no data and only signs.
    #[cfg_attr(
        feature = "idl-build",
        account(seeds = [VAULT_SEED, model.key().as_ref()], bump = model.vault_bump)
    )]
    pub vault_authority: UncheckedAccount<'info>,
    #[cfg_attr(
        feature = "idl-build",
        account(
            mut,
            dup,
            associated_token::mint = usdc_mint,
            associated_token::authority = vault_authority,
            associated_token::token_program = usdc_token_program
        )
    )]
    #[cfg_attr(not(feature = "idl-build"), account(mut, dup))]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Any USDC account the creator chooses.
    #[account(mut, dup, token::mint = usdc_mint, token::token_program = usdc_token_program)]
    pub destination: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.usdc_mint, mint::token_program = usdc_token_program)]
    pub usdc_mint: Box<InterfaceAccount<'info, Mint>>,
    pub usdc_token_program: Interface<'info, TokenInterface>,
}

impl ClaimCreatorRevenue<'_> {
    fn check(&self) -> Result<()> {
        checks::config(&self.config)?;
        checks::model(&self.model)?;
        require_keys_eq!(
            self.model.creator,
            self.creator.key(),
            ErrorCode::ConstraintHasOne
        );
        checks::vault_authority(&self.vault_authority, &self.model)?;
        checks::ata(
            &self.vault,
            self.vault_authority.key,
            &self.usdc_mint.key(),
            self.usdc_token_program.key,
        )?;
        checks::distinct(&[self.model.key(), self.vault.key(), self.destination.key()])
    }
}

pub(crate) fn handler(ctx: Context<ClaimCreatorRevenue>) -> Result<()> {
    let a = ctx.accounts;
    a.check()?;
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
