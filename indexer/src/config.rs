//! `paywire indexer --config <file>`: what to follow and where to write it, as TOML.
//!
//! ```toml
//! database_url = "postgres://postgres@127.0.0.1:5432/postgres"   # or DATABASE_URL
//!
//! [solana]
//! rpc_url = "http://127.0.0.1:8899"
//! grpc_url = "http://127.0.0.1:10000"
//! treasury_usdc = "…"            # the treasury's USDC account
//! # program_id = "…"             # default: model-vault's id from the committed IDL
//! # accounts = ["…"]             # anything else to follow
//! # start_slot = 0               # first slot, while no cursor is stored (default: 0)
//!
//! [base]
//! rpc_url = "http://127.0.0.1:8545"
//! usdc = "0x…"
//! treasury = "0x…"
//! # confirmations = 12  poll_interval_ms = 1000  max_block_range = 2000  start_block = 0
//! ```

use std::{path::Path, time::Duration};

use serde::Deserialize;

use crate::{base::BaseConfig, solana::follower::FollowerConfig, IndexerError, Metrics};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexerConfig {
    pub database_url: Option<String>,
    pub solana: Option<SolanaSection>,
    pub base: Option<BaseSection>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolanaSection {
    pub rpc_url: String,
    pub grpc_url: String,
    #[serde(default = "model_vault_program")]
    pub program_id: String,
    pub treasury_usdc: String,
    #[serde(default)]
    pub accounts: Vec<String>,
    pub start_slot: Option<u64>,
    #[serde(default = "solana_cursor")]
    pub cursor: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseSection {
    pub rpc_url: String,
    pub usdc: String,
    #[serde(default = "six")]
    pub usdc_decimals: u8,
    pub treasury: String,
    #[serde(default)]
    pub accounts: Vec<String>,
    pub start_block: Option<u64>,
    #[serde(default = "twelve")]
    pub confirmations: u64,
    #[serde(default = "one_second")]
    pub poll_interval_ms: u64,
    #[serde(default = "two_thousand")]
    pub max_block_range: u64,
    #[serde(default = "base_cursor")]
    pub cursor: String,
}

fn model_vault_program() -> String {
    crate::decode::vault::program_id().to_string()
}
/// The Solana follower's cursor unless the config names another.
pub const SOLANA_CURSOR: &str = "solana";

fn solana_cursor() -> String {
    SOLANA_CURSOR.into()
}
fn base_cursor() -> String {
    "base".into()
}
fn six() -> u8 {
    6
}
fn twelve() -> u64 {
    12
}
fn one_second() -> u64 {
    1_000
}
fn two_thousand() -> u64 {
    2_000
}

impl IndexerConfig {
    pub fn from_file(path: &Path) -> Result<Self, IndexerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| IndexerError::Config(format!("reading {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| IndexerError::Config(format!("{}: {e}", path.display())))
    }
}

impl SolanaSection {
    /// Following the default program and `treasury_usdc`, from slot 0, cursor `solana`.
    pub fn new(rpc_url: &str, grpc_url: &str, treasury_usdc: &str) -> Self {
        SolanaSection {
            rpc_url: rpc_url.to_string(),
            grpc_url: grpc_url.to_string(),
            program_id: model_vault_program(),
            treasury_usdc: treasury_usdc.to_string(),
            accounts: Vec::new(),
            start_slot: None,
            cursor: solana_cursor(),
        }
    }

    /// The live follower's config, reporting to `metrics`.
    pub fn follower(&self, metrics: &Metrics) -> FollowerConfig {
        let mut tracked = vec![self.program_id.clone(), self.treasury_usdc.clone()];
        tracked.extend(self.accounts.iter().cloned());
        FollowerConfig {
            grpc_url: self.grpc_url.clone(),
            rpc_url: self.rpc_url.clone(),
            tracked,
            cursor: self.cursor.clone(),
            start_slot: self.start_slot,
            metrics: metrics.clone(),
        }
    }
}

impl BaseSection {
    /// Following `treasury`'s transfers of the 6-decimal USDC at `usdc`, from the stored
    /// cursor `base` (the tip without one), 12 confirmations, polled every second.
    pub fn new(rpc_url: &str, usdc: &str, treasury: &str) -> Self {
        BaseSection {
            rpc_url: rpc_url.to_string(),
            usdc: usdc.to_string(),
            usdc_decimals: six(),
            treasury: treasury.to_string(),
            accounts: Vec::new(),
            start_block: None,
            confirmations: twelve(),
            poll_interval_ms: one_second(),
            max_block_range: two_thousand(),
            cursor: base_cursor(),
        }
    }

    /// The follower's config, reporting to `metrics`.
    pub fn follower(&self, metrics: &Metrics) -> Result<BaseConfig, IndexerError> {
        let address = |text: &str| {
            text.parse()
                .map_err(|e| IndexerError::Config(format!("[base] address {text}: {e}")))
        };
        let mut tracked = vec![address(&self.treasury)?];
        for a in &self.accounts {
            tracked.push(address(a)?);
        }
        Ok(BaseConfig {
            rpc_url: self.rpc_url.clone(),
            usdc: address(&self.usdc)?,
            usdc_decimals: self.usdc_decimals,
            tracked,
            cursor: self.cursor.clone(),
            start_block: self.start_block,
            confirmations: self.confirmations,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            max_range: self.max_block_range.max(1),
            metrics: metrics.clone(),
        })
    }
}

