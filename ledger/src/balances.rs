//! Payer balances: credited by per-call charges (their surplus, or all of a failed call),
//! spent through holds. Each operation is one statement — the balance row, the hold and the
//! entries written together — so a hold costs one round trip and concurrent holds on one
//! balance, from any number of gateway processes, serialise on its row and never exceed it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{Chain, EntryKind, HoldStatus, Ledger, LedgerError};

/// A payer's balance, in USDC base units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// What the payer may spend now.
    pub available: u64,
    /// What calls in flight hold.
    pub held: u64,
}

/// One change to a balance, with its cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BalanceEntry {
    pub id: i64,
    pub kind: EntryKind,
    /// The change to the available balance (negative: held or charged).
    pub amount: i128,
    pub charge_id: Option<i64>,
    pub hold_id: Option<i64>,
    pub at: DateTime<Utc>,
}

/// What a hold asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHold<'a> {
    pub payer: &'a str,
    pub chain: Chain,
    pub model: &'a str,
    /// The call's maximum cost: what its 402 would ask.
    pub amount: u64,
    /// How long the call may take before the sweep gives the hold back.
    pub ttl: Duration,
    /// The API key it came with, whose spend limit it counts against.
    pub api_key: Option<i64>,
}

/// The outcome of asking for a hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// Reserved: the hold's id and what is left available.
    Held { hold_id: i64, available: u64 },
    /// The balance does not cover it; nothing was written.
    Short { available: u64 },
    /// The key's spend limit does not cover it (`spent` of `limit` this period); nothing was
    /// written.
    OverKeyLimit { spent: u64, limit: u64 },
}

/// How a call served from a hold went, for [`Ledger::charge_hold`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldUsage {
    pub provider: Option<String>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    /// What the call cost; never above the hold (capped by the caller, checked by the schema).
    pub actual_cost: u64,
}

impl Ledger {
    /// Holds `hold.amount` of the payer's balance if it is available (and, with a key, within
    /// the key's spend limit: the key's row is locked first, its period started over if it
    /// has run out).
    pub async fn hold(&self, hold: &NewHold<'_>) -> Result<Held, LedgerError> {
        let held: Option<(i64, String)> = retried(|| {
            sqlx::query_as(
            "WITH key AS (
                 SELECT id, spend_limit, (CASE WHEN reset THEN 0 ELSE period_spent END) AS spent, reset
                 FROM (SELECT *, limit_period IS NOT NULL AND now() >= period_start + CASE limit_period
                           WHEN 'day' THEN interval '1 day' WHEN 'week' THEN interval '7 days'
                           ELSE interval '1 month' END AS reset
                       FROM ledger.api_keys WHERE id = $7 FOR UPDATE) k),
             allowed AS (
                 SELECT 1 WHERE $7::bigint IS NULL
                 UNION ALL
                 SELECT 1 FROM key WHERE spend_limit IS NULL OR spent + $3::numeric <= spend_limit),
             taken AS (
                 UPDATE ledger.balances
                 SET available = available - $3::numeric, held = held + $3::numeric, updated_at = now()
                 WHERE payer = $1 AND chain = $2 AND available >= $3::numeric
                   AND EXISTS (SELECT 1 FROM allowed)
                 RETURNING available),
             counted AS (
                 UPDATE ledger.api_keys a
                 SET period_spent = k.spent + $3::numeric,
                     period_start = CASE WHEN k.reset THEN now() ELSE a.period_start END
                 FROM key k WHERE a.id = k.id AND EXISTS (SELECT 1 FROM taken)),
             hold AS (
                 INSERT INTO ledger.holds (payer, chain, model, amount, api_key, expires_at)
                 SELECT $1, $2, $4, $3::numeric, $7, now() + make_interval(secs => $5) FROM taken
                 RETURNING id),
             entry AS (
                 INSERT INTO ledger.balance_entries (payer, chain, kind, amount, hold_id)
                 SELECT $1, $2, $6, -($3::numeric), id FROM hold)
             SELECT hold.id, taken.available::text FROM hold, taken",
        )
        .bind(hold.payer)
        .bind(hold.chain)
        .bind(hold.amount.to_string())
        .bind(hold.model)
        .bind(hold.ttl.as_secs_f64())
        .bind(EntryKind::Hold.as_ref())
        .bind(hold.api_key)
        .fetch_optional(self.calls())
        })
        .await?;
        if let Some((hold_id, available)) = held {
            return Ok(Held::Held {
                hold_id,
                available: units(&available)?,
            });
        }
        // Refused: say why (read after the fact, so only for the answer's text).
        if let Some(id) = hold.api_key {
            let limit: Option<(Option<String>, String)> = sqlx::query_as(
                "SELECT spend_limit::text, period_spent::text FROM ledger.api_keys WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
            if let Some((Some(limit), spent)) = limit {
                let (limit, spent) = (units(&limit)?, units(&spent)?);
                if spent + hold.amount > limit {
                    return Ok(Held::OverKeyLimit { spent, limit });
                }
            }
        }
        Ok(Held::Short {
            available: self.balance(hold.payer, hold.chain).await?.available,
        })
    }

    /// Charges an open hold its call's actual cost: the hold goes back (a `release` entry)
    /// and the cost is taken (a `charge` entry). Returns what is available afterwards, or
    /// `None` (nothing written) if the hold was no longer open.
    pub async fn charge_hold(
        &self,
        hold_id: i64,
        usage: &HoldUsage,
    ) -> Result<Option<u64>, LedgerError> {
        let available: Option<String> = retried(|| {
            sqlx::query_scalar(
                "WITH closed AS (
                 UPDATE ledger.holds
                 SET status = $3, actual_cost = $2::numeric, provider = $4, prompt_tokens = $5,
                     completion_tokens = $6, closed_at = now()
                 WHERE id = $1 AND status = $7
                 RETURNING payer, chain, amount, actual_cost, api_key),
             key_locked AS (
                 SELECT a.id FROM ledger.api_keys a, closed c WHERE a.id = c.api_key FOR UPDATE OF a),
             key AS (
                 UPDATE ledger.api_keys a
                 SET period_spent = greatest(0, a.period_spent - (c.amount - c.actual_cost))
                 FROM closed c WHERE a.id = c.api_key),
             balance AS (
                 UPDATE ledger.balances b
                 SET available = b.available + c.amount - c.actual_cost, held = b.held - c.amount,
                     updated_at = now()
                 FROM closed c WHERE b.payer = c.payer AND b.chain = c.chain
                   AND (SELECT count(*) FROM key_locked) >= 0
                 RETURNING b.available),
             entries AS (
                 INSERT INTO ledger.balance_entries (payer, chain, kind, amount, hold_id)
                 SELECT payer, chain, e.kind, e.amount, $1
                 FROM closed, LATERAL (VALUES ($8, amount), ($9, -actual_cost)) AS e (kind, amount))
             SELECT available::text FROM balance",
            )
            .bind(hold_id)
            .bind(usage.actual_cost.to_string())
            .bind(HoldStatus::Charged)
            .bind(&usage.provider)
            .bind(usage.prompt_tokens.map(|t| t as i32))
            .bind(usage.completion_tokens.map(|t| t as i32))
            .bind(HoldStatus::Open)
            .bind(EntryKind::Release.as_ref())
            .bind(EntryKind::Charge.as_ref())
            .fetch_optional(self.calls())
        })
        .await?;
        available.as_deref().map(units).transpose()
    }

    /// Gives an open hold back whole (its call produced nothing). Returns what is available
    /// afterwards, or `None` if the hold was no longer open.
    pub async fn release_hold(&self, hold_id: i64) -> Result<Option<u64>, LedgerError> {
        let released: Option<(String, i64)> = retried(|| {
            sqlx::query_as(RELEASE)
                .bind(Some(hold_id))
                .bind(HoldStatus::Released)
                .bind(HoldStatus::Open)
                .bind(EntryKind::Release.as_ref())
                .bind(false)
                .fetch_optional(self.calls())
        })
        .await?;
        released.map(|(available, _)| units(&available)).transpose()
    }

    /// Releases every open hold past its expiry (its gateway stopped mid-call); returns how
    /// many. Safe to run from every gateway at once: each hold closes once.
    pub async fn expire_holds(&self) -> Result<u64, LedgerError> {
        let expired: Vec<(String, i64)> = retried(|| {
            sqlx::query_as(RELEASE)
                .bind(None::<i64>)
                .bind(HoldStatus::Expired)
                .bind(HoldStatus::Open)
                .bind(EntryKind::Release.as_ref())
                .bind(true)
                .fetch_all(self.pool())
        })
        .await?;
        Ok(expired.first().map_or(0, |(_, closed)| *closed as u64))
    }

    /// Spends a sign-in nonce: `true` the first time, on any gateway; `false` after.
    pub async fn spend_sign_in_nonce(
        &self,
        nonce: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let spent = sqlx::query(
            "INSERT INTO ledger.sign_in_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(nonce)
        .bind(expires_at)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(spent == 1)
    }

    /// Forgets spent nonces whose proofs have expired (they are refused by age anyway).
    pub async fn forget_sign_in_nonces(&self) -> Result<u64, LedgerError> {
        // With a margin: a gateway whose clock runs behind the database's still refuses them.
        Ok(sqlx::query(
            "DELETE FROM ledger.sign_in_nonces WHERE expires_at < now() - interval '10 minutes'",
        )
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// A payer's balance (zero if it never had one).
    pub async fn balance(&self, payer: &str, chain: Chain) -> Result<Balance, LedgerError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT available::text, held::text FROM ledger.balances WHERE payer = $1 AND chain = $2",
        )
        .bind(payer)
        .bind(chain)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some((available, held)) => Balance {
                available: units(&available)?,
                held: units(&held)?,
            },
            None => Balance::default(),
        })
    }

    /// A payer's latest `limit` entries, newest first.
    pub async fn balance_entries(
        &self,
        payer: &str,
        chain: Chain,
        limit: u32,
    ) -> Result<Vec<BalanceEntry>, LedgerError> {
        let rows: Vec<(i64, String, String, Option<i64>, Option<i64>, DateTime<Utc>)> =
            sqlx::query_as(
                "SELECT id, kind, amount::text, charge_id, hold_id, created_at
                 FROM ledger.balance_entries WHERE payer = $1 AND chain = $2
                 ORDER BY id DESC LIMIT $3",
            )
            .bind(payer)
            .bind(chain)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|(id, kind, amount, charge_id, hold_id, at)| {
                Ok(BalanceEntry {
                    id,
                    kind: kind.parse().map_err(|_| {
                        LedgerError::Conflict(format!("entry {id} has an unknown kind {kind}"))
                    })?,
                    amount: amount.parse().map_err(|_| {
                        LedgerError::Conflict(format!(
                            "entry {id} has an unreadable amount {amount}"
                        ))
                    })?,
                    charge_id,
                    hold_id,
                    at,
                })
            })
            .collect()
    }
}

/// Closes open holds without a charge — one (`$1`), or every expired one (`$1` null and `$5`
/// true) — giving each back whole; returns each payer's available balance afterwards, with
/// how many holds closed in all.
const RELEASE: &str = "WITH closed AS (
         UPDATE ledger.holds SET status = $2, closed_at = now()
         WHERE status = $3 AND (id = $1 OR ($5 AND $1 IS NULL AND expires_at < now()))
         RETURNING id, payer, chain, amount, api_key),
     keys_locked AS (
         SELECT a.id FROM ledger.api_keys a WHERE a.id IN (SELECT api_key FROM closed)
         ORDER BY a.id FOR UPDATE),
     keys AS (
         UPDATE ledger.api_keys a SET period_spent = greatest(0, a.period_spent - t.amount)
         FROM (SELECT api_key, sum(amount) AS amount FROM closed WHERE api_key IS NOT NULL
               GROUP BY api_key) t
         WHERE a.id = t.api_key),
     totals AS (
         SELECT payer, chain, sum(amount) AS amount FROM closed GROUP BY payer, chain),
     balance AS (
         UPDATE ledger.balances b
         SET available = b.available + t.amount, held = b.held - t.amount, updated_at = now()
         FROM totals t WHERE b.payer = t.payer AND b.chain = t.chain
           AND (SELECT count(*) FROM keys_locked) >= 0
         RETURNING b.available),
     entries AS (
         INSERT INTO ledger.balance_entries (payer, chain, kind, amount, hold_id)
         SELECT payer, chain, $4, amount, id FROM closed)
     SELECT available::text, (SELECT count(*) FROM closed) FROM balance";

/// Runs `statement` again when Postgres aborted it to break a deadlock or a serialization
/// conflict with another gateway's statement (it wrote nothing then). Holding and closing
/// both lock a key before its balance (closing reads `key_locked` before it updates the
/// balance): the other order deadlocked with every concurrent hold, and Postgres breaks a
/// deadlock only after `deadlock_timeout` (1 s). Every statement here is guarded by a status,
/// so running it again applies it once.
async fn retried<T, F, Fut>(mut statement: F) -> Result<T, LedgerError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 0u32;
    loop {
        match statement().await {
            Err(sqlx::Error::Database(e))
                if attempt < 5 && matches!(e.code().as_deref(), Some("40P01") | Some("40001")) =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
            }
            done => return done.map_err(LedgerError::from),
        }
    }
}

/// An amount as Postgres holds it (`numeric` text), which a balance keeps within u64.
pub(crate) fn units(text: &str) -> Result<u64, LedgerError> {
    text.parse()
        .map_err(|_| LedgerError::Conflict(format!("a balance of {text} is out of range")))
}
