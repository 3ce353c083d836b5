//! `paywire indexer --config <file>`: what to follow and where to write it, as TOML. Every
//! field is documented once, in `indexer/indexer.example.toml` ([`EXAMPLE`], shown by
//! `paywire indexer --help`); a test parses it with this parser.

use std::{path::Path, time::Duration};

use alloy::primitives::Address;
use serde::Deserialize;
use serde_with::{serde_as, DisplayFromStr};
use solana_pubkey::Pubkey;

use crate::{base::BaseConfig, solana::follower::FollowerConfig, IndexerError, Metrics};

/// The commented example config with every field: the one place they are documented.
pub const EXAMPLE: &str = include_str!("../indexer.example.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexerConfig {
    pub database_url: Option<String>,
    pub solana: Option<SolanaSection>,
    pub base: Option<BaseSection>,
}

/// Keys in base58, parsed when the file is read.
#[serde_as]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolanaSection {
    pub rpc_url: String,
    pub grpc_url: String,
    #[serde(default = "model_vault_program")]
    #[serde_as(as = "DisplayFromStr")]
    pub program_id: Pubkey,
    #[serde_as(as = "DisplayFromStr")]
    pub treasury_usdc: Pubkey,
    #[serde(default)]
    #[serde_as(as = "Vec<DisplayFromStr>")]
    pub accounts: Vec<Pubkey>,
    pub start_slot: Option<u64>,
    #[serde(default = "solana_cursor")]
    pub cursor: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseSection {
    pub rpc_url: String,
    pub usdc: Address,
    #[serde(default = "six")]
    pub usdc_decimals: u8,
    pub treasury: Address,
    #[serde(default)]
    pub accounts: Vec<Address>,
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

fn model_vault_program() -> Pubkey {
    model_vault_client::PROGRAM_ID
}
/// The Solana follower's cursor unless the config names another.
pub const SOLANA_CURSOR: &str = "solana";

fn solana_cursor() -> String {
    SOLANA_CURSOR.into()
}
/// The Base follower's cursor unless the config names another.
pub const BASE_CURSOR: &str = "base";

fn base_cursor() -> String {
    BASE_CURSOR.into()
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
        Self::from_toml(&text).map_err(|e| IndexerError::Config(format!("{}: {e}", path.display())))
    }

    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

impl SolanaSection {
    /// Following the default program and `treasury_usdc`, from slot 0, cursor `solana`.
    pub fn new(rpc_url: &str, grpc_url: &str, treasury_usdc: Pubkey) -> Self {
        SolanaSection {
            rpc_url: rpc_url.to_string(),
            grpc_url: grpc_url.to_string(),
            program_id: model_vault_program(),
            treasury_usdc,
            accounts: Vec::new(),
            start_slot: None,
            cursor: solana_cursor(),
        }
    }

    /// The live follower's config, reporting to `metrics`.
    pub fn follower(&self, metrics: &Metrics) -> FollowerConfig {
        let tracked = [self.program_id, self.treasury_usdc]
            .iter()
            .chain(&self.accounts)
            .map(Pubkey::to_string)
            .collect();
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
    pub fn new(rpc_url: &str, usdc: Address, treasury: Address) -> Self {
        BaseSection {
            rpc_url: rpc_url.to_string(),
            usdc,
            usdc_decimals: six(),
            treasury,
            accounts: Vec::new(),
            start_block: None,
            confirmations: twelve(),
            poll_interval_ms: one_second(),
            max_block_range: two_thousand(),
            cursor: base_cursor(),
        }
    }

    /// The follower's config, reporting to `metrics`.
    pub fn follower(&self, metrics: &Metrics) -> BaseConfig {
        let mut tracked = vec![self.treasury];
        tracked.extend(&self.accounts);
        BaseConfig {
            rpc_url: self.rpc_url.clone(),
            usdc: self.usdc,
            usdc_decimals: self.usdc_decimals,
            tracked,
            cursor: self.cursor.clone(),
            start_block: self.start_block,
            confirmations: self.confirmations,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            max_range: self.max_block_range.max(1),
            metrics: metrics.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::{every_field, example_config::assert_sets_every_field};

    fn all_set(section: &str, table: &toml::Value, fields: &[&str]) {
        assert_sets_every_field("indexer.example.toml", section, table, fields);
    }

    #[test]
    fn the_example_config_parses_and_sets_every_field() {
        let config = IndexerConfig::from_toml(EXAMPLE).expect("the example parses");
        let table: toml::Value = toml::from_str(EXAMPLE).unwrap();
        all_set(
            "",
            &table,
            &every_field!(IndexerConfig {
                database_url,
                solana,
                base
            }),
        );
        all_set(
            "[solana] ",
            &table["solana"],
            &every_field!(SolanaSection {
                rpc_url,
                grpc_url,
                program_id,
                treasury_usdc,
                accounts,
                start_slot,
                cursor,
            }),
        );
        all_set(
            "[base] ",
            &table["base"],
            &every_field!(BaseSection {
                rpc_url,
                usdc,
                usdc_decimals,
                treasury,
                accounts,
                start_block,
                confirmations,
                poll_interval_ms,
                max_block_range,
                cursor,
            }),
        );

        // The defaults it states are the parser's.
        let solana = config.solana.unwrap();
        let solana_defaults = SolanaSection::new("", "", Pubkey::default());
        assert_eq!(solana.program_id, solana_defaults.program_id);
        assert_eq!(solana.cursor, solana_defaults.cursor);
        let base = config.base.unwrap();
        let base_defaults = BaseSection::new("", Address::ZERO, Address::ZERO);
        assert_eq!(
            (
                base.usdc_decimals,
                base.confirmations,
                base.poll_interval_ms,
                base.max_block_range,
                base.cursor
            ),
            (
                base_defaults.usdc_decimals,
                base_defaults.confirmations,
                base_defaults.poll_interval_ms,
                base_defaults.max_block_range,
                base_defaults.cursor
            )
        );
    }
}
