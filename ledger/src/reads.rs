//! Typed reads for auditors: charges, transfers and cursors, as JSON-ready views.

use serde::Serialize;

use crate::{names, Chain, Ledger, LedgerError, TransferKind, VaultEventKind, SOLD};

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ChargeView {
    pub id: i64,
    pub quote_id: String,
    /// The model called, or `top_up`.
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

/// A payer's balance: what its chain's treasury owes it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct BalanceView {
    pub payer: String,
    pub chain: Chain,
    /// Base units, as stored.
    pub available: String,
    pub held: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
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
            "SELECT id, quote_id, coalesce(model, purpose) AS model, payer, chain, pay_to, amount::text AS amount, status, settlement_tx, provider,
                    actual_cost::text AS actual_cost, credit::text AS credit, created_at
             FROM ledger.charges WHERE ($1::text IS NULL OR model = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(model)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Payer balances, largest first (`payer`'s alone, if given), at most `limit`.
    pub async fn balances(
        &self,
        payer: Option<&str>,
        limit: i64,
    ) -> Result<Vec<BalanceView>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT payer, chain, available::text AS available, held::text AS held, updated_at
             FROM ledger.balances WHERE ($1::text IS NULL OR payer = $1)
             ORDER BY available + held DESC, payer LIMIT $2",
        )
        .bind(payer)
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

/// What one model earned on one chain: settled or completed charges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ModelRevenue {
    pub model: String,
    pub chain: Chain,
    pub calls: i64,
    /// USDC base units charged.
    pub revenue: String,
    /// USDC base units the upstream calls actually cost (completed charges).
    pub actual_cost: String,
    /// USDC base units credited back to payers.
    pub credit: String,
}

/// One `buyback_and_burn` as the chain recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct BuybackView {
    pub signature: String,
    pub slot: i64,
    /// The block time, or when the indexer first saw it if the block has none.
    pub time: chrono::DateTime<chrono::Utc>,
    pub model: Option<String>,
    /// USDC base units that left the vault (swap plus protocol fee).
    pub usdc: String,
    /// Model-token base units burned.
    pub burned: String,
    /// The model token's decimals, as the burn stated them.
    pub burned_decimals: Option<i16>,
}

impl Ledger {
    /// Revenue per model and chain, largest first.
    pub async fn revenue_by_model(&self) -> Result<Vec<ModelRevenue>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT model, chain, count(*) AS calls, sum(amount)::text AS revenue,
                    coalesce(sum(actual_cost), 0)::text AS actual_cost, sum(credit)::text AS credit
             FROM ledger.charges WHERE status = ANY($1) AND purpose = 'call'
             GROUP BY model, chain ORDER BY sum(amount) DESC, model, chain",
        )
        .bind(names(&SOLD))
        .fetch_all(self.pool())
        .await?)
    }

    /// Every live, successful buyback, oldest first. The burned mint is the model's token; the
    /// transaction's other token movements are the USDC it spent.
    pub async fn buybacks(&self) -> Result<Vec<BuybackView>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT v.signature, v.slot, coalesce(v.block_time, v.first_seen) AS time, v.model,
                    coalesce(sum(t.amount) FILTER (WHERE t.kind = ANY($1) AND t.mint <> ALL(b.mints)), 0)::text AS usdc,
                    coalesce(sum(t.amount) FILTER (WHERE t.kind = ANY($2)), 0)::text AS burned,
                    max(t.decimals) FILTER (WHERE t.kind = ANY($2)) AS burned_decimals
             FROM ledger.vault_events v
             LEFT JOIN ledger.transfers t ON t.tx = v.signature AND t.success AND t.status <> 'rolled_back'
             CROSS JOIN LATERAL (SELECT coalesce(array_agg(DISTINCT mint), '{}') AS mints FROM ledger.transfers
                                 WHERE tx = v.signature AND kind = ANY($2)) b
             WHERE v.kind = $3 AND v.success AND v.status <> 'rolled_back'
             GROUP BY v.signature, v.ix_path, v.slot, v.block_time, v.first_seen, v.model, b.mints
             ORDER BY v.slot, v.signature",
        )
        .bind(names(&TransferKind::TRANSFERS))
        .bind(names(&TransferKind::BURNS))
        .bind(VaultEventKind::Buyback.as_ref())
        .fetch_all(self.pool())
        .await?)
    }
}
