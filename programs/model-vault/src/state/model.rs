use anchor_lang::prelude::*;

use crate::constants::MAX_SLUG_LEN;

/// A model offered through the gateway, PDA `["model", model_id]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct Model {
    /// sha256 of the slug: the id the gateway catalog refers to.
    pub model_id: [u8; 32],
    pub creator: Pubkey,
    #[max_len(MAX_SLUG_LEN)]
    pub slug: String,
    pub status: ModelStatus,
    pub creator_share_bps: u16,
    /// The model's Token-2022 mint (default until tokenized).
    pub mint: Pubkey,
    /// Swept revenue reserved for the creator and not yet claimed.
    pub creator_unclaimed: u64,
    /// Swept revenue reserved for buybacks and not yet spent (left over by the spend cap).
    pub buyback_pending: u64,
    pub last_buyback_slot: u64,
    pub totals: ModelTotals,
    pub bump: u8,
    pub vault_bump: u8,
    /// A share set by `update_model` after tokenization, applied by the next crank once it
    /// has split the revenue already in the vault at the old share.
    pub pending_creator_share_bps: Option<u16>,
}

#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelStatus {
    Registered,
    Tokenized,
}

/// Lifetime totals in base units, so anyone can reconcile the vault with its history:
/// `revenue_swept = protocol_fees + creator_accrued + buyback_accrued`, and the vault
/// balance is `creator_unclaimed + buyback_pending + revenue not yet swept`.
#[derive(
    AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub struct ModelTotals {
    pub revenue_swept: u64,
    pub protocol_fees: u64,
    pub creator_accrued: u64,
    pub creator_claimed: u64,
    pub buyback_accrued: u64,
    pub buyback_spent: u64,
    pub tokens_burned: u64,
    pub held_released: u64,
}

impl Model {
    /// The id a slug is registered under: `sha256(slug)`.
    pub fn id_for_slug(slug: &str) -> [u8; 32] {
        solana_sha256_hasher::hash(slug.as_bytes()).to_bytes()
    }

    pub fn is_tokenized(&self) -> bool {
        self.status == ModelStatus::Tokenized
    }
}

/// Runs `f` with the signer seeds of the PDA that owns `model`'s revenue vault.
pub fn with_vault_signer<R>(model: &Account<Model>, f: impl FnOnce(&[&[&[u8]]]) -> R) -> R {
    let key = model.key();
    let bump = [model.vault_bump];
    let seeds: &[&[u8]] = &[crate::constants::VAULT_SEED, key.as_ref(), &bump];
    f(&[seeds])
}

/// Adds `amount` to a running total, failing instead of wrapping.
pub fn accrue(total: &mut u64, amount: u64) -> Result<()> {
    *total = total
        .checked_add(amount)
        .ok_or(crate::error::ModelVaultError::MathOverflow)?;
    Ok(())
}
