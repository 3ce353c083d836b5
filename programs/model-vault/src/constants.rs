//! Seeds and limits shared by the instructions and by off-chain clients.

pub const CONFIG_SEED: &[u8] = b"config";
pub const MODEL_SEED: &[u8] = b"model";
pub const VAULT_SEED: &[u8] = b"vault";
pub const POOL_SEED: &[u8] = b"pool";
pub const MINT_SEED: &[u8] = b"mint";

/// Basis-point denominator for every share, fee and guard expressed in bps.
pub const BPS_DENOMINATOR: u16 = 10_000;

/// Model tokens use the same precision as USDC so prices read naturally.
pub const MODEL_TOKEN_DECIMALS: u8 = 6;

pub const MAX_SLUG_LEN: usize = 64;
pub const MAX_NAME_LEN: usize = 32;
pub const MAX_SYMBOL_LEN: usize = 10;
pub const MAX_URI_LEN: usize = 200;
