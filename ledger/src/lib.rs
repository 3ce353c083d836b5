//! paywire's ledger in Postgres: what the chains say (`transfers`, `vault_events`, `blocks`,
//! `cursors`, written by the indexer) and what the gateway sold (`charges`) and what payers hold
//! (`balances`, `holds`, `balance_entries`).
//! Schema: `migrations/`. Writes are batched (UNNEST) and idempotent on
//! `(chain, tx, leg)`, with the follower's cursor committed in the same transaction.

mod audit_reads;
mod balances;
mod charges;
mod error;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod keys;
mod lease;
mod nonces;
mod rate;
mod reads;
mod revenue;
mod rows;
mod scratch;
mod usdc;
mod vocabulary;
mod withdrawals;
mod write;

pub use audit_reads::{
    AuditScope, BalanceDrift, BalanceTotal, FlowSums, KnownModel, Leg, MintTotals, SettledCharge,
    TreasuryFlows, UncausedOutflow, UncomputedRelease, WithdrawalLeg,
};
pub use balances::{Balance, BalanceEntry, Held, HoldUsage, NewHold};
pub use charges::{ChargeRecord, Claim, Completion, NewCharge, SettlementOutcome, StaleCharge};
pub use error::LedgerError;
pub use keys::{ApiKey, NewKey};
pub use lease::Lease;
pub use reads::{BalanceView, BuybackView, ChargeView, CursorView, ModelRevenue, TransferView};
pub use revenue::{EarnedLine, NewRelease, Release, ReleaseClaim, RevenueTotals};
pub use rows::{
    Batch, BlockRow, Chain, Cursor, DiscrepancyRow, OpeningBalance, RowStatus, TrackedRow,
    TransferRow, VaultEventRow,
};
pub use scratch::ScratchDatabase;
pub use usdc::{format_usdc, parse_usdc, Usdc};
pub use vocabulary::{
    names, ChargeStatus, CreditReason, EntryKind, FlowCause, HoldStatus, Ingest, LimitPeriod,
    PayoutStatus, Purpose, Rail, SettlementStatus, TransferKind, VaultEventKind, SOLD,
};
pub use withdrawals::{Requested, Withdrawal};
pub use write::{copy_format, WriteOutcome, TRANSFER_COPY};

use std::str::FromStr;

use sqlx::{
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};

/// The ledger's migrations, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!();

#[derive(Clone)]
pub struct Ledger {
    pool: PgPool,
    /// Connections whose commits do not wait for the disk, for the bookkeeping of calls served
    /// from a balance (a hold and its close) and for handing out nonces: a Postgres crash can
    /// forget the last fraction of a second of them, which costs us calls, never a payer, and
    /// a nonce handed out again is found used (see docs/decisions.md).
    calls: PgPool,
    /// Set on a follower's ledger (see [`Ledger::fenced`]): its writes need the lease.
    fence: Option<std::sync::Arc<lease::Fence>>,
}

impl Ledger {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, LedgerError> {
        let connect_error = |e| LedgerError::Connect {
            url: redact(url),
            source: e,
        };
        let options = PgConnectOptions::from_str(url).map_err(connect_error)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            // Fail fast with a clear message rather than retry for sqlx's default 30 s.
            .acquire_timeout(std::time::Duration::from_secs(5))
            // No round trip to test a connection before each statement: a broken one fails
            // its statement and is dropped.
            .test_before_acquire(false);
        let ledger = Ledger {
            // Connected now, so an unreachable database is said at once; the other pool
            // connects when first used (only gateways use it).
            calls: pool
                .clone()
                .connect_lazy_with(options.clone().options([("synchronous_commit", "off")])),
            pool: pool.connect_with(options).await.map_err(connect_error)?,
            fence: None,
        };
        ledger.migrate().await?;
        Ok(ledger)
    }

    /// A ledger on `pool` alone (every commit waited for).
    pub fn from_pool(pool: PgPool) -> Self {
        Ledger {
            calls: pool.clone(),
            pool,
            fence: None,
        }
    }

    pub async fn migrate(&self) -> Result<(), LedgerError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The pool whose commits do not wait for the disk (see the field).
    pub(crate) fn calls(&self) -> &PgPool {
        &self.calls
    }

    /// Where the follower `name` has durably ingested up to.
    pub async fn cursor(&self, name: &str) -> Result<Option<u64>, LedgerError> {
        let position: Option<i64> =
            sqlx::query_scalar("SELECT position FROM ledger.cursors WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(position.map(|p| p as u64))
    }

    /// How far every follower of `chain` has ingested (the lowest of their cursors); `None`
    /// when nothing follows it.
    pub async fn followed_up_to(&self, chain: Chain) -> Result<Option<u64>, LedgerError> {
        let position: Option<i64> =
            sqlx::query_scalar("SELECT min(position) FROM ledger.cursors WHERE chain = $1")
                .bind(chain)
                .fetch_one(&self.pool)
                .await?;
        Ok(position.map(|p| p as u64))
    }
}

impl Ledger {
    /// Accounts of `chain` learned from the chain, with the block from which each matters.
    pub async fn tracked(&self, chain: Chain) -> Result<Vec<(String, u64)>, LedgerError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT address, since_block FROM ledger.tracked_accounts WHERE chain = $1 ORDER BY since_block",
        )
        .bind(chain)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(a, b)| (a, b as u64)).collect())
    }

    /// How many model-vault instructions of transaction `signature` are recorded.
    pub async fn vault_event_count(&self, signature: &str) -> Result<i64, LedgerError> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM ledger.vault_events WHERE signature = $1")
                .bind(signature)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The live (not rolled back) blocks of `chain` at or below `at`, newest first, at most
    /// `limit`: where a follower looks for the last block a reorg left in place.
    pub async fn blocks_at_or_below(
        &self,
        chain: Chain,
        at: u64,
        limit: u32,
    ) -> Result<Vec<BlockRow>, LedgerError> {
        type Row = (
            i64,
            String,
            Option<String>,
            Option<chrono::DateTime<chrono::Utc>>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT number, hash, parent_hash, block_time FROM ledger.blocks
                 WHERE chain = $1 AND number <= $2 AND status <> 'rolled_back'
                 ORDER BY number DESC LIMIT $3",
        )
        .bind(chain)
        .bind(at as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(number, hash, parent_hash, block_time)| BlockRow {
                number: number as u64,
                hash,
                parent_hash,
                block_time,
            })
            .collect())
    }
}

/// A connection URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}@{}", &url[..scheme + 3], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}
