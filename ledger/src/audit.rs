//! Reconciliation of what the gateway sold with what the chains say: every settled charge
//! matched to its on-chain transfer (same transaction, amount and destination), and every
//! inflow to a payTo address explained by a charge or a model-vault instruction.

use std::collections::{HashMap, HashSet};

use crate::{Chain, Ledger, LedgerError};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reconciliation {
    Matched,
    /// No transfer of the settlement transaction is in the ledger (yet).
    Missing,
    AmountMismatch {
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

/// What the ledger says happened to one token account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountFlows {
    /// Everything that came in.
    pub inflow: u128,
    /// What left, by the model-vault instruction of its transaction (`buyback`, `claim`, …;
    /// `other` when none).
    pub outflow: Vec<(String, u128)>,
}

impl AccountFlows {
    /// The balance the ledger implies.
    pub fn balance(&self) -> i128 {
        self.inflow as i128 - self.outflow.iter().map(|(_, a)| *a as i128).sum::<i128>()
    }
}

impl Ledger {
    /// Inflows and outflows of token account `account` (live legs of successful transactions).
    pub async fn account_flows(&self, account: &str) -> Result<AccountFlows, LedgerError> {
        let inflow: Option<String> = sqlx::query_scalar(
            "SELECT sum(amount)::text FROM ledger.transfers
             WHERE destination = $1 AND success AND status <> 'rolled_back'",
        )
        .bind(account)
        .fetch_one(self.pool())
        .await?;
        let outflow: Vec<(String, String)> = sqlx::query_as(
            "SELECT coalesce(e.kind, 'other'), sum(t.amount)::text FROM ledger.transfers t
             LEFT JOIN LATERAL (SELECT kind FROM ledger.vault_events v WHERE v.signature = t.tx LIMIT 1) e ON true
             WHERE t.source = $1 AND t.success AND t.status <> 'rolled_back'
             GROUP BY 1 ORDER BY 1",
        )
        .bind(account)
        .fetch_all(self.pool())
        .await?;
        Ok(AccountFlows {
            inflow: inflow.and_then(|t| t.parse().ok()).unwrap_or(0),
            outflow: outflow
                .into_iter()
                .map(|(k, a)| (k, a.parse().unwrap_or(0)))
                .collect(),
        })
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
