//! API keys: a wallet's balance spent with `Authorization: Bearer pw_…`. The ledger keeps a
//! key's hash (the key is shown once, when made), its owner and its limits; a hold made with a
//! key counts against its spend limit in the same statement that takes it from the balance
//! ([`Ledger::hold`]).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{Chain, Ledger, LedgerError, LimitPeriod};

/// A key to make.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewKey {
    /// SHA-256 of the key.
    pub hash: [u8; 32],
    /// The key's first characters.
    pub prefix: String,
    pub name: Option<String>,
    /// USDC base units per period (or over the key's life without one).
    pub spend_limit: Option<u64>,
    pub limit_period: Option<LimitPeriod>,
    /// The models it may call; `None` for all.
    pub models: Option<Vec<String>>,
    pub requests_per_minute: Option<u32>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key as stored (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: i64,
    pub payer: String,
    pub chain: Chain,
    pub prefix: String,
    pub name: Option<String>,
    pub spend_limit: Option<u64>,
    pub limit_period: Option<LimitPeriod>,
    /// Held or charged since the period began.
    pub period_spent: u64,
    pub period_start: DateTime<Utc>,
    pub models: Option<Vec<String>>,
    pub requests_per_minute: Option<u32>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl ApiKey {
    /// Usable now: neither revoked nor expired.
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

const COLUMNS: &str = "id, payer, chain, prefix, name, spend_limit::text, limit_period,
    period_spent::text, period_start, models, requests_per_minute, expires_at, revoked_at, created_at";

type Row = (
    i64,
    String,
    Chain,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    DateTime<Utc>,
    Option<Vec<String>>,
    Option<i32>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

fn key(row: Row) -> Result<ApiKey, LedgerError> {
    let (
        id,
        payer,
        chain,
        prefix,
        name,
        limit,
        period,
        spent,
        start,
        models,
        rpm,
        expires,
        revoked,
        created,
    ) = row;
    let units = |text: &str| {
        text.parse::<u64>()
            .map_err(|_| LedgerError::Conflict(format!("key {id}: amount {text} is out of range")))
    };
    Ok(ApiKey {
        id,
        payer,
        chain,
        prefix,
        name,
        spend_limit: limit.as_deref().map(units).transpose()?,
        limit_period: period
            .map(|p| {
                p.parse()
                    .map_err(|_| LedgerError::Conflict(format!("key {id}: period {p}")))
            })
            .transpose()?,
        period_spent: units(&spent)?,
        period_start: start,
        models,
        requests_per_minute: rpm.map(|r| r as u32),
        expires_at: expires,
        revoked_at: revoked,
        created_at: created,
    })
}

impl Ledger {
    /// Stores a key of `payer`'s.
    pub async fn create_key(
        &self,
        payer: &str,
        chain: Chain,
        new: &NewKey,
    ) -> Result<ApiKey, LedgerError> {
        let row: Row = sqlx::query_as(&format!(
            "INSERT INTO ledger.api_keys (payer, chain, key_hash, prefix, name, spend_limit, limit_period,
                 models, requests_per_minute, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, $8, $9, $10)
             RETURNING {COLUMNS}"
        ))
        .bind(payer)
        .bind(chain)
        .bind(new.hash.as_slice())
        .bind(&new.prefix)
        .bind(&new.name)
        .bind(new.spend_limit.map(|l| l.to_string()))
        .bind(new.limit_period.map(|p| p.as_ref().to_string()))
        .bind(&new.models)
        .bind(new.requests_per_minute.map(|r| r as i32))
        .bind(new.expires_at)
        .fetch_one(self.pool())
        .await?;
        key(row)
    }

    /// The key whose SHA-256 is `hash`, revoked or not.
    pub async fn key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>, LedgerError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM ledger.api_keys WHERE key_hash = $1"
        ))
        .bind(hash.as_slice())
        .fetch_optional(self.pool())
        .await?;
        row.map(key).transpose()
    }

    /// `payer`'s keys, newest first.
    pub async fn keys(&self, payer: &str, chain: Chain) -> Result<Vec<ApiKey>, LedgerError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM ledger.api_keys WHERE payer = $1 AND chain = $2 ORDER BY id DESC"
        ))
        .bind(payer)
        .bind(chain)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(key).collect()
    }

    /// Revokes `payer`'s key `id`; `false` if it has no such live key.
    pub async fn revoke_key(
        &self,
        payer: &str,
        chain: Chain,
        id: i64,
    ) -> Result<bool, LedgerError> {
        let revoked = sqlx::query(
            "UPDATE ledger.api_keys SET revoked_at = now()
             WHERE id = $1 AND payer = $2 AND chain = $3 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(payer)
        .bind(chain)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(revoked == 1)
    }
}
