//! The balance rail's side of the audit: what payers hold is a liability of the treasury on
//! their chain (available + held, summed per chain), which the USDC the ledger saw that
//! treasury receive and send must cover; every balance is the sum of its entries and its held
//! amount the sum of its open holds; every withdrawal not failed is matched to the transfer
//! that paid its wallet.

use ledger::{Chain, Ledger, PayoutStatus};
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

/// A treasury's USDC (by the transfers the ledger indexed) against what it owes: payers on its
/// chain, and, on Solana (where releases are paid), the revenue owed to models' vaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub chain: Chain,
    pub treasury: String,
    /// In − out; unreadable when the ledger's sums are not amounts, or more left than came in
    /// (history the ledger did not see).
    pub holds: Amount,
    pub owes_payers: Amount,
    pub owes_vaults: Amount,
    /// Payers + vaults.
    pub owes: Amount,
    /// How much more it owes than it holds.
    pub short: Option<u64>,
    /// It holds at least what it owes (both read).
    pub covered: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BalanceAudit {
    /// Per chain: what its treasury owes payers.
    pub liabilities: Vec<ChainBalances>,
    /// Per treasury: whether what it holds covers that.
    pub coverage: Vec<Coverage>,
    pub drift: Vec<Drift>,
    pub withdrawals: Vec<WithdrawalCheck>,
}

impl BalanceAudit {
    pub fn reconciled(&self) -> bool {
        self.drift.is_empty()
            && self.coverage.iter().all(|c| c.covered)
            && self
                .withdrawals
                .iter()
                .all(|w| w.result == Reconciliation::Matched)
    }
}

/// What a treasury holds by the ledger's flows: in − out; unreadable when the sums are not
/// amounts, or more left than came in (history the ledger did not see).
pub(crate) fn held_by(t: &ledger::TreasuryFlows) -> Amount {
    match (
        Amount::read(&t.inflow).units(),
        Amount::read(&t.outflow).units(),
    ) {
        (Some(inflow), Some(outflow)) => inflow
            .checked_sub(outflow)
            .map(Amount::Units)
            .unwrap_or_else(|| Amount::Unreadable(format!("{inflow} in − {outflow} out"))),
        _ => Amount::Unreadable(format!("{} in − {} out", t.inflow, t.outflow)),
    }
}

/// The balance rail's audit; `owed_to_vaults` is what the Solana treasury owes models' vaults
/// (see [`crate::revenue`]).
pub async fn audit_balances(
    ledger: &Ledger,
    owed_to_vaults: &Amount,
) -> Result<BalanceAudit, AuditError> {
    let liabilities: Vec<ChainBalances> = ledger
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
    let treasuries = ledger.treasury_flows().await?;
    // A chain whose payers hold a balance but whose treasury no gateway recorded: nothing
    // can be said to cover it.
    let unrecorded = liabilities
        .iter()
        .filter(|l| !treasuries.iter().any(|t| t.chain == l.chain))
        .map(|l| Coverage {
            chain: l.chain,
            treasury: String::new(),
            holds: Amount::Unreadable("no treasury recorded for this chain".into()),
            owes_payers: l.available.plus(&l.held),
            owes_vaults: Amount::Units(0),
            owes: l.available.plus(&l.held),
            short: None,
            covered: false,
        })
        .collect::<Vec<_>>();
    let coverage = treasuries
        .into_iter()
        .map(|t| {
            let owes_payers = liabilities
                .iter()
                .find(|l| l.chain == t.chain)
                .map_or(Amount::Units(0), |l| l.available.plus(&l.held));
            let owes_vaults = match t.chain {
                Chain::Solana => owed_to_vaults.clone(),
                Chain::Base => Amount::Units(0),
            };
            let owes = owes_payers.plus(&owes_vaults);
            let holds = held_by(&t);
            let short = match (holds.units(), owes.units()) {
                (Some(holds), Some(owes)) if owes > holds => Some(owes - holds),
                _ => None,
            };
            Coverage {
                chain: t.chain,
                treasury: t.owner,
                covered: short.is_none() && holds.units().is_some() && owes.units().is_some(),
                holds,
                owes_payers,
                owes_vaults,
                owes,
                short,
            }
        })
        .chain(unrecorded)
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
            // A failed withdrawal was credited back: the chain must not have paid it.
            let failed = w.status == PayoutStatus::Failed.as_ref();
            let result = match (&w.found, failed) {
                (Some(found), false) => compare(&amount, &Amount::read(found)),
                (None, false) => Reconciliation::Missing,
                (None, true) => Reconciliation::Matched,
                (Some(found), true) => compare(&Amount::Units(0), &Amount::read(found)),
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
        coverage,
        drift,
        withdrawals,
    })
}
