//! Typed reads for auditors: charges, transfers and cursors, as JSON-ready views.

use serde::Serialize;

use crate::{Chain, Ledger, LedgerError};

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ChargeView {
    pub id: i64,
    pub quote_id: String,
    pub model: String,
    pub payer: String,
    pub chain: Chain,
    pub pay_to: String,
    pub amount: String,
    pub status: String,
    pub settlement_tx: Option<String>,
    pub provider: Option<String>,
    pub actual_cost: Option<String>,
    pub credit: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct TransferView {
    pub chain: Chain,
    pub tx: String,
    pub leg: String,
    pub block: i64,
    pub block_time: Option<chrono::DateTime<chrono::Utc>>,
    pub kind: String,
    pub mint: String,
    pub source_owner: Option<String>,
    pub destination: Option<String>,
    pub destination_owner: Option<String>,
    pub amount: String,
    pub status: String,
    pub ingested_from: String,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct CursorView {
    pub name: String,
    pub chain: Chain,
    pub position: i64,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl Ledger {
    /// The newest charges (of `model`, if given), at most `limit`.
    pub async fn charges(
        &self,
        model: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ChargeView>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT id, quote_id, model, payer, chain, pay_to, amount::text AS amount, status, settlement_tx, provider,
                    actual_cost::text AS actual_cost, credit::text AS credit, created_at
             FROM ledger.charges WHERE ($1::text IS NULL OR model = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(model)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Legs of transaction `tx`, or the newest legs to or from `owner`, at most `limit`.
    pub async fn transfers(
        &self,
        tx: Option<&str>,
        owner: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TransferView>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT chain, tx, leg, block, block_time, kind, mint, source_owner, destination, destination_owner,
                    amount::text AS amount, status::text AS status, ingested_from
             FROM ledger.transfers
             WHERE ($1::text IS NULL OR tx = $1)
               AND ($2::text IS NULL OR source_owner = $2 OR destination_owner = $2)
             ORDER BY block DESC, tx_index DESC, leg LIMIT $3",
        )
        .bind(tx)
        .bind(owner)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn cursors(&self) -> Result<Vec<CursorView>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT name, chain, position, updated_at FROM ledger.cursors ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?)
    }
}
