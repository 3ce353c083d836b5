use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::{checks, error::ModelVaultError, state::*, token_ops};
// Named only by the constraints kept for the IDL (see `checks`).
#[cfg(feature = "idl-build")]
use crate::constants::{CONFIG_SEED, MODEL_SEED, VAULT_SEED};

/// Before a model is tokenized the gateway's `payTo` is the treasury; this moves that held
/// revenue into the vault, where the next buyback splits it like any other revenue. The
/// addresses are checked by `check` (see `checks`); the constraints below describe them in the IDL.
#[derive(Accounts)]
pub struct ReleaseHeldRevenue<'info> {
    pub treasury: Signer<'info>,
    #[cfg_attr(feature = "idl-build", account(seeds = [CONFIG_SEED], bump = config.bump, has_one = treasury))]
    pub config: Box<Account<'info, Config>>,
    #[cfg_attr(
        feature = "idl-build",
        account(mut, dup, seeds = [MODEL_SEED, model.model_id.as_ref()], bump = model.bump)
    )]
    #[cfg_attr(not(feature = "idl-build"), account(mut, dup))]
    pub model: Box<Account<'info, Model>>,
    /// CHECK: PDA that owns the revenue vault; only its address matters here.
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
    #[account(
        mut,
        dup,
        token::mint = usdc_mint,
        token::token_program = usdc_token_program
    )]
    pub treasury_usdc: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.usdc_mint, mint::token_program = usdc_token_program)]
    pub usdc_mint: Box<InterfaceAccount<'info, Mint>>,
    pub usdc_token_program: Interface<'info, TokenInterface>,
}

impl ReleaseHeldRevenue<'_> {
    fn check(&self) -> Result<()> {
        checks::config(&self.config)?;
        require_keys_eq!(
            self.config.treasury,
            self.treasury.key(),
            ErrorCode::ConstraintHasOne
        );
        checks::model(&self.model)?;
        require!(self.model.is_tokenized(), ModelVaultError::NotTokenized);
        checks::vault_authority(&self.vault_authority, &self.model)?;
        checks::ata(
            &self.vault,
            self.vault_authority.key,
            &self.usdc_mint.key(),
            self.usdc_token_program.key,
        )?;
        require_keys_eq!(
            self.treasury_usdc.owner,
            self.treasury.key(),
            ErrorCode::ConstraintTokenOwner
        );
        checks::distinct(&[self.model.key(), self.vault.key(), self.treasury_usdc.key()])
    }
}

pub(crate) fn handler(ctx: Context<ReleaseHeldRevenue>, amount: u64) -> Result<()> {
    let a = ctx.accounts;
    a.check()?;
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
