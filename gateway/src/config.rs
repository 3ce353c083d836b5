//! `paywire gateway --config <file>`: one TOML file with the listen address, the chains it is
//! paid on, and the catalog. Every field is documented once, in `gateway/gateway.example.toml`
//! ([`EXAMPLE`], shown by `paywire gateway --help`); a test parses it with this parser.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use alloy::primitives::Address;
use serde::Deserialize;
use serde_with::{serde_as, DisplayFromStr};
use solana_pubkey::Pubkey;

use crate::{catalog::ModelEntry, GatewayError};

/// The commented example config with every field: the one place they are documented.
pub const EXAMPLE: &str = include_str!("../gateway.example.toml");

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
    /// Start a paid call's upstream request together with its settlement (nothing reaches the
    /// client before settlement confirms): time to first token is the longer of the two, not
    /// their sum. `false` settles first, then calls the upstream.
    #[serde(default = "yes")]
    pub settle_overlap: bool,
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

#[serde_as]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolanaPayments {
    pub rpc_url: String,
    #[serde(default = "solana_devnet")]
    pub network: String,
    #[serde_as(as = "DisplayFromStr")]
    pub usdc_mint: Pubkey,
    #[serde_as(as = "DisplayFromStr")]
    pub treasury: Pubkey,
    /// The built-in facilitator's fee payer (not needed with `facilitator_url`).
    pub fee_payer_keypair: Option<PathBuf>,
    /// The treasury owner's keypair, to send withdrawals from (without it they are refused).
    pub treasury_keypair: Option<PathBuf>,
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
    pub usdc: Address,
    #[serde(default = "usd_coin")]
    pub usdc_name: String,
    #[serde(default = "two")]
    pub usdc_version: String,
    pub treasury: Address,
    pub facilitator_private_key: Option<String>,
    /// The treasury's key, to send withdrawals from (without it they are refused).
    pub treasury_private_key: Option<String>,
}

impl BasePayments {
    /// The chain id in `network` (`eip155:<chain id>`).
    pub fn chain_id(&self) -> Result<u64, GatewayError> {
        self.network
            .strip_prefix("eip155:")
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| {
                GatewayError::Config(format!(
                    "[base] network {} is not eip155:<chain id>",
                    self.network
                ))
            })
    }
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
fn yes() -> bool {
    true
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
            settle_overlap: yes(),
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
        if let (Some(solana), Some(dir)) = (config.solana.as_mut(), path.parent()) {
            for keypair in [&mut solana.fee_payer_keypair, &mut solana.treasury_keypair]
                .into_iter()
                .flatten()
            {
                if keypair.is_relative() {
                    *keypair = dir.join(&*keypair);
                }
            }
        }
        Ok(config)
    }
}

impl SolanaPayments {
    /// Paid into `treasury`'s USDC account on the default network, with no fee payer (set
    /// `fee_payer_keypair` for the built-in facilitator); the caps and timeouts at their
    /// defaults.
    pub fn new(rpc_url: &str, usdc_mint: Pubkey, treasury: Pubkey) -> Self {
        SolanaPayments {
            rpc_url: rpc_url.to_string(),
            network: solana_devnet(),
            usdc_mint,
            treasury,
            fee_payer_keypair: None,
            treasury_keypair: None,
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
    pub fn new(rpc_url: &str, usdc: Address, treasury: Address) -> Self {
        BasePayments {
            rpc_url: rpc_url.to_string(),
            network: base_sepolia(),
            usdc,
            usdc_name: usd_coin(),
            usdc_version: two(),
            treasury,
            facilitator_private_key: None,
            treasury_private_key: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ProviderEntry;
    use testkit::{every_field, example_config::assert_sets_every_field};

    fn all_set(section: &str, table: &toml::Value, fields: &[&str]) {
        assert_sets_every_field("gateway.example.toml", section, table, fields);
    }

    #[test]
    fn a_malformed_address_is_refused_when_the_file_is_read() {
        for (good, bad, field) in [
            (
                "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
                "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1O",
                "usdc_mint",
            ),
            (
                "0x0000000000000000000000000000000000000001",
                "0x00000000000000000000000000000000000001",
                "treasury",
            ),
        ] {
            let broken = EXAMPLE.replacen(good, bad, 1);
            let error = GatewayConfig::from_toml(&broken).unwrap_err().to_string();
            assert!(error.contains(field), "{field}: {error}");
        }
    }

    #[test]
    fn the_example_config_parses_and_sets_every_field() {
        let config = GatewayConfig::from_toml(EXAMPLE).expect("the example parses");
        let table: toml::Value = toml::from_str(EXAMPLE).unwrap();
        all_set(
            "",
            &table,
            &every_field!(GatewayConfig {
                listen,
                public_url,
                database_url,
                quote_secret,
                facilitator_url,
                facilitator_key,
                quote_ttl_secs,
                upstream_timeout_secs,
                settle_overlap,
                rate_limit_per_minute,
                client_rate_limit_per_minute,
                solana,
                base,
                models,
            }),
        );
        all_set(
            "[solana] ",
            &table["solana"],
            &every_field!(SolanaPayments {
                rpc_url,
                network,
                usdc_mint,
                treasury,
                fee_payer_keypair,
                treasury_keypair,
                max_compute_unit_price,
                max_compute_units,
                confirm_timeout_secs,
                pay_to_cache_ms,
            }),
        );
        all_set(
            "[base] ",
            &table["base"],
            &every_field!(BasePayments {
                rpc_url,
                network,
                usdc,
                usdc_name,
                usdc_version,
                treasury,
                facilitator_private_key,
                treasury_private_key,
            }),
        );
        all_set(
            "[[models]] ",
            &table["models"][0],
            &every_field!(ModelEntry {
                slug,
                input_per_mtok,
                output_per_mtok,
                floor,
                max_tokens,
                description,
                creator,
                providers,
            }),
        );
        all_set(
            "[[models.providers]] ",
            &table["models"][0]["providers"][0],
            &every_field!(ProviderEntry {
                name,
                base_url,
                api_key_env,
                model,
                input_cost_per_mtok,
                output_cost_per_mtok,
            }),
        );

        // The defaults it states are the parser's.
        let defaults = GatewayConfig::new(default_listen(), "");
        assert_eq!(config.listen, defaults.listen);
        assert_eq!(config.quote_ttl_secs, defaults.quote_ttl_secs);
        assert_eq!(config.upstream_timeout_secs, defaults.upstream_timeout_secs);
        assert_eq!(config.rate_limit_per_minute, defaults.rate_limit_per_minute);
        assert_eq!(
            config.client_rate_limit_per_minute,
            defaults.client_rate_limit_per_minute
        );
        let solana = config.solana.unwrap();
        let solana_defaults = SolanaPayments::new("", Pubkey::default(), Pubkey::default());
        assert_eq!(
            solana.max_compute_unit_price,
            solana_defaults.max_compute_unit_price
        );
        assert_eq!(solana.max_compute_units, solana_defaults.max_compute_units);
        assert_eq!(
            solana.confirm_timeout_secs,
            solana_defaults.confirm_timeout_secs
        );
        assert_eq!(solana.pay_to_cache_ms, solana_defaults.pay_to_cache_ms);
        let base = config.base.unwrap();
        let base_defaults = BasePayments::new("", Address::ZERO, Address::ZERO);
        assert_eq!(base.usdc_name, base_defaults.usdc_name);
        assert_eq!(base.usdc_version, base_defaults.usdc_version);
    }
}
