//! Revenue owed to models' vaults (docs/money.md): a model whose catalog entry names a creator
//! earns the actual cost of every call served for it — per-call payments on either chain,
//! before or after tokenization, and calls served from balances; its vault received the
//! per-call payments made into it directly and what the treasury released to it. Owed =
//! earned − received, from these rows alone. Releases are claimed here, one in flight per
//! model across every keeper, each for at most what is owed when it is recorded.

use crate::{Chain, ChargeStatus, HoldStatus, Ledger, LedgerError, PayoutStatus, Purpose, Rail};

/// What one model earned on one rail and chain (amounts as stored).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct EarnedLine {
    pub model: String,
    pub rail: Rail,
    pub chain: Chain,
    pub calls: i64,
    /// The calls' actual cost.
    pub earned: String,
    /// What these calls paid into the model's vault directly (per-call, Solana, tokenized) ...
    pub direct: String,
    /// ... and the actual cost of those calls: the difference was credited to their payers.
    pub direct_earned: String,
}

/// One model's revenue, summed (amounts as stored).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RevenueTotals {
    pub model: String,
    pub creator: String,
    pub vault_owner: String,
    pub earned: String,
    /// Per-call payments made into the vault directly.
    pub direct: String,
    /// Releases confirmed on chain.
    pub released: String,
    /// Releases sent and not confirmed yet.
    pub in_flight: String,
}

/// A release of revenue to a model's vault, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Release {
    pub id: i64,
    pub model: String,
    pub amount: String,
    pub earned: String,
    pub received: String,
    pub status: String,
    pub tx: String,
    pub blockhash: String,
    pub error: Option<String>,
    /// What the transaction moved from the treasury into the model's vault, as the indexer
    /// recorded it (`None`: nothing seen).
    pub found: Option<String>,
}

/// A release the keeper means to send: the amount one computation found owed, and the
/// signed transaction that pays it.
#[derive(Clone, Debug)]
pub struct NewRelease<'a> {
    pub model: &'a str,
    pub amount: u64,
    /// The computation's terms: `amount = earned − received`.
    pub earned: u128,
    pub received: u128,
    pub tx: &'a str,
    pub blockhash: &'a str,
}

/// Whether a release was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseClaim {
    /// Recorded (its id): send it.
    Claimed(i64),
    /// Another release of this model is in flight (another keeper's, or a restarted one's).
    InFlight,
    /// Less is owed now than the computation found (something was released meanwhile).
    Changed,
}

/// The sums a model's revenue is made of: per-call charges and charged holds of the models in
/// `model_creators`, from the time a catalog named their creator. `$1`: one model, or all when
/// null; `$2`, `$3`: the rails' names, as the rows are labelled.
const EARNED: &str = "
    SELECT c.model, $2 AS rail, c.chain, count(*) AS calls,
           coalesce(sum(c.actual_cost), 0)::text AS earned,
           coalesce(sum(c.amount) FILTER (WHERE c.chain = 'solana' AND c.pay_to = m.vault_owner), 0)::text AS direct,
           coalesce(sum(c.actual_cost) FILTER (WHERE c.chain = 'solana' AND c.pay_to = m.vault_owner), 0)::text AS direct_earned
    FROM ledger.charges c JOIN ledger.model_creators m USING (model)
    WHERE c.purpose = $4 AND c.status = $5 AND c.created_at >= m.since
      AND ($1::text IS NULL OR c.model = $1)
    GROUP BY c.model, c.chain
    UNION ALL
    SELECT h.model, $3, h.chain, count(*), coalesce(sum(h.actual_cost), 0)::text, '0', '0'
    FROM ledger.holds h JOIN ledger.model_creators m USING (model)
    WHERE h.status = $6 AND h.created_at >= m.since AND ($1::text IS NULL OR h.model = $1)
    GROUP BY h.model, h.chain";

/// Per model: earned, direct, released, in flight (numeric), from [`EARNED`] and releases.
const TOTALS: &str = "
    WITH earned AS ({EARNED}),
    sums AS (SELECT model, sum(earned::numeric) AS earned, sum(direct::numeric) AS direct
             FROM earned GROUP BY model),
    releases AS (SELECT model, coalesce(sum(amount) FILTER (WHERE status = $7), 0) AS released,
                        coalesce(sum(amount) FILTER (WHERE status = $8), 0) AS in_flight
                 FROM ledger.revenue_releases GROUP BY model)
    SELECT m.model, m.creator, m.vault_owner,
           coalesce(s.earned, 0) AS earned, coalesce(s.direct, 0) AS direct,
           coalesce(r.released, 0) AS released, coalesce(r.in_flight, 0) AS in_flight
    FROM ledger.model_creators m
    LEFT JOIN sums s USING (model) LEFT JOIN releases r USING (model)
    WHERE $1::text IS NULL OR m.model = $1";

fn totals_sql() -> String {
    TOTALS.replace("{EARNED}", EARNED)
}

/// Binds [`EARNED`]'s parameters (`$1`–`$6`) to `$query`.
macro_rules! bind_earned {
    ($query:expr, $model:expr) => {
        $query
            .bind($model)
            .bind(Rail::PerCall)
            .bind(Rail::Balance)
            .bind(Purpose::Call)
            .bind(ChargeStatus::Completed)
            .bind(HoldStatus::Charged)
    };
}

/// Binds [`TOTALS`]'s parameters (`$1`–`$8`) to `$query`.
macro_rules! bind_totals {
    ($query:expr, $model:expr) => {
        bind_earned!($query, $model)
            .bind(PayoutStatus::Sent)
            .bind(PayoutStatus::Sending)
    };
}

impl Ledger {
    /// Records (or updates) a model the catalog sells for `creator`, whose vault `vault_owner`
    /// owns. Its revenue is owed from the first time it was recorded; a new creator takes the
    /// model over with what it is owed (the vault is the model's, not the creator's).
    pub async fn record_model_creator(
        &self,
        model: &str,
        creator: &str,
        vault_owner: &str,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO ledger.model_creators (model, creator, vault_owner) VALUES ($1, $2, $3)
             ON CONFLICT (model) DO UPDATE SET creator = $2, vault_owner = $3, updated_at = now()
             WHERE (model_creators.creator, model_creators.vault_owner) <> ($2, $3)",
        )
        .bind(model)
        .bind(creator)
        .bind(vault_owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// What each model (or only `model`) earned, by rail and chain.
    pub async fn earned_lines(&self, model: Option<&str>) -> Result<Vec<EarnedLine>, LedgerError> {
        let sql = format!("SELECT * FROM ({EARNED}) e ORDER BY model, rail, chain");
        Ok(bind_earned!(sqlx::query_as(&sql), model)
            .fetch_all(self.pool())
            .await?)
    }

    /// Each model's (or only `model`'s) revenue, summed.
    pub async fn revenue_totals(
        &self,
        model: Option<&str>,
    ) -> Result<Vec<RevenueTotals>, LedgerError> {
        let sql = format!(
            "SELECT model, creator, vault_owner, earned::text, direct::text, released::text, in_flight::text
             FROM ({}) t ORDER BY model",
            totals_sql()
        );
        Ok(bind_totals!(sqlx::query_as(&sql), model)
            .fetch_all(self.pool())
            .await?)
    }

    /// Records `release` as in flight if no other release of its model is, and if at least
    /// its amount is still owed. Keepers of the same model take turns (a transaction-scoped
    /// advisory lock), and each computes on what the one before committed: two keepers
    /// computing at once, or one computing while another's release is confirmed, never release
    /// the same revenue twice.
    pub async fn claim_release(
        &self,
        release: &NewRelease<'_>,
    ) -> Result<ReleaseClaim, LedgerError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('paywire.release:' || $1, 0))")
            .bind(release.model)
            .execute(&mut *tx)
            .await?;
        // A statement of its own, after the lock: its snapshot sees every release committed
        // before this keeper's turn.
        let totals: Option<(bool, bool)> = bind_totals!(
            sqlx::query_as(&format!(
                "SELECT t.in_flight > 0, t.earned - t.direct - t.released >= $9::numeric FROM ({}) t",
                totals_sql()
            )),
            release.model
        )
        .bind(release.amount.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let claim = match totals {
            Some((true, _)) => ReleaseClaim::InFlight,
            Some((false, true)) => ReleaseClaim::Claimed(
                sqlx::query_scalar(
                    "INSERT INTO ledger.revenue_releases (model, amount, earned, received, tx, blockhash)
                     VALUES ($1, $2::numeric, $3::numeric, $4::numeric, $5, $6) RETURNING id",
                )
                .bind(release.model)
                .bind(release.amount.to_string())
                .bind(release.earned.to_string())
                .bind(release.received.to_string())
                .bind(release.tx)
                .bind(release.blockhash)
                .fetch_one(&mut *tx)
                .await?,
            ),
            _ => ReleaseClaim::Changed,
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// Every release, oldest first, with what its transaction moved into the vault.
    pub async fn releases(
        &self,
        status: Option<PayoutStatus>,
    ) -> Result<Vec<Release>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT r.id, r.model, r.amount::text AS amount, r.earned::text AS earned,
                    r.received::text AS received, r.status, r.tx, r.blockhash, r.error,
                    (SELECT sum(t.amount)::text FROM ledger.transfers t
                     WHERE t.chain = 'solana' AND t.tx = r.tx AND t.destination_owner = m.vault_owner
                       AND t.success AND t.status <> 'rolled_back') AS found
             FROM ledger.revenue_releases r LEFT JOIN ledger.model_creators m USING (model)
             WHERE $1::text IS NULL OR r.status = $1 ORDER BY r.id",
        )
        .bind(status.map(<&str>::from))
        .fetch_all(self.pool())
        .await?)
    }

    /// Release `id` landed.
    pub async fn release_sent(&self, id: i64) -> Result<(), LedgerError> {
        self.release_done(id, PayoutStatus::Sent, None).await
    }

    /// Release `id` can no longer land.
    pub async fn release_failed(&self, id: i64, error: &str) -> Result<(), LedgerError> {
        self.release_done(id, PayoutStatus::Failed, Some(error))
            .await
    }

    async fn release_done(
        &self,
        id: i64,
        status: PayoutStatus,
        error: Option<&str>,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE ledger.revenue_releases SET status = $2, error = $3, completed_at = now()
             WHERE id = $1 AND status = $4",
        )
        .bind(id)
        .bind(status)
        .bind(error)
        .bind(PayoutStatus::Sending)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
