//! Reconciliation of what the gateway sold with what the chains say: every settled charge
//! matched to its on-chain transfer (same transaction, amount and destination), and every
//! inflow to a payTo address explained by a charge or a model-vault instruction.

use std::collections::{HashMap, HashSet};

use crate::{Chain, Ledger, LedgerError};

/// Amounts go out as decimal strings, like every other amount the ledger serves: a u64 does not
/// survive a trip through a JavaScript number.
fn decimal<S: serde::Serializer>(amount: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(amount)
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reconciliation {
    Matched,
    /// No transfer of the settlement transaction is in the ledger (yet).
    Missing,
    AmountMismatch {
        #[serde(serialize_with = "decimal")]
        found: u64,
    },
    WrongDestination {
        found: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChargeCheck {
    pub charge_id: i64,
    pub model: String,
    pub chain: Chain,
    pub payer: String,
    pub pay_to: String,
    #[serde(serialize_with = "decimal")]
    pub amount: u64,
    pub settlement_tx: Option<String>,
    pub result: Reconciliation,
}

/// A transfer into a payTo address that no charge and no model-vault instruction explains.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UnexplainedInflow {
    pub chain: Chain,
    pub tx: String,
    pub destination_owner: String,
    #[serde(serialize_with = "decimal")]
    pub amount: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChargeAudit {
    pub charges: Vec<ChargeCheck>,
    pub unexplained_inflows: Vec<UnexplainedInflow>,
}

impl ChargeAudit {
    pub fn reconciled(&self) -> bool {
        self.unexplained_inflows.is_empty()
            && self
                .charges
                .iter()
                .all(|c| c.result == Reconciliation::Matched)
    }
}

/// Which charges and inflows an audit looks at.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct AuditScope {
    pub model: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

type ChargeRow = (i64, String, Chain, String, String, String, Option<String>);
type LegRow = (Chain, String, Option<String>, String);

impl Ledger {
    /// Checks every settled or completed charge in `scope` against the indexed transfers.
    pub async fn audit_charges(&self, scope: &AuditScope) -> Result<ChargeAudit, LedgerError> {
        let charges: Vec<ChargeRow> = sqlx::query_as(
            "SELECT id, model, chain, payer, pay_to, amount::text, settlement_tx FROM ledger.charges
             WHERE status IN ('settled', 'completed')
               AND ($1::text IS NULL OR model = $1)
               AND ($2::timestamptz IS NULL OR created_at >= $2)
               AND ($3::timestamptz IS NULL OR created_at < $3)
             ORDER BY id",
        )
        .bind(&scope.model)
        .bind(scope.from)
        .bind(scope.to)
        .fetch_all(self.pool())
        .await?;
        // Live legs into anyone, keyed by transaction.
        let legs: Vec<LegRow> = sqlx::query_as(
            "SELECT chain, tx, destination_owner, amount::text FROM ledger.transfers
             WHERE status <> 'rolled_back' AND kind IN ('transfer', 'transfer_checked', 'erc20_transfer')
               AND ($1::timestamptz IS NULL OR block_time IS NULL OR block_time >= $1)
               AND ($2::timestamptz IS NULL OR block_time IS NULL OR block_time < $2)",
        )
        .bind(scope.from)
        .bind(scope.to)
        .fetch_all(self.pool())
        .await?;
        // (chain, tx) → its legs as (destination owner, amount)
        type Legs = Vec<(Option<String>, u64)>;
        let mut by_tx: HashMap<(Chain, String), Legs> = HashMap::new();
        for (chain, tx, owner, amount) in &legs {
            by_tx
                .entry((*chain, tx.clone()))
                .or_default()
                .push((owner.clone(), amount.parse().unwrap_or(0)));
        }
        let mut audit = ChargeAudit::default();
        let mut settlements = HashSet::new();
        let mut pay_tos = HashSet::new();
        for (id, model, chain, payer, pay_to, amount, settlement_tx) in charges {
            let amount: u64 = amount.parse().unwrap_or(0);
            pay_tos.insert((chain, pay_to.clone()));
            let found = settlement_tx
                .as_ref()
                .and_then(|tx| by_tx.get(&(chain, tx.clone())));
            let result = match found {
                None => Reconciliation::Missing,
                Some(legs) => match legs
                    .iter()
                    .find(|(owner, _)| owner.as_deref() == Some(pay_to.as_str()))
                {
                    Some((_, found)) if *found == amount => Reconciliation::Matched,
                    Some((_, found)) => Reconciliation::AmountMismatch { found: *found },
                    None => Reconciliation::WrongDestination {
                        found: legs
                            .first()
                            .and_then(|(o, _)| o.clone())
                            .unwrap_or_default(),
                    },
                },
            };
            if let Some(tx) = &settlement_tx {
                settlements.insert((chain, tx.clone()));
            }
            audit.charges.push(ChargeCheck {
                charge_id: id,
                model,
                chain,
                payer,
                pay_to,
                amount,
                settlement_tx,
                result,
            });
        }
        let program_txs: HashSet<String> =
            sqlx::query_scalar("SELECT DISTINCT signature FROM ledger.vault_events")
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .collect();
        for (chain, tx, owner, amount) in legs {
            let Some(owner) = owner else { continue };
            let explained = settlements.contains(&(chain, tx.clone())) || program_txs.contains(&tx);
            if pay_tos.contains(&(chain, owner.clone())) && !explained {
                audit.unexplained_inflows.push(UnexplainedInflow {
                    chain,
                    tx,
                    destination_owner: owner,
                    amount: amount.parse().unwrap_or(0),
                });
            }
        }
        Ok(audit)
    }
}

/// What the ledger says happened to one token account, by cause: the model-vault instruction
/// of each movement's transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountFlows {
    /// What came in: `payment` (no model-vault instruction: a paid call's settlement),
    /// `held_released` (revenue the treasury held before tokenization), or the instruction.
    pub inflow: Vec<(String, u128)>,
    /// What left: `buyback` (USDC swapped into the pool), `protocol_fee` (the buyback's leg to
    /// the treasury), `claim` (the creator's share), another instruction, or `other` when none.
    pub outflow: Vec<(String, u128)>,
}

fn amount_of(flows: &[(String, u128)], cause: &str) -> u128 {
    flows
        .iter()
        .filter(|(k, _)| k == cause)
        .map(|(_, a)| *a)
        .sum()
}

impl AccountFlows {
    pub fn inflow_total(&self) -> u128 {
        self.inflow.iter().map(|(_, a)| *a).sum()
    }

    /// The balance the ledger implies.
    pub fn balance(&self) -> i128 {
        self.inflow_total() as i128 - self.outflow.iter().map(|(_, a)| *a as i128).sum::<i128>()
    }

    pub fn inflow_of(&self, cause: &str) -> u128 {
        amount_of(&self.inflow, cause)
    }

    pub fn outflow_of(&self, cause: &str) -> u128 {
        amount_of(&self.outflow, cause)
    }
}

/// Live legs of successful transactions into (`destination`) or out of (`source`) an account,
/// summed by cause.
const FLOWS_BY_CAUSE: &str = "
    SELECT CASE WHEN e.kind = 'buyback' AND t.destination_owner = $2 THEN 'protocol_fee'
                WHEN e.kind = 'release' THEN 'held_released'
                ELSE coalesce(e.kind, $3) END,
           sum(t.amount)::text
    FROM ledger.transfers t
    LEFT JOIN LATERAL (SELECT kind FROM ledger.vault_events v
                       WHERE v.signature = t.tx AND v.status <> 'rolled_back' LIMIT 1) e ON true
    WHERE t.{side} = $1 AND t.success AND t.status <> 'rolled_back'
    GROUP BY 1 ORDER BY 1";

impl Ledger {
    /// Inflows and outflows of token account `account` by cause; legs to `treasury` (an owner)
    /// in a buyback are its protocol fee.
    pub async fn account_flows(
        &self,
        account: &str,
        treasury: &str,
    ) -> Result<AccountFlows, LedgerError> {
        let mut sides = Vec::with_capacity(2);
        for (side, unexplained) in [("destination", "payment"), ("source", "other")] {
            let rows: Vec<(String, String)> =
                sqlx::query_as(&FLOWS_BY_CAUSE.replace("{side}", side))
                    .bind(account)
                    .bind(treasury)
                    .bind(unexplained)
                    .fetch_all(self.pool())
                    .await?;
            sides.push(
                rows.into_iter()
                    .map(|(k, a)| (k, a.parse().unwrap_or(0)))
                    .collect(),
            );
        }
        let outflow = sides.pop().unwrap_or_default();
        let inflow = sides.pop().unwrap_or_default();
        Ok(AccountFlows { inflow, outflow })
    }

    /// (minted, burned) of `mint` as the ledger recorded them.
    pub async fn mint_totals(&self, mint: &str) -> Result<(u128, u128), LedgerError> {
        let (minted, burned): (Option<String>, Option<String>) = sqlx::query_as(
            "SELECT sum(amount) FILTER (WHERE kind LIKE 'mint_to%')::text, sum(amount) FILTER (WHERE kind LIKE 'burn%')::text
             FROM ledger.transfers WHERE mint = $1 AND success AND status <> 'rolled_back'",
        )
        .bind(mint)
        .fetch_one(self.pool())
        .await?;
        let parse = |v: Option<String>| v.and_then(|t| t.parse().ok()).unwrap_or(0);
        Ok((parse(minted), parse(burned)))
    }
}
