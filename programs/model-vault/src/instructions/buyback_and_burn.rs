use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenAccount;

use super::market::*;
// Named only by the constraints kept for the IDL (see `checks`).
#[cfg(feature = "idl-build")]
use crate::constants::VAULT_SEED;

use crate::{
    checks,
    constants::BPS_DENOMINATOR,
    curve::{self, CurveError},
    error::ModelVaultError,
    state::{accrue, with_vault_signer},
    token_ops,
};

/// Permissionless: no signer besides the fee payer of the transaction. The addresses are
/// checked by `check` (see `checks`); the constraints below describe them in the IDL.
#[derive(Accounts)]
pub struct BuybackAndBurn<'info> {
    pub market: Market<'info>,
    /// CHECK: PDA that owns the revenue vault; it holds no data and only signs.
    #[cfg_attr(
        feature = "idl-build",
        account(seeds = [VAULT_SEED, market.model.key().as_ref()], bump = market.model.vault_bump)
    )]
    pub vault_authority: UncheckedAccount<'info>,
    #[cfg_attr(
        feature = "idl-build",
        account(
            mut,
            dup,
            associated_token::mint = market.usdc_mint,
            associated_token::authority = vault_authority,
            associated_token::token_program = market.usdc_token_program
        )
    )]
    #[cfg_attr(not(feature = "idl-build"), account(mut, dup))]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[cfg_attr(
        feature = "idl-build",
        account(
            mut,
            dup,
            associated_token::mint = market.usdc_mint,
            associated_token::authority = market.config.treasury,
            associated_token::token_program = market.usdc_token_program
        )
    )]
    #[cfg_attr(not(feature = "idl-build"), account(mut, dup))]
    pub treasury_usdc: Box<InterfaceAccount<'info, TokenAccount>>,
}

impl BuybackAndBurn<'_> {
    fn check(&self) -> Result<()> {
        let market = &self.market;
        market.check([self.vault.key(), self.treasury_usdc.key()])?;
        checks::vault_authority(&self.vault_authority, &market.model)?;
        let usdc = market.usdc_mint.key();
        let usdc_program = market.usdc_token_program.key;
        checks::ata(&self.vault, self.vault_authority.key, &usdc, usdc_program)?;
        checks::ata(
            &self.treasury_usdc,
            &market.config.treasury,
            &usdc,
            usdc_program,
        )
    }
}

/// Newly arrived revenue and the part of it owed to the treasury.
struct Split {
    revenue: u64,
    protocol_fee: u64,
}

pub(crate) fn handler(ctx: Context<BuybackAndBurn>) -> Result<()> {
    let a = ctx.accounts;
    a.check()?;
    let guard = a.market.config.params.guard;
    let last = a.market.model.last_buyback_slot;
    let slot = Clock::get()?.slot;
    require!(
        last == 0 || slot >= last.saturating_add(guard.cooldown_slots),
        ModelVaultError::BuybackCooldown
    );
    a.market.open()?;
    let reserves = a.market.pool.reserves();
    let spot = reserves.spot_price()?;
    let reference = a.market.pool.reference_price;
    require!(
        curve::deviation_bps(spot, reference)? <= u128::from(guard.max_deviation_bps),
        ModelVaultError::PriceDeviationTooHigh
    );

    let split = split_new_revenue(a)?;
    let fee_bps = a.market.pool.fee_bps;
    let model = &mut a.market.model;
    // A share changed since the last crank applies from here on: what was just split arrived
    // under the old one.
    let new_share = model.pending_creator_share_bps.take();
    if let Some(share) = new_share {
        model.creator_share_bps = share;
    }
    require!(
        split.revenue > 0 || model.buyback_pending > 0 || new_share.is_some(),
        ModelVaultError::NothingToBuyBack
    );
    // The crank may lift the price at most the impact cap above the lower of spot and
    // reference, so a pump inside the deviation bound shrinks the buyback instead of selling
    // into it. Twice the pool fee bounds the cap whatever the config says: a same-slot
    // sandwich pays that fee twice and cannot gain more than the crank's lift.
    let cap = guard.max_price_impact_bps.min(fee_bps.saturating_mul(2));
    let spend = curve::max_spend_within(
        &reserves,
        fee_bps,
        &curve::SpendLimit {
            anchor: spot.min(reference),
            cap_bps: cap,
            upper: model.buyback_pending.min(guard.max_spend),
        },
    )?;
    if split.protocol_fee > 0 {
        with_vault_signer(model, |signer| {
            token_ops::transfer(
                &a.market.usdc_token_program.to_account_info(),
                &a.vault.to_account_info(),
                &a.treasury_usdc.to_account_info(),
                &a.market.usdc_mint,
                &a.vault_authority.to_account_info(),
                split.protocol_fee,
                signer,
            )
        })?;
    }

    // A spend too small to buy a single token unit, or none at all because the price already
    // stands at the cap, stays pending for a later crank; the split above is kept either way.
    let trade = match reserves.buy(spend, fee_bps) {
        Ok(trade) => trade,
        Err(CurveError::ZeroAmount | CurveError::ZeroOutput) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    // Holds by construction of `spend`; checked again because it is what the guard promises.
    let impact = curve::deviation_bps(trade.after.spot_price()?, spot)?;
    require!(
        impact <= u128::from(cap),
        ModelVaultError::PriceImpactTooHigh
    );
    let market = &a.market;
    with_vault_signer(&market.model, |signer| {
        token_ops::transfer(
            &market.usdc_token_program.to_account_info(),
            &a.vault.to_account_info(),
            &market.pool_quote_vault.to_account_info(),
            &market.usdc_mint,
            &a.vault_authority.to_account_info(),
            spend,
            signer,
        )
    })?;
    // The tokens bought never leave the pool's account: they are burned there.
    market.with_pool_signer(|signer| {
        token_ops::burn(
            &market.token_program.to_account_info(),
            &market.pool_token_vault.to_account_info(),
            &market.mint,
            &market.pool.to_account_info(),
            trade.amount_out,
            signer,
        )
    })?;

    let market = &mut a.market;
    market.pool.set_reserves(trade.after);
    let model = &mut market.model;
    model.buyback_pending -= spend;
    model.last_buyback_slot = slot;
    let totals = &mut model.totals;
    accrue(&mut totals.buyback_spent, spend)?;
    accrue(&mut totals.tokens_burned, trade.amount_out)
}

/// Divides what reached the vault since the last crank and books it on the model.
fn split_new_revenue(a: &mut BuybackAndBurn) -> Result<Split> {
    let fee_bps = a.market.config.params.protocol_fee_bps;
    let model = &mut a.market.model;
    let reserved = model
        .creator_unclaimed
        .checked_add(model.buyback_pending)
        .ok_or(ModelVaultError::MathOverflow)?;
    let revenue = a
        .vault
        .amount
        .checked_sub(reserved)
        .ok_or(ModelVaultError::VaultUnderfunded)?;
    let protocol_fee = curve::share_floor(revenue, fee_bps)?;
    // A share set under an older, lower fee is clamped so the parts never exceed the whole.
    let share_bps = model.creator_share_bps.min(BPS_DENOMINATOR - fee_bps);
    let creator = curve::share_floor(revenue, share_bps)?;
    let buyback = revenue - protocol_fee - creator;

    accrue(&mut model.creator_unclaimed, creator)?;
    accrue(&mut model.buyback_pending, buyback)?;
    let totals = &mut model.totals;
    accrue(&mut totals.revenue_swept, revenue)?;
    accrue(&mut totals.protocol_fees, protocol_fee)?;
    accrue(&mut totals.creator_accrued, creator)?;
    accrue(&mut totals.buyback_accrued, buyback)?;
    Ok(Split {
        revenue,
        protocol_fee,
    })
}
