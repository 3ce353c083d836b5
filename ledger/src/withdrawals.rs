//! Withdrawals: unspent balance sent back to its wallet on chain. The balance is debited when
//! the withdrawal is recorded (so calls cannot spend what is on its way out), under the
//! payer's idempotency key (the same key never pays twice, however many requests carry it);
//! the transfer's id is recorded once signed, before it is sent; a transfer that can no longer
//! land is failed and the amount credited back.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{balances::units, Chain, EntryKind, Ledger, LedgerError, PayoutStatus};

/// A withdrawal as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Withdrawal {
    pub id: i64,
    pub payer: String,
    pub chain: Chain,
    pub idempotency_key: String,
    /// USDC base units, as stored.
    pub amount: String,
    pub status: PayoutStatus,
    pub tx: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The outcome of asking for a withdrawal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requested {
    /// Recorded and debited: now send it.
    New(Withdrawal),
    /// This idempotency key was used before: that withdrawal, as it stands.
    Existing(Withdrawal),
    /// The balance does not hold that much; nothing was written.
    Short { available: u64 },
}

const COLUMNS: &str =
    "id, payer, chain, idempotency_key, amount::text AS amount, status, tx, error, created_at";

impl Ledger {
    /// Records a withdrawal of `amount` (all that is available when `None`) and debits it, in
    /// one transaction; the unique idempotency key makes a concurrent twin wait, then find it.
    pub async fn request_withdrawal(
        &self,
        payer: &str,
        chain: Chain,
        idempotency_key: &str,
        amount: Option<u64>,
    ) -> Result<Requested, LedgerError> {
        let mut tx = self.pool().begin().await?;
        let available: Option<String> = sqlx::query_scalar(
            "SELECT available::text FROM ledger.balances WHERE payer = $1 AND chain = $2 FOR UPDATE",
        )
        .bind(payer)
        .bind(chain)
        .fetch_optional(&mut *tx)
        .await?;
        let available = available.as_deref().map(units).transpose()?.unwrap_or(0);
        let amount = amount.unwrap_or(available);
        let recorded: Option<Withdrawal> = sqlx::query_as(&format!(
            "INSERT INTO ledger.withdrawals (payer, chain, idempotency_key, amount)
             SELECT $1, $2, $3, $4::numeric WHERE $4::numeric > 0 AND $4::numeric <= $5::numeric
             ON CONFLICT (payer, chain, idempotency_key) DO NOTHING
             RETURNING {COLUMNS}"
        ))
        .bind(payer)
        .bind(chain)
        .bind(idempotency_key)
        .bind(amount.to_string())
        .bind(available.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(withdrawal) = recorded else {
            tx.rollback().await?;
            return Ok(
                match self.withdrawal(payer, chain, idempotency_key).await? {
                    Some(existing) => Requested::Existing(existing),
                    None => Requested::Short { available },
                },
            );
        };
        sqlx::query(
            "WITH debit AS (
                 UPDATE ledger.balances SET available = available - $3::numeric, updated_at = now()
                 WHERE payer = $1 AND chain = $2)
             INSERT INTO ledger.balance_entries (payer, chain, kind, amount, withdrawal_id)
             VALUES ($1, $2, $4, -($3::numeric), $5)",
        )
        .bind(payer)
        .bind(chain)
        .bind(amount.to_string())
        .bind(EntryKind::Withdrawal.as_ref())
        .bind(withdrawal.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Requested::New(withdrawal))
    }

    /// `payer`'s withdrawal under `idempotency_key`, if any.
    pub async fn withdrawal(
        &self,
        payer: &str,
        chain: Chain,
        idempotency_key: &str,
    ) -> Result<Option<Withdrawal>, LedgerError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM ledger.withdrawals WHERE payer = $1 AND chain = $2 AND idempotency_key = $3"
        ))
        .bind(payer)
        .bind(chain)
        .bind(idempotency_key)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Withdrawals still `sending` after `secs`: their answer was lost; the chain decides.
    pub async fn stale_withdrawals(&self, secs: u64) -> Result<Vec<Withdrawal>, LedgerError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM ledger.withdrawals
             WHERE status = $1 AND created_at < now() - make_interval(secs => $2) ORDER BY id"
        ))
        .bind(PayoutStatus::Sending)
        .bind(secs as f64)
        .fetch_all(self.pool())
        .await?)
    }

    /// Whether the indexer saw transaction `tx` succeed on `chain` (and it was not rolled back).
    pub async fn transaction_seen(&self, chain: Chain, tx: &str) -> Result<bool, LedgerError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM ledger.transfers
                            WHERE chain = $1 AND tx = $2 AND success AND status <> 'rolled_back')",
        )
        .bind(chain)
        .bind(tx)
        .fetch_one(self.pool())
        .await?)
    }

    /// The transfer of withdrawal `id` is signed as `tx` (and about to be sent).
    pub async fn withdrawal_signed(&self, id: i64, tx: &str) -> Result<(), LedgerError> {
        sqlx::query("UPDATE ledger.withdrawals SET tx = $2 WHERE id = $1 AND status = $3")
            .bind(id)
            .bind(tx)
            .bind(PayoutStatus::Sending)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Withdrawal `id` landed.
    pub async fn withdrawal_sent(&self, id: i64, tx: &str) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE ledger.withdrawals SET status = $3, tx = $2, completed_at = now()
             WHERE id = $1 AND status = $4",
        )
        .bind(id)
        .bind(tx)
        .bind(PayoutStatus::Sent)
        .bind(PayoutStatus::Sending)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Withdrawal `id` can no longer land: failed, and its amount credited back, once.
    pub async fn withdrawal_failed(&self, id: i64, error: &str) -> Result<bool, LedgerError> {
        let refunded = sqlx::query(
            "WITH failed AS (
                 UPDATE ledger.withdrawals SET status = $3, error = $2, completed_at = now()
                 WHERE id = $1 AND status = $4
                 RETURNING id, payer, chain, amount),
             credit AS (
                 UPDATE ledger.balances b SET available = b.available + f.amount, updated_at = now()
                 FROM failed f WHERE b.payer = f.payer AND b.chain = f.chain)
             INSERT INTO ledger.balance_entries (payer, chain, kind, amount, withdrawal_id)
             SELECT payer, chain, $5, amount, id FROM failed",
        )
        .bind(id)
        .bind(error)
        .bind(PayoutStatus::Failed)
        .bind(PayoutStatus::Sending)
        .bind(EntryKind::WithdrawalFailed.as_ref())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(refunded == 1)
    }
}
