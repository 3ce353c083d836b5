//! The accounts every pool trade needs, shared by `buy`, `sell` and `buyback_and_burn`.

use anchor_lang::prelude::*;
use anchor_spl::{
    token_2022::Token2022,
    token_interface::{Mint, TokenAccount, TokenInterface},
};

use crate::{checks, constants::POOL_SEED, error::ModelVaultError, state::*};
// Named only by the constraints kept for the IDL (see `checks`).
#[cfg(feature = "idl-build")]
use crate::constants::{CONFIG_SEED, MODEL_SEED};

// The PDA and associated-account constraints are checked by `Market::check` (see `checks`);
// Anchor keeps them only to describe the addresses in the IDL.
#[derive(Accounts)]
pub struct Market<'info> {
    #[cfg_attr(feature = "idl-build", account(seeds = [CONFIG_SEED], bump = config.bump))]
    pub config: Box<Account<'info, Config>>,
    /// Checked first, so a foreign mint is named as such rather than as a wrong vault.
    #[account(address = config.usdc_mint, mint::token_program = usdc_token_program)]
    pub usdc_mint: Box<InterfaceAccount<'info, Mint>>,
    #[cfg_attr(
        feature = "idl-build",
        account(mut, dup, seeds = [MODEL_SEED, model.model_id.as_ref()], bump = model.bump)
    )]
    #[cfg_attr(not(feature = "idl-build"), account(mut, dup))]
    pub model: Box<Account<'info, Model>>,
    #[cfg_attr(
        feature = "idl-build",
        account(mut, dup, seeds = [POOL_SEED, model.key().as_ref()], bump = pool.bump, has_one = model, has_one = mint)
    )]
    #[cfg_attr(not(feature = "idl-build"), account(mut, dup))]
    pub pool: Box<Account<'info, Pool>>,
    /// The model token (Token-2022). Writable because a buyback burns from it.
    #[account(mut, dup, mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[cfg_attr(
        feature = "idl-build",
        account(
            mut,
            dup,
            associated_token::mint = mint,
            associated_token::authority = pool,
            associated_token::token_program = token_program
        )
    )]
    #[cfg_attr(not(feature = "idl-build"), account(mut, dup))]
    pub pool_token_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[cfg_attr(
        feature = "idl-build",
        account(
            mut,
            dup,
            associated_token::mint = usdc_mint,
            associated_token::authority = pool,
            associated_token::token_program = usdc_token_program
        )
    )]
    #[cfg_attr(not(feature = "idl-build"), account(mut, dup))]
    pub pool_quote_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Model tokens live on Token-2022 only.
    pub token_program: Program<'info, Token2022>,
    pub usdc_token_program: Interface<'info, TokenInterface>,
}

impl<'info> Market<'info> {
    /// What Anchor's constraints would check, cheaper, plus that none of the market's writable
    /// accounts is also one of the instruction's own `writable` ones.
    pub fn check(&self, writable: [Pubkey; 2]) -> Result<()> {
        checks::config(&self.config)?;
        checks::model(&self.model)?;
        let model = self.model.key();
        require!(self.model.is_tokenized(), ModelVaultError::NotTokenized);
        checks::pda(
            self.pool.key(),
            &[POOL_SEED, model.as_ref()],
            self.pool.bump,
        )?;
        require_keys_eq!(self.pool.model, model, ErrorCode::ConstraintHasOne);
        require_keys_eq!(self.pool.mint, self.mint.key(), ErrorCode::ConstraintHasOne);
        let pool = self.pool.key();
        checks::ata(
            &self.pool_token_vault,
            &pool,
            &self.mint.key(),
            self.token_program.key,
        )?;
        checks::ata(
            &self.pool_quote_vault,
            &pool,
            &self.usdc_mint.key(),
            self.usdc_token_program.key,
        )?;
        let [first, second] = writable;
        checks::distinct(&[
            model,
            pool,
            self.mint.key(),
            self.pool_token_vault.key(),
            self.pool_quote_vault.key(),
            first,
            second,
        ])
    }

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
