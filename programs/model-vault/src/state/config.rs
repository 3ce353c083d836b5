use anchor_lang::prelude::*;

use crate::{
    constants::BPS_DENOMINATOR,
    curve::{self, Reserves},
    error::ModelVaultError,
};

/// Protocol-wide settings, PDA `["config"]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct Config {
    pub admin: Pubkey,
    /// The only quote mint the program accepts (USDC).
    pub usdc_mint: Pubkey,
    /// Owner of the treasury's USDC account: receives protocol fees and, before a model is
    /// tokenized, the revenue that is later released into the model's vault.
    pub treasury: Pubkey,
    pub params: ConfigParams,
    pub paused: bool,
    pub bump: u8,
}

/// Everything the admin may tune.
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigParams {
    /// Share of swept revenue sent to the treasury.
    pub protocol_fee_bps: u16,
    /// Upper bound on what a creator may set as their own share.
    pub max_creator_share_bps: u16,
    pub curve: CurveParams,
    pub guard: BuybackGuard,
}

/// Pool parameters applied when a model is tokenized.
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub struct CurveParams {
    /// Virtual USDC reserve (base units) that prices the token before any purchase.
    pub virtual_quote: u64,
    /// Fixed token supply (base units) minted into the pool.
    pub token_supply: u64,
    /// Trade fee kept by the pool.
    pub fee_bps: u16,
}

/// The rules `buyback_and_burn` enforces so nobody can make the vault overpay.
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuybackGuard {
    /// Minimum slots between two buybacks of one model.
    pub cooldown_slots: u64,
    /// Most USDC (base units) one buyback may spend.
    pub max_spend: u64,
    /// Largest allowed rise of the spot price caused by one buyback.
    pub max_price_impact_bps: u16,
    /// Largest allowed distance between spot and reference price before a buyback.
    pub max_deviation_bps: u16,
    /// Slots over which the reference price catches up with the spot price.
    pub reference_window_slots: u64,
}

impl ConfigParams {
    pub fn validate(&self) -> Result<()> {
        let bps_ok = |b: u16| b <= BPS_DENOMINATOR;
        let valid = bps_ok(self.protocol_fee_bps)
            && bps_ok(self.max_creator_share_bps)
            && u32::from(self.protocol_fee_bps) + u32::from(self.max_creator_share_bps)
                <= u32::from(BPS_DENOMINATOR)
            && self.curve.fee_bps < BPS_DENOMINATOR
            && self.curve.virtual_quote > 0
            && self.curve.token_supply > 0
            && self.guard.max_spend > 0
            && self.guard.max_price_impact_bps > 0
            && self.guard.max_deviation_bps > 0
            && self.guard.reference_window_slots > 0
            // A same-slot sandwich pays the pool fee twice; a crank lifting the price by no
            // more than that cannot pay for it.
            && u32::from(self.guard.max_price_impact_bps) <= 2 * u32::from(self.curve.fee_bps)
            && self.max_spend_fits_a_fresh_pool();
        require!(valid, ModelVaultError::InvalidConfig);
        Ok(())
    }

    /// A full `max_spend` stays within the impact cap even in a pool just tokenized (the
    /// shallowest a pool gets), so a crank at an undisturbed price never has to shrink.
    fn max_spend_fits_a_fresh_pool(&self) -> bool {
        let fresh = Reserves {
            virtual_quote: self.curve.virtual_quote,
            real_quote: 0,
            tokens: self.curve.token_supply,
        };
        let Ok(spot) = fresh.spot_price() else {
            return false;
        };
        let (fee, cap, spend) = (
            self.curve.fee_bps,
            self.guard.max_price_impact_bps,
            self.guard.max_spend,
        );
        let limit = curve::SpendLimit {
            anchor: spot,
            cap_bps: cap,
            upper: spend,
        };
        curve::max_spend_within(&fresh, fee, &limit) == Ok(spend)
    }
}

impl Config {
    pub fn require_active(&self) -> Result<()> {
        require!(!self.paused, ModelVaultError::Paused);
        Ok(())
    }
}
