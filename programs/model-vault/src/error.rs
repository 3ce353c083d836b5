use anchor_lang::prelude::*;

use crate::curve::CurveError;

/// Every failure the program reports on its own (Anchor adds 6000 to the index).
#[error_code]
pub enum ModelVaultError {
    #[msg("the protocol is paused; only creator claims are allowed")]
    Paused,
    #[msg("configuration out of range (bps above 10000, zero curve or guard parameter, impact cap above twice the pool fee, or max_spend beyond the impact cap in a fresh pool)")]
    InvalidConfig,
    #[msg("slug must be 1..=64 bytes and model_id must be sha256(slug)")]
    InvalidModelId,
    #[msg("creator share exceeds the configured maximum")]
    CreatorShareTooHigh,
    #[msg("token name, symbol or uri too long")]
    MetadataTooLong,
    #[msg("model is already tokenized")]
    AlreadyTokenized,
    #[msg("model is not tokenized yet")]
    NotTokenized,
    #[msg("amount must be greater than zero")]
    ZeroAmount,
    #[msg("trade would return zero")]
    ZeroOutput,
    #[msg("output below the caller's minimum (slippage)")]
    SlippageExceeded,
    #[msg("the pool does not hold enough real USDC for this sale")]
    InsufficientLiquidity,
    #[msg("arithmetic overflow")]
    MathOverflow,
    #[msg("buyback cooldown has not elapsed")]
    BuybackCooldown,
    #[msg("buyback would move the price more than the price-impact cap")]
    PriceImpactTooHigh,
    #[msg("spot price deviates from the reference price by more than the bound")]
    PriceDeviationTooHigh,
    #[msg("no revenue to split and no buyback pending")]
    NothingToBuyBack,
    #[msg("nothing to claim")]
    NothingToClaim,
    #[msg("vault holds less than the revenue already reserved")]
    VaultUnderfunded,
    #[msg("only the program's upgrade authority may initialize it")]
    NotUpgradeAuthority,
    #[msg("the USDC mint has a Token-2022 extension the vault arithmetic cannot handle")]
    UnsupportedMint,
    #[msg("the account already exists")]
    AccountExists,
}

impl From<CurveError> for ModelVaultError {
    fn from(e: CurveError) -> Self {
        match e {
            CurveError::Overflow => Self::MathOverflow,
            CurveError::ZeroAmount => Self::ZeroAmount,
            CurveError::ZeroOutput => Self::ZeroOutput,
            CurveError::InsufficientLiquidity => Self::InsufficientLiquidity,
        }
    }
}

impl From<CurveError> for anchor_lang::error::Error {
    fn from(e: CurveError) -> Self {
        ModelVaultError::from(e).into()
    }
}
