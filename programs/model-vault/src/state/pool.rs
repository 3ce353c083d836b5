use anchor_lang::prelude::*;

use crate::curve::{self, CurveResult, Reserves};

/// The model token's market, PDA `["pool", model]`. The PDA also owns the pool's two token
/// accounts. Reserves are tracked here, not read from balances, so donations cannot move
/// the price.
#[account]
#[derive(InitSpace, Debug)]
pub struct Pool {
    pub model: Pubkey,
    pub mint: Pubkey,
    pub virtual_quote: u64,
    pub real_quote: u64,
    pub token_reserve: u64,
    pub fee_bps: u16,
    /// Slow-moving price (scaled by `curve::PRICE_SCALE`) the buyback compares spot with.
    pub reference_price: u128,
    /// Slot of the last reference update; it changes at most once per slot.
    pub reference_slot: u64,
    pub bump: u8,
    pub mint_bump: u8,
}

impl Pool {
    pub fn reserves(&self) -> Reserves {
        Reserves {
            virtual_quote: self.virtual_quote,
            real_quote: self.real_quote,
            tokens: self.token_reserve,
        }
    }

    pub fn set_reserves(&mut self, r: Reserves) {
        self.real_quote = r.real_quote;
        self.token_reserve = r.tokens;
    }

    /// First touch in a slot: fold the pre-trade spot price into the reference price.
    pub fn touch(&mut self, slot: u64, window_slots: u64) -> CurveResult<()> {
        if slot > self.reference_slot {
            let spot = self.reserves().spot_price()?;
            self.reference_price = curve::next_reference(
                self.reference_price,
                spot,
                slot - self.reference_slot,
                window_slots,
            );
            self.reference_slot = slot;
        }
        Ok(())
    }
}
