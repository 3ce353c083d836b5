//! The rows the indexer writes, as Rust values.

use chrono::{DateTime, Utc};

use crate::{Ingest, TransferKind, VaultEventKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, sqlx::Type, serde::Serialize)]
#[sqlx(type_name = "ledger.chain", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Chain {
    Solana,
    Base,
}

impl Chain {
    /// The chain's name, as the schema, the API and the reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Chain::Solana => "solana",
            Chain::Base => "base",
        }
    }
}

impl std::fmt::Display for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "ledger.row_status", rename_all = "snake_case")]
pub enum RowStatus {
    Confirmed,
    Finalized,
    RolledBack,
}

/// One token movement leg. Field meanings: `migrations/0001_ledger.sql`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRow {
    pub tx: String,
    pub leg: String,
    pub block: u64,
    pub block_hash: Option<String>,
    pub block_time: Option<DateTime<Utc>>,
    pub tx_index: u32,
    pub program: String,
    pub kind: TransferKind,
    pub mint: String,
    pub source: Option<String>,
    pub source_owner: Option<String>,
    pub destination: Option<String>,
    pub destination_owner: Option<String>,
    pub authority: Option<String>,
    pub amount: u64,
    pub decimals: Option<u8>,
    pub success: bool,
}

/// One decoded model-vault instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultEventRow {
    pub signature: String,
    pub ix_path: String,
    pub slot: u64,
    pub block_time: Option<DateTime<Utc>>,
    pub tx_index: u32,
    pub kind: VaultEventKind,
    pub model: Option<String>,
    pub actor: Option<String>,
    pub usdc_amount: Option<u64>,
    pub token_amount: Option<u64>,
    pub success: bool,
}

/// A token account whose balance change the decoded movements do not explain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscrepancyRow {
    pub tx: String,
    pub account: String,
    pub mint: String,
    pub block: u64,
    pub balance_change: i128,
    pub decoded_change: i128,
}

/// A Solana slot or a Base block as the follower saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRow {
    pub number: u64,
    pub hash: String,
    pub parent_hash: Option<String>,
    pub block_time: Option<DateTime<Utc>>,
}

/// An account a follower learned to watch from the chain (a tokenized model's vault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedRow {
    pub address: String,
    pub since_block: u64,
    pub reason: String,
    pub tx: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub name: String,
    pub position: u64,
}

/// What one follower writes atomically: rows of one chain from one source, and optionally
/// where it has now ingested up to.
#[derive(Clone, Debug)]
pub struct Batch {
    pub chain: Chain,
    pub source: Ingest,
    pub transfers: Vec<TransferRow>,
    pub vault_events: Vec<VaultEventRow>,
    pub discrepancies: Vec<DiscrepancyRow>,
    pub blocks: Vec<BlockRow>,
    pub tracked: Vec<TrackedRow>,
    /// What accounts held before the first block this follower reads (its first batch only).
    pub openings: Vec<OpeningBalance>,
    pub cursor: Option<Cursor>,
}

/// What `owner` held of `mint` at the end of `block`, the block before a follower's first: the
/// flows before it are not in the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpeningBalance {
    pub owner: String,
    pub mint: String,
    pub block: u64,
    pub amount: u64,
}

impl Batch {
    pub fn new(chain: Chain, source: Ingest) -> Self {
        Batch {
            chain,
            source,
            transfers: Vec::new(),
            vault_events: Vec::new(),
            discrepancies: Vec::new(),
            blocks: Vec::new(),
            tracked: Vec::new(),
            openings: Vec::new(),
            cursor: None,
        }
    }
}
