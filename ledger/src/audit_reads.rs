//! The reads the audit (crate `paywire-audit`) reconciles: settled charges, payment legs, a
//! token account's flows by cause, a mint's totals. Amounts come back as the text Postgres
//! holds (`numeric` can exceed a u64): reading them is the audit's job, and one it cannot read
//! is a discrepancy it reports, never 0.

use crate::{names, Chain, FlowCause, Ledger, LedgerError, TransferKind, VaultEventKind, SOLD};

/// Which charges and inflows an audit looks at.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct AuditScope {
    pub model: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

/// A settled or completed charge: what the gateway sold.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SettledCharge {
    pub id: i64,
    /// The model, or the purpose when it buys none (`top_up`).
    pub model: String,
    pub purpose: String,
    pub chain: Chain,
    pub payer: String,
    pub pay_to: String,
    /// Base units, as stored.
    pub amount: String,
    pub settlement_tx: Option<String>,
    /// When its settlement happened: the block time of its transaction's legs, else when the
    /// charge was made.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// One leg of a transaction, whatever it moved and whether it succeeded (live rows only).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Leg {
    pub chain: Chain,
    pub tx: String,
    pub leg: String,
    pub block: i64,
    pub kind: String,
    pub mint: String,
    pub success: bool,
    pub source_owner: Option<String>,
    pub destination_owner: Option<String>,
    /// Base units, as stored.
    pub amount: String,
    /// A live, successful model-vault instruction of the same transaction moved it (its
    /// instruction path lies under the vault instruction's).
    pub program_moved: bool,
    /// The operator recorded its transaction as a transfer of its own.
    pub operator: bool,
}

/// A mint's totals as the ledger recorded them (amounts as stored; `None` when nothing was).
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct MintTotals {
    pub minted: Option<String>,
    /// Burned by a model-vault instruction (a buyback burns what it bought).
    pub burned_by_program: Option<String>,
    /// Burned by anyone else: a holder burning tokens they hold.
    pub burned_by_others: Option<String>,
}

/// A model-vault `register` or `tokenize` the ledger saw: a model known on chain.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct KnownModel {
    /// The model account.
    pub model: String,
    /// The slot of its tokenization, if it was.
    pub tokenized_at: Option<i64>,
}

/// Payer balances summed on one chain: what its treasury owes payers.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct BalanceTotal {
    pub chain: Chain,
    pub payers: i64,
    /// Base units, as stored.
    pub available: String,
    pub held: String,
}

/// A balance that is not what its entries say: `available` against the sum of its entries,
/// `held` against its open holds (amounts as stored).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct BalanceDrift {
    pub payer: String,
    pub chain: Chain,
    pub available: String,
    pub entries: String,
    pub held: String,
    pub open_holds: String,
}

/// A sent (or still sending) withdrawal and the leg of its transaction that paid its payer,
/// if the ledger holds one.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct WithdrawalLeg {
    pub id: i64,
    pub payer: String,
    pub chain: Chain,
    pub amount: String,
    pub status: String,
    pub tx: Option<String>,
    /// What the transaction moved to the payer, as stored.
    pub found: Option<String>,
}

/// A treasury and the USDC the ledger saw move in and out of it (amounts as stored); `inflow`
/// starts from its opening balance, if the follower recorded one.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct TreasuryFlows {
    pub chain: Chain,
    pub owner: String,
    pub usdc: String,
    pub inflow: String,
    pub outflow: String,
}

/// A live, successful leg out of a recorded treasury that no withdrawal or revenue release the
/// ledger recorded explains.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct UncausedOutflow {
    pub chain: Chain,
    pub treasury: String,
    pub tx: String,
    pub destination_owner: Option<String>,
    /// Base units, as stored.
    pub amount: String,
}

/// A `release_held_revenue` the chain ran that no recorded release sent (or one recorded as
/// failed): revenue no computation of the ledger released.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct UncomputedRelease {
    pub signature: String,
    /// The model account (its address).
    pub model: Option<String>,
    /// Base units, as stored.
    pub amount: Option<String>,
}

/// What moved into and out of one token account, summed by cause: `(cause, amount as stored)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowSums {
    /// `payment` (a paid call's settlement), `held_released` (revenue the treasury held
    /// before tokenization), the instruction that moved it, or `unexplained` (none of these:
    /// a donation, say).
    pub inflow: Vec<(String, String)>,
    /// `buyback` (USDC swapped into the pool), `protocol_fee` (the buyback's leg to the
    /// treasury), `claim` (the creator's share), another instruction, or `other` when none.
    pub outflow: Vec<(String, String)>,
}

/// A leg with whether a model-vault instruction moved it and whether the operator recorded it.
const LEGS: &str = "
    SELECT t.chain, t.tx, t.leg, t.block, t.kind, t.mint, t.success, t.source_owner, t.destination_owner,
           t.amount::text AS amount,
           EXISTS (SELECT 1 FROM ledger.vault_events e
                   WHERE e.signature = t.tx AND e.success AND e.status <> 'rolled_back'
                     AND t.chain = 'solana' AND t.leg LIKE e.ix_path || '.%') AS program_moved,
           EXISTS (SELECT 1 FROM ledger.operator_transfers o
                   WHERE o.chain = t.chain AND o.tx = t.tx) AS operator
    FROM ledger.transfers t";

/// Live legs of successful transactions into (`destination`) or out of (`source`) an account,
/// summed by cause: the model-vault instruction that moved the leg itself (the innermost whose
/// path is the leg's prefix), else (an inflow) a sold charge whose settlement it is
/// (`payment`), else unexplained (inflows) or other (outflows).
const FLOWS_BY_CAUSE: &str = "
    SELECT CASE WHEN e.kind = $4 AND t.destination_owner = $2 THEN $5
                WHEN e.kind = $6 THEN $7
                WHEN e.kind IS NOT NULL THEN e.kind
                WHEN $10 AND EXISTS (SELECT 1 FROM ledger.charges c
                                     WHERE c.chain = t.chain AND c.settlement_tx = t.tx
                                       AND c.pay_to = t.destination_owner AND c.status = ANY($9)) THEN $8
                ELSE $3 END,
           sum(t.amount)::text
    FROM ledger.transfers t
    LEFT JOIN LATERAL (SELECT kind FROM ledger.vault_events v
                       WHERE v.signature = t.tx AND v.success AND v.status <> 'rolled_back'
                         AND t.leg LIKE v.ix_path || '.%'
                       ORDER BY length(v.ix_path) DESC LIMIT 1) e ON true
    WHERE t.chain = 'solana' AND t.{side} = $1 AND t.success AND t.status <> 'rolled_back'
    GROUP BY 1 ORDER BY 1";

impl Ledger {
    /// Every settled or completed charge in `scope`, oldest first: of `scope.model`, settled
    /// within `[from, to)` by its settlement's block time.
    pub async fn settled_charges(
        &self,
        scope: &AuditScope,
    ) -> Result<Vec<SettledCharge>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT * FROM (
                 SELECT c.id, coalesce(c.model, c.purpose) AS model, c.purpose, c.chain, c.payer, c.pay_to,
                        c.amount::text AS amount, c.settlement_tx,
                        coalesce((SELECT min(coalesce(t.block_time, t.first_seen)) FROM ledger.transfers t
                                  WHERE t.chain = c.chain AND t.tx = c.settlement_tx), c.created_at) AS at
                 FROM ledger.charges c
                 WHERE c.status = ANY($4) AND ($1::text IS NULL OR c.model = $1)) c
             WHERE ($2::timestamptz IS NULL OR at >= $2) AND ($3::timestamptz IS NULL OR at < $3)
             ORDER BY id",
        )
        .bind(&scope.model)
        .bind(scope.from)
        .bind(scope.to)
        .bind(names(&SOLD))
        .fetch_all(self.pool())
        .await?)
    }

    /// Every live leg of the settlement transactions of `charges`.
    pub async fn legs_of(&self, charges: &[SettledCharge]) -> Result<Vec<Leg>, LedgerError> {
        let (chains, txs): (Vec<&str>, Vec<String>) = charges
            .iter()
            .filter_map(|c| Some((c.chain.as_str(), c.settlement_tx.clone()?)))
            .unzip();
        Ok(sqlx::query_as(&format!(
            "{LEGS} JOIN (SELECT DISTINCT * FROM UNNEST($1::text[], $2::text[])) AS s (chain, tx)
                 ON s.chain::ledger.chain = t.chain AND s.tx = t.tx
             WHERE t.status <> 'rolled_back' ORDER BY t.chain, t.tx, t.leg"
        ))
        .bind(chains)
        .bind(txs)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every live, successful leg of `usdc` (transfers and mints) into one of `owners` on
    /// `chain`, with a block time (or, lacking one, the time it was first seen) within
    /// `[from, to)`.
    pub async fn inflows(
        &self,
        chain: Chain,
        owners: &[String],
        usdc: &[String],
        from: Option<chrono::DateTime<chrono::Utc>>,
        to: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<Leg>, LedgerError> {
        Ok(sqlx::query_as(&format!(
            "{LEGS} WHERE t.chain = $1 AND t.destination_owner = ANY($2) AND t.mint = ANY($3)
               AND t.success AND t.status <> 'rolled_back' AND t.kind = ANY($6)
               AND ($4::timestamptz IS NULL OR coalesce(t.block_time, t.first_seen) >= $4)
               AND ($5::timestamptz IS NULL OR coalesce(t.block_time, t.first_seen) < $5)
             ORDER BY t.block, t.tx, t.leg"
        ))
        .bind(chain)
        .bind(owners)
        .bind(usdc)
        .bind(from)
        .bind(to)
        .bind(names(
            &[&TransferKind::TRANSFERS[..], &TransferKind::MINTS].concat(),
        ))
        .fetch_all(self.pool())
        .await?)
    }

    /// Every transaction of `chain` the ledger holds live transfer rows of.
    pub async fn transactions(&self, chain: Chain) -> Result<Vec<String>, LedgerError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT tx FROM ledger.transfers WHERE chain = $1 AND status <> 'rolled_back' ORDER BY tx",
        )
        .bind(chain)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every settled Base charge's settlement, payer and EIP-3009 nonce.
    pub async fn base_nonces(&self) -> Result<Vec<(String, String, String)>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT settlement_tx, payer, eip3009_nonce FROM ledger.charges
             WHERE chain = 'base' AND settlement_tx IS NOT NULL AND eip3009_nonce IS NOT NULL
               AND status = ANY($1) ORDER BY id",
        )
        .bind(names(&SOLD))
        .fetch_all(self.pool())
        .await?)
    }

    /// The live transfer rows of one transaction.
    pub async fn transaction_rows(&self, chain: Chain, tx: &str) -> Result<Vec<Leg>, LedgerError> {
        Ok(sqlx::query_as(&format!(
            "{LEGS} WHERE t.chain = $1 AND t.tx = $2 AND t.status <> 'rolled_back' ORDER BY t.leg"
        ))
        .bind(chain)
        .bind(tx)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every model the ledger saw registered or tokenized on chain.
    pub async fn known_models(&self) -> Result<Vec<KnownModel>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT model, min(slot) FILTER (WHERE kind = $2) AS tokenized_at FROM ledger.vault_events
             WHERE model IS NOT NULL AND kind = ANY($1) AND success AND status <> 'rolled_back'
             GROUP BY model ORDER BY model",
        )
        .bind(names(&[VaultEventKind::Register, VaultEventKind::Tokenize]))
        .bind(VaultEventKind::Tokenize.as_ref())
        .fetch_all(self.pool())
        .await?)
    }

    /// The models a catalog sells for a creator, with their vault's owner.
    pub async fn catalog_models(&self) -> Result<Vec<(String, String)>, LedgerError> {
        Ok(
            sqlx::query_as("SELECT model, vault_owner FROM ledger.model_creators ORDER BY model")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// The treasuries a gateway recorded: `(chain, owner, usdc)`.
    pub async fn treasuries(&self) -> Result<Vec<(Chain, String, String)>, LedgerError> {
        Ok(
            sqlx::query_as(
                "SELECT chain, owner, usdc FROM ledger.treasuries ORDER BY chain, owner",
            )
            .fetch_all(self.pool())
            .await?,
        )
    }

    /// Records a transfer the operator made to or from its own treasury, and why (once per
    /// transaction; recording it again changes the note).
    pub async fn record_operator_transfer(
        &self,
        chain: Chain,
        tx: &str,
        note: &str,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO ledger.operator_transfers (chain, tx, note) VALUES ($1, $2, $3)
             ON CONFLICT (chain, tx) DO UPDATE SET note = $3, recorded_at = now()",
        )
        .bind(chain)
        .bind(tx)
        .bind(note)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Inflows and outflows of token account `account` by cause; legs to `treasury` (an owner)
    /// in a buyback are its protocol fee.
    pub async fn flow_sums(&self, account: &str, treasury: &str) -> Result<FlowSums, LedgerError> {
        let mut sides = Vec::with_capacity(2);
        for (side, unexplained) in [
            ("destination", FlowCause::Unexplained),
            ("source", FlowCause::Other),
        ] {
            let rows: Vec<(String, String)> =
                sqlx::query_as(&FLOWS_BY_CAUSE.replace("{side}", side))
                    .bind(account)
                    .bind(treasury)
                    .bind(unexplained.as_ref())
                    .bind(VaultEventKind::Buyback.as_ref())
                    .bind(FlowCause::ProtocolFee.as_ref())
                    .bind(VaultEventKind::Release.as_ref())
                    .bind(FlowCause::HeldReleased.as_ref())
                    .bind(FlowCause::Payment.as_ref())
                    .bind(names(&SOLD))
                    .bind(side == "destination")
                    .fetch_all(self.pool())
                    .await?;
            sides.push(rows);
        }
        let outflow = sides.pop().unwrap_or_default();
        let inflow = sides.pop().unwrap_or_default();
        Ok(FlowSums { inflow, outflow })
    }

    /// What was minted of `mint`, and burned by a model-vault instruction (a buyback) and by
    /// anyone else (a holder), as the ledger recorded them, as stored; `None` when nothing was.
    pub async fn mint_totals(&self, mint: &str) -> Result<MintTotals, LedgerError> {
        Ok(sqlx::query_as(&format!(
            "SELECT sum(t.amount::numeric) FILTER (WHERE t.kind = ANY($2))::text AS minted,
                    sum(t.amount::numeric) FILTER (WHERE t.kind = ANY($3) AND t.program_moved)::text AS burned_by_program,
                    sum(t.amount::numeric) FILTER (WHERE t.kind = ANY($3) AND NOT t.program_moved)::text AS burned_by_others
             FROM ({LEGS} WHERE t.mint = $1 AND t.success AND t.status <> 'rolled_back') t"
        ))
        .bind(mint)
        .bind(names(&TransferKind::MINTS))
        .bind(names(&TransferKind::BURNS))
        .fetch_one(self.pool())
        .await?)
    }

    /// Payer balances summed per chain.
    pub async fn balance_totals(&self) -> Result<Vec<BalanceTotal>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT chain, count(*) AS payers, sum(available)::text AS available, sum(held)::text AS held
             FROM ledger.balances GROUP BY chain ORDER BY chain",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Every balance that is not the sum of its entries, or whose held amount is not its open
    /// holds'.
    pub async fn balance_drift(&self) -> Result<Vec<BalanceDrift>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT b.payer, b.chain, b.available::text AS available,
                    coalesce(e.sum, 0)::text AS entries, b.held::text AS held,
                    coalesce(h.sum, 0)::text AS open_holds
             FROM ledger.balances b
             LEFT JOIN (SELECT payer, chain, sum(amount) FROM ledger.balance_entries GROUP BY 1, 2) e
                 USING (payer, chain)
             LEFT JOIN (SELECT payer, chain, sum(amount) FROM ledger.holds WHERE status = $1 GROUP BY 1, 2) h
                 USING (payer, chain)
             WHERE b.available <> coalesce(e.sum, 0) OR b.held <> coalesce(h.sum, 0)
             ORDER BY b.chain, b.payer",
        )
        .bind(crate::HoldStatus::Open)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every withdrawal not failed, and every failed one that was signed, with what its
    /// transaction paid its payer.
    pub async fn withdrawal_legs(&self) -> Result<Vec<WithdrawalLeg>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT w.id, w.payer, w.chain, w.amount::text AS amount, w.status, w.tx,
                    (SELECT sum(t.amount)::text FROM ledger.transfers t
                     WHERE t.chain = w.chain AND t.tx = w.tx AND t.destination_owner = w.payer
                       AND t.success AND t.status <> 'rolled_back' AND t.kind = ANY($2)) AS found
             FROM ledger.withdrawals w WHERE w.status <> $1 OR w.tx IS NOT NULL ORDER BY w.id",
        )
        .bind(crate::PayoutStatus::Failed)
        .bind(names(&TransferKind::TRANSFERS))
        .fetch_all(self.pool())
        .await?)
    }

    /// Records a treasury a gateway is configured with (once).
    pub async fn record_treasury(
        &self,
        chain: Chain,
        owner: &str,
        usdc: &str,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO ledger.treasuries (chain, owner, usdc) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(chain)
        .bind(owner)
        .bind(usdc)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every recorded treasury with the USDC the indexed, live, successful transfers moved
    /// into it (minted included) and out of it.
    pub async fn treasury_flows(&self) -> Result<Vec<TreasuryFlows>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT r.chain, r.owner, r.usdc,
                    (coalesce(sum(t.amount) FILTER (WHERE t.destination_owner = r.owner), 0)
                     + coalesce((SELECT o.amount FROM ledger.opening_balances o
                                 WHERE o.chain = r.chain AND o.owner = r.owner AND o.mint = r.usdc), 0))::text AS inflow,
                    coalesce(sum(t.amount) FILTER (WHERE t.source_owner = r.owner), 0)::text AS outflow
             FROM ledger.treasuries r
             LEFT JOIN ledger.transfers t
               ON t.chain = r.chain AND t.mint = r.usdc AND t.success AND t.status <> 'rolled_back'
              AND (t.destination_owner = r.owner OR t.source_owner = r.owner)
             GROUP BY r.chain, r.owner, r.usdc ORDER BY r.chain, r.owner",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Every live, successful transfer out of a recorded treasury whose transaction is neither a
    /// withdrawal, a revenue release nor an operator's transfer the ledger recorded (failed ones included: a failed
    /// payout the chain paid has no cause either).
    pub async fn uncaused_treasury_outflows(&self) -> Result<Vec<UncausedOutflow>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT t.chain, r.owner AS treasury, t.tx, t.destination_owner, sum(t.amount)::text AS amount
             FROM ledger.treasuries r
             JOIN ledger.transfers t ON t.chain = r.chain AND t.mint = r.usdc AND t.source_owner = r.owner
             WHERE t.success AND t.status <> 'rolled_back' AND t.kind = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM ledger.withdrawals w
                               WHERE w.chain = t.chain AND w.tx = t.tx AND w.status <> $2)
               AND NOT EXISTS (SELECT 1 FROM ledger.revenue_releases v
                               WHERE t.chain = 'solana' AND v.tx = t.tx AND v.status <> $2)
               AND NOT EXISTS (SELECT 1 FROM ledger.operator_transfers o
                               WHERE o.chain = t.chain AND o.tx = t.tx)
             GROUP BY t.chain, r.owner, t.tx, t.destination_owner ORDER BY t.chain, t.tx",
        )
        .bind(names(&TransferKind::TRANSFERS))
        .bind(crate::PayoutStatus::Failed)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every live, successful `release_held_revenue` the indexer saw whose transaction is not a
    /// release the ledger recorded as sending or sent.
    pub async fn uncomputed_releases(&self) -> Result<Vec<UncomputedRelease>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT e.signature, e.model, e.usdc_amount::text AS amount FROM ledger.vault_events e
             WHERE e.kind = $1 AND e.success AND e.status <> 'rolled_back'
               AND NOT EXISTS (SELECT 1 FROM ledger.revenue_releases v
                               WHERE v.tx = e.signature AND v.status <> $2)
             ORDER BY e.slot, e.signature",
        )
        .bind(VaultEventKind::Release.as_ref())
        .bind(crate::PayoutStatus::Failed)
        .fetch_all(self.pool())
        .await?)
    }
}
