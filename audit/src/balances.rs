//! The balance rail's side of the audit: what payers hold is a liability of the treasury on
//! their chain (available + held, summed per chain); every balance is the sum of its entries
//! and its held amount the sum of its open holds; every withdrawal not failed is matched to the
//! transfer that paid its wallet.

use ledger::{Chain, Ledger};
use serde::Serialize;

use crate::{charges::compare, Amount, AuditError, Reconciliation};

/// What payers hold on one chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainBalances {
    pub chain: Chain,
    pub payers: i64,
    pub available: Amount,
    pub held: Amount,
}

/// A balance that is not what its entries say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub payer: String,
    pub chain: Chain,
    pub available: Amount,
    pub entries: Amount,
    pub held: Amount,
    pub open_holds: Amount,
}

/// A withdrawal against the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WithdrawalCheck {
    pub withdrawal_id: i64,
    pub payer: String,
    pub chain: Chain,
    pub amount: Amount,
    pub status: String,
    pub tx: Option<String>,
    #[serde(flatten)]
    pub result: Reconciliation,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BalanceAudit {
    /// Per chain: what its treasury owes payers.
    pub liabilities: Vec<ChainBalances>,
    pub drift: Vec<Drift>,
    pub withdrawals: Vec<WithdrawalCheck>,
}

impl BalanceAudit {
    pub fn reconciled(&self) -> bool {
        self.drift.is_empty()
            && self
                .withdrawals
                .iter()
                .all(|w| w.result == Reconciliation::Matched)
    }
}

pub async fn audit_balances(ledger: &Ledger) -> Result<BalanceAudit, AuditError> {
    let liabilities = ledger
        .balance_totals()
        .await?
        .into_iter()
        .map(|t| ChainBalances {
            chain: t.chain,
            payers: t.payers,
            available: Amount::read(&t.available),
            held: Amount::read(&t.held),
        })
        .collect();
    let drift = ledger
        .balance_drift()
        .await?
        .into_iter()
        .map(|d| Drift {
            payer: d.payer,
            chain: d.chain,
            available: Amount::read(&d.available),
            entries: Amount::read(&d.entries),
            held: Amount::read(&d.held),
            open_holds: Amount::read(&d.open_holds),
        })
        .collect();
    let withdrawals = ledger
        .withdrawal_legs()
        .await?
        .into_iter()
        .map(|w| {
            let amount = Amount::read(&w.amount);
            let result = match &w.found {
                Some(found) => compare(&amount, &Amount::read(found)),
                None => Reconciliation::Missing,
            };
            WithdrawalCheck {
                withdrawal_id: w.id,
                payer: w.payer,
                chain: w.chain,
                amount,
                status: w.status,
                tx: w.tx,
                result,
            }
        })
        .collect();
    Ok(BalanceAudit {
        liabilities,
        drift,
        withdrawals,
    })
}
