//! What the gateway sold: a charge per paid call, claimed before its payment is settled so a
//! payment (a Solana signature, an EIP-3009 nonce, a quote, a payment id) is accepted once
//! across every gateway process, then completed with the upstream's usage; the surplus of
//! the charge over the actual cost is credited to the payer's balance (`balances.rs`).

use serde_json::Value;

use crate::{
    Chain, ChargeStatus, CreditReason, EntryKind, Ledger, LedgerError, Purpose, SettlementStatus,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCharge {
    pub quote_id: String,
    pub purpose: Purpose,
    /// The model called (none for a top-up).
    pub model: Option<String>,
    pub payer: String,
    pub chain: Chain,
    pub pay_to: String,
    pub amount: u64,
    pub settlement_tx: Option<String>,
    pub eip3009_nonce: Option<String>,
    pub payment_id: Option<String>,
}

/// A charge as stored.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ChargeRecord {
    pub id: i64,
    pub quote_id: String,
    pub payer: String,
    pub status: ChargeStatus,
    pub settlement_tx: Option<String>,
    pub payment_id: Option<String>,
    pub response: Option<Value>,
}

/// The outcome of claiming a payment.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// Ours to settle.
    New(i64),
    /// Seen before: the same payment id (a retry), or a payment or quote already used.
    Existing(ChargeRecord),
}

/// How one call ended, for [`Ledger::complete_charge`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub provider: Option<String>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub actual_cost: u64,
    pub credit: u64,
    /// Why the payer is credited.
    pub credit_reason: CreditReason,
}

impl Completion {
    /// A call that produced no answer (from `provider`, if one was reached): the whole
    /// `charge` is credited back.
    pub fn upstream_failed(provider: Option<String>, charge: u64) -> Self {
        Completion {
            provider,
            prompt_tokens: None,
            completion_tokens: None,
            actual_cost: 0,
            credit: charge,
            credit_reason: CreditReason::UpstreamFailed,
        }
    }
}

/// A charge a gateway left half-way (see [`Ledger::stale_charges`]).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct StaleCharge {
    pub id: i64,
    pub chain: Chain,
    pub payer: String,
    /// USDC base units, as stored.
    pub amount: String,
    pub settlement_tx: Option<String>,
    pub eip3009_nonce: Option<String>,
    /// The payment is known to have landed.
    pub settled: bool,
}

/// How a claimed settlement ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettlementOutcome<'a> {
    /// Confirmed on chain, by this transaction.
    Settled(&'a str),
    /// Refused before anything was sent.
    Refused(&'a str),
    /// Sent, verified, and failed on chain: the payer kept the money, we paid the fee.
    Reverted(&'a str),
    /// Never landed before it expired: nothing was taken.
    Expired(&'a str),
}

const RECORD: &str = "id, quote_id, payer, status, settlement_tx, payment_id, response";

impl Ledger {
    /// Claims `charge` atomically: either this call inserts it (and may settle the payment)
    /// or it returns the charge that already holds its payment, quote or payment id.
    pub async fn claim_charge(&self, charge: &NewCharge) -> Result<Claim, LedgerError> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO ledger.charges (quote_id, model, payer, chain, pay_to, amount, settlement_tx, eip3009_nonce, payment_id, purpose)
             VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, $8, $9, $10)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&charge.quote_id)
        .bind(&charge.model)
        .bind(&charge.payer)
        .bind(charge.chain)
        .bind(&charge.pay_to)
        .bind(charge.amount.to_string())
        .bind(&charge.settlement_tx)
        .bind(&charge.eip3009_nonce)
        .bind(&charge.payment_id)
        .bind(charge.purpose)
        .fetch_optional(self.pool())
        .await?;
        if let Some(id) = id {
            return Ok(Claim::New(id));
        }
        let existing: Option<ChargeRecord> = sqlx::query_as(&format!(
            "SELECT {RECORD} FROM ledger.charges
             WHERE (payer = $1 AND payment_id = $2) OR quote_id = $3
                OR (chain = $4 AND settlement_tx = $5) OR (chain = $4 AND payer = $1 AND eip3009_nonce = $6)
             ORDER BY (payer = $1 AND payment_id IS NOT DISTINCT FROM $2) DESC, id LIMIT 1"
        ))
        .bind(&charge.payer)
        .bind(&charge.payment_id)
        .bind(&charge.quote_id)
        .bind(charge.chain)
        .bind(&charge.settlement_tx)
        .bind(&charge.eip3009_nonce)
        .fetch_optional(self.pool())
        .await?;
        existing.map(Claim::Existing).ok_or_else(|| {
            LedgerError::Conflict("a charge conflicted but no longer exists; retry".into())
        })
    }

    /// The payment of charge `id` is confirmed on chain as `settlement_tx`; `false` (and
    /// nothing written) if the charge was no longer settling — the reconciler took it over.
    pub async fn charge_settled(&self, id: i64, settlement_tx: &str) -> Result<bool, LedgerError> {
        let updated = sqlx::query(
            "UPDATE ledger.charges SET status = $3, settlement_tx = $2 WHERE id = $1 AND status = $4",
        )
        .bind(id)
        .bind(settlement_tx)
        .bind(ChargeStatus::Settled)
        .bind(ChargeStatus::Settling)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Charge `id` as stored.
    pub async fn charge(&self, id: i64) -> Result<ChargeRecord, LedgerError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {RECORD} FROM ledger.charges WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(self.pool())
        .await?)
    }

    /// The payment of charge `id` did not go through and can no longer land: nothing was
    /// taken.
    pub async fn charge_failed(&self, id: i64, error: &str) -> Result<(), LedgerError> {
        sqlx::query("UPDATE ledger.charges SET status = $3, error = $2, completed_at = now() WHERE id = $1 AND status = $4")
            .bind(id)
            .bind(error)
            .bind(ChargeStatus::Failed)
            .bind(ChargeStatus::Settling)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records how the call went and credits the payer, in one transaction. A charge is
    /// completed once: `false` (and nothing written) if it was already.
    pub async fn complete_charge(
        &self,
        id: i64,
        completion: &Completion,
        response: Option<&Value>,
    ) -> Result<bool, LedgerError> {
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE ledger.charges SET status = $8, provider = $2, prompt_tokens = $3, completion_tokens = $4,
                 actual_cost = $5::numeric, credit = $6::numeric, response = $7, completed_at = now()
             WHERE id = $1 AND status = $9",
        )
        .bind(id)
        .bind(&completion.provider)
        .bind(completion.prompt_tokens.map(|t| t as i32))
        .bind(completion.completion_tokens.map(|t| t as i32))
        .bind(completion.actual_cost.to_string())
        .bind(completion.credit.to_string())
        .bind(response)
        .bind(ChargeStatus::Completed)
        .bind(ChargeStatus::Settled)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        if completion.credit > 0 {
            sqlx::query(
                "WITH charge AS (SELECT payer, chain FROM ledger.charges WHERE id = $1),
                 entry AS (
                     INSERT INTO ledger.balance_entries (payer, chain, kind, amount, charge_id)
                     SELECT payer, chain, $3, $2::numeric, $1 FROM charge)
                 INSERT INTO ledger.balances (payer, chain, available)
                 SELECT payer, chain, $2::numeric FROM charge
                 ON CONFLICT (payer, chain) DO UPDATE
                 SET available = ledger.balances.available + EXCLUDED.available, updated_at = now()",
            )
            .bind(id)
            .bind(completion.credit.to_string())
            .bind(EntryKind::from(completion.credit_reason).as_ref())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Charges whose paid section stopped half-way: still `settling` after `settling_secs`,
    /// or `settled` without an answer after `settled_secs` — longer than any live gateway
    /// process spends on either.
    pub async fn stale_charges(
        &self,
        settling_secs: u64,
        settled_secs: u64,
    ) -> Result<Vec<StaleCharge>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT id, chain, payer, amount::text AS amount, settlement_tx, eip3009_nonce, status = $4 AS settled
             FROM ledger.charges
             WHERE (status = $3 AND created_at < now() - make_interval(secs => $1))
                OR (status = $4 AND created_at < now() - make_interval(secs => $2))
             ORDER BY id",
        )
        .bind(settling_secs as f64)
        .bind(settled_secs as f64)
        .bind(ChargeStatus::Settling)
        .bind(ChargeStatus::Settled)
        .fetch_all(self.pool())
        .await?)
    }
}

impl Ledger {
    /// Claims `payment` for settlement; `false` if it was claimed before (by any process).
    pub async fn claim_settlement(
        &self,
        chain: Chain,
        payment: &str,
        payer: &str,
        amount: u64,
    ) -> Result<bool, LedgerError> {
        let claimed = sqlx::query(
            "INSERT INTO ledger.settlements (chain, payment, payer, amount) VALUES ($1, $2, $3, $4::numeric)
             ON CONFLICT DO NOTHING",
        )
        .bind(chain)
        .bind(payment)
        .bind(payer)
        .bind(amount.to_string())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(claimed == 1)
    }

    /// How the settlement of `payment` ended.
    pub async fn settlement_done(
        &self,
        chain: Chain,
        payment: &str,
        outcome: SettlementOutcome<'_>,
    ) -> Result<(), LedgerError> {
        let (status, tx, error) = match outcome {
            SettlementOutcome::Settled(tx) => (SettlementStatus::Settled, Some(tx), None),
            SettlementOutcome::Refused(e) => (SettlementStatus::Failed, None, Some(e)),
            SettlementOutcome::Reverted(e) => (SettlementStatus::Reverted, None, Some(e)),
            SettlementOutcome::Expired(e) => (SettlementStatus::Expired, None, Some(e)),
        };
        sqlx::query("UPDATE ledger.settlements SET status = $3, tx = $4, error = $5 WHERE chain = $1 AND payment = $2")
            .bind(chain)
            .bind(payment)
            .bind(status.as_ref())
            .bind(tx)
            .bind(error)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// How many of `payer`'s payments passed verification and then failed on chain (our fee
    /// spent) in the last `hours`.
    pub async fn reverted_settlements(&self, payer: &str, hours: u32) -> Result<u64, LedgerError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM ledger.settlements
             WHERE payer = $1 AND status = $3 AND created_at > now() - make_interval(hours => $2)",
        )
        .bind(payer)
        .bind(hours as i32)
        .bind(SettlementStatus::Reverted.as_ref())
        .fetch_one(self.pool())
        .await?;
        Ok(count as u64)
    }

    /// The charge holding `settlement_tx` (Solana) or the EIP-3009 `nonce` of `payer` (Base).
    pub async fn charge_for_payment(
        &self,
        chain: Chain,
        settlement_tx: Option<&str>,
        payer: &str,
        nonce: Option<&str>,
    ) -> Result<Option<ChargeRecord>, LedgerError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {RECORD} FROM ledger.charges
             WHERE chain = $1 AND (settlement_tx = $2 OR (payer = $3 AND eip3009_nonce = $4)) LIMIT 1"
        ))
        .bind(chain)
        .bind(settlement_tx)
        .bind(payer)
        .bind(nonce)
        .fetch_optional(self.pool())
        .await?)
    }
}
