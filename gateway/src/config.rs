//! `paywire gateway --config <file>`: one TOML file with the listen address, the chains it is
//! paid on, and the catalog.
//!
//! ```toml
//! listen = "127.0.0.1:8402"
//! public_url = "http://127.0.0.1:8402"       # how clients reach it (402 resource URLs)
//! database_url = "postgres://…"               # or DATABASE_URL
//! quote_secret = "…"                          # shared by every gateway process
//! # facilitator_url = "https://…/facilitator"  # a remote facilitator instead of the built-in one
//! # facilitator_key = "…"   # serves /facilitator/* to callers presenting it (sent to a remote one)
//! quote_ttl_secs = 300
//! rate_limit_per_minute = 120                 # paid calls per payer
//! client_rate_limit_per_minute = 600          # requests per client IP, paid or not
//!
//! [solana]
//! rpc_url = "http://127.0.0.1:8899"
//! network = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
//! usdc_mint = "…"
//! treasury = "…"                              # owner of the treasury's USDC account
//! fee_payer_keypair = "facilitator.json"      # Solana CLI keypair file
//!
//! [base]
//! rpc_url = "http://127.0.0.1:8545"
//! network = "eip155:84532"
//! usdc = "0x…"
//! treasury = "0x…"
//! facilitator_private_key = "0x…"             # or PAYWIRE_BASE_FACILITATOR_KEY
//!
//! [[models]]
//! slug = "paywire/demo"
//! input_per_mtok = "0.50"
//! output_per_mtok = "1.50"
//! floor = "0.001"
//! max_tokens = 512
//! [[models.providers]]
//! name = "local"
//! base_url = "http://127.0.0.1:9000/v1"
//! model = "demo"
//! input_cost_per_mtok = "0.10"
//! output_cost_per_mtok = "0.30"
//! ```

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::{catalog::ModelEntry, GatewayError};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    pub public_url: Option<String>,
    pub database_url: Option<String>,
    pub quote_secret: Option<String>,
    /// A remote x402 facilitator (its base URL, e.g. `https://x402.example/facilitator`)
    /// instead of the built-in one; then no keys are needed here.
    pub facilitator_url: Option<String>,
    /// The operator's key to the facilitator API: without it `/facilitator/*` is not served
    /// (it would pay fees for anyone); with `facilitator_url`, it is sent to the remote one.
    pub facilitator_key: Option<String>,
    #[serde(default = "five_minutes")]
    pub quote_ttl_secs: u64,
    #[serde(default = "two_minutes")]
    pub upstream_timeout_secs: u64,
    /// Paid calls per payer per minute.
    #[serde(default = "per_minute")]
    pub rate_limit_per_minute: u32,
    /// Requests per client IP per minute on every route but health and metrics.
    #[serde(default = "client_per_minute")]
    pub client_rate_limit_per_minute: u32,
    pub solana: Option<SolanaPayments>,
    pub base: Option<BasePayments>,
    #[serde(default)]
    pub models: Vec<ModelEntry>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolanaPayments {
    pub rpc_url: String,
    #[serde(default = "solana_devnet")]
    pub network: String,
    pub usdc_mint: String,
    pub treasury: String,
    /// The built-in facilitator's fee payer (not needed with `facilitator_url`).
    pub fee_payer_keypair: Option<PathBuf>,
    /// Highest compute-unit price a payment may set, in microlamports. With the unit cap it
    /// bounds the fee we pay per payment (default: 0.000003 SOL of priority fee at most).
    #[serde(default = "cu_price_cap")]
    pub max_compute_unit_price: u64,
    /// Highest compute-unit limit a payment may set: a transfer, a memo and the Lighthouse
    /// assertions wallets add use well under it.
    #[serde(default = "cu_cap")]
    pub max_compute_units: u32,
    /// How long a paying client waits for its settlement before it is told (202) to come
    /// back with the same payment for the answer; settlement itself goes on until the
    /// payment lands or can no longer land.
    #[serde(default = "thirty")]
    pub confirm_timeout_secs: u64,
    /// How long a model's payTo is cached.
    #[serde(default = "two_seconds")]
    pub pay_to_cache_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasePayments {
    pub rpc_url: String,
    #[serde(default = "base_sepolia")]
    pub network: String,
    pub usdc: String,
    #[serde(default = "usd_coin")]
    pub usdc_name: String,
    #[serde(default = "two")]
    pub usdc_version: String,
    pub treasury: String,
    pub facilitator_private_key: Option<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8402))
}
fn five_minutes() -> u64 {
    300
}
fn two_minutes() -> u64 {
    120
}
fn per_minute() -> u32 {
    120
}
fn solana_devnet() -> String {
    "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1".into()
}
fn client_per_minute() -> u32 {
    600
}
fn cu_price_cap() -> u64 {
    50_000
}
fn cu_cap() -> u32 {
    60_000
}
fn thirty() -> u64 {
    30
}
fn two_seconds() -> u64 {
    2_000
}
fn base_sepolia() -> String {
    "eip155:84532".into()
}
fn usd_coin() -> String {
    "USD Coin".into()
}
fn two() -> String {
    "2".into()
}

impl GatewayConfig {
    /// Listening on `listen`, quotes signed with `quote_secret`, every other setting at its
    /// default: no chain and no models yet.
    pub fn new(listen: SocketAddr, quote_secret: &str) -> Self {
        GatewayConfig {
            listen,
            public_url: None,
            database_url: None,
            quote_secret: Some(quote_secret.to_string()),
            facilitator_url: None,
            facilitator_key: None,
            quote_ttl_secs: five_minutes(),
            upstream_timeout_secs: two_minutes(),
            rate_limit_per_minute: per_minute(),
            client_rate_limit_per_minute: client_per_minute(),
            solana: None,
            base: None,
            models: Vec::new(),
        }
    }

    pub fn from_toml(text: &str) -> Result<Self, GatewayError> {
        toml::from_str(text).map_err(|e| GatewayError::Config(e.to_string()))
    }

    pub fn from_file(path: &Path) -> Result<Self, GatewayError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GatewayError::Config(format!("reading {}: {e}", path.display())))?;
        let mut config: GatewayConfig = toml::from_str(&text)
            .map_err(|e| GatewayError::Config(format!("{}: {e}", path.display())))?;
        // Relative keypair paths are relative to the config file.
        if let (Some(keypair), Some(dir)) = (
            config
                .solana
                .as_mut()
                .and_then(|s| s.fee_payer_keypair.as_mut()),
            path.parent(),
        ) {
            if keypair.is_relative() {
                *keypair = dir.join(&*keypair);
            }
        }
        Ok(config)
    }
}

impl SolanaPayments {
    /// Paid into `treasury`'s USDC account on the default network, with no fee payer (set
    /// `fee_payer_keypair` for the built-in facilitator); the caps and timeouts at their
    /// defaults.
    pub fn new(rpc_url: &str, usdc_mint: &str, treasury: &str) -> Self {
        SolanaPayments {
            rpc_url: rpc_url.to_string(),
            network: solana_devnet(),
            usdc_mint: usdc_mint.to_string(),
            treasury: treasury.to_string(),
            fee_payer_keypair: None,
            max_compute_unit_price: cu_price_cap(),
            max_compute_units: cu_cap(),
            confirm_timeout_secs: thirty(),
            pay_to_cache_ms: two_seconds(),
        }
    }
}

impl BasePayments {
    /// Paid to `treasury` in the USDC at `usdc` on the default network (EIP-712 domain
    /// `USD Coin`, version `2`), with no facilitator key (set `facilitator_private_key` for the
    /// built-in facilitator).
    pub fn new(rpc_url: &str, usdc: &str, treasury: &str) -> Self {
        BasePayments {
            rpc_url: rpc_url.to_string(),
            network: base_sepolia(),
            usdc: usdc.to_string(),
            usdc_name: usd_coin(),
            usdc_version: two(),
            treasury: treasury.to_string(),
            facilitator_private_key: None,
        }
    }
}

/// Reads a Solana CLI keypair file (a JSON array of 64 bytes).
pub fn read_keypair(path: &Path) -> Result<solana_keypair::Keypair, GatewayError> {
    solana_keypair::read_keypair_file(path).map_err(|e| {
        GatewayError::Config(format!(
            "cannot read the keypair file {}: {e}",
            path.display()
        ))
    })
}

