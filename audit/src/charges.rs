//! Reconciliation of what the gateway sold with what the chains say: every settled charge
//! matched to its on-chain transfer (same transaction, amount and destination), and every
//! inflow to a payTo address explained by a charge or a model-vault instruction.

use std::collections::{HashMap, HashSet};

use ledger::{AuditScope, Chain, Ledger};
use serde::{ser::SerializeMap, Serialize, Serializer};

use crate::{Amount, AuditError};

/// How a charge compares with the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// The charge's amount, or its transfer's, is not a number of base units: what the ledger
    /// holds instead.
    UnreadableAmount {
        found: String,
    },
    /// It pays for what another row (`of`) already paid for.
    Duplicate {
        of: String,
    },
}

impl Reconciliation {
    /// The short name: `matched`, `missing`, `amount_mismatch`, `wrong_destination`,
    /// `unreadable_amount`, `duplicate`.
    pub fn name(&self) -> &'static str {
        match self {
            Reconciliation::Matched => "matched",
            Reconciliation::Missing => "missing",
            Reconciliation::AmountMismatch { .. } => "amount_mismatch",
            Reconciliation::WrongDestination { .. } => "wrong_destination",
            Reconciliation::UnreadableAmount { .. } => "unreadable_amount",
            Reconciliation::Duplicate { .. } => "duplicate",
        }
    }

    /// What a person needs to know beyond the name (empty when matched).
    pub fn detail(&self) -> String {
        match self {
            Reconciliation::Matched => String::new(),
            Reconciliation::Missing => "no transfer of the settlement on chain".into(),
            Reconciliation::AmountMismatch { found } => format!("chain moved {found}"),
            Reconciliation::WrongDestination { found } => format!("paid to {found}"),
            Reconciliation::UnreadableAmount { found } => {
                format!("the ledger holds {found}, not an amount of base units")
            }
            Reconciliation::Duplicate { of } => format!("{of} already paid for it"),
        }
    }
}

/// Flattened into its charge: `result` (the name), `found` where there is one (amounts as
/// decimal strings), and `detail`.
impl Serialize for Reconciliation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("result", self.name())?;
        match self {
            Reconciliation::AmountMismatch { found } => {
                map.serialize_entry("found", &found.to_string())?
            }
            Reconciliation::WrongDestination { found }
            | Reconciliation::UnreadableAmount { found }
            | Reconciliation::Duplicate { of: found } => map.serialize_entry("found", found)?,
            Reconciliation::Matched | Reconciliation::Missing => {}
        }
        map.serialize_entry("detail", &self.detail())?;
        map.end()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChargeCheck {
    pub charge_id: i64,
    pub model: String,
    pub chain: Chain,
    pub payer: String,
    pub pay_to: String,
    pub amount: Amount,
    pub settlement_tx: Option<String>,
    #[serde(flatten)]
    pub result: Reconciliation,
}

/// A transfer into a payTo address that no charge and no model-vault instruction explains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnexplainedInflow {
    pub chain: Chain,
    pub tx: String,
    pub destination_owner: String,
    pub amount: Amount,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
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

/// Checks every settled or completed charge in `scope` against the indexed transfers.
pub async fn audit_charges(ledger: &Ledger, scope: &AuditScope) -> Result<ChargeAudit, AuditError> {
    let charges = ledger.settled_charges(scope).await?;
    let legs = ledger.payment_legs(scope).await?;
    // (chain, tx) → its legs as (destination owner, amount)
    type Legs = Vec<(Option<String>, Amount)>;
    let mut by_tx: HashMap<(Chain, String), Legs> = HashMap::new();
    for leg in &legs {
        by_tx
            .entry((leg.chain, leg.tx.clone()))
            .or_default()
            .push((leg.destination_owner.clone(), Amount::read(&leg.amount)));
    }
    let mut audit = ChargeAudit::default();
    let mut settlements = HashSet::new();
    let mut pay_tos = HashSet::new();
    for charge in charges {
        let amount = Amount::read(&charge.amount);
        pay_tos.insert((charge.chain, charge.pay_to.clone()));
        let found = charge
            .settlement_tx
            .as_ref()
            .and_then(|tx| by_tx.get(&(charge.chain, tx.clone())));
        let result = match found {
            None => Reconciliation::Missing,
            Some(legs) => match legs
                .iter()
                .find(|(owner, _)| owner.as_deref() == Some(charge.pay_to.as_str()))
            {
                Some((_, found)) => compare(&amount, found),
                None => Reconciliation::WrongDestination {
                    found: legs
                        .first()
                        .and_then(|(o, _)| o.clone())
                        .unwrap_or_else(|| "no destination the ledger knows".into()),
                },
            },
        };
        if let Some(tx) = &charge.settlement_tx {
            settlements.insert((charge.chain, tx.clone()));
        }
        audit.charges.push(ChargeCheck {
            charge_id: charge.id,
            model: charge.model,
            chain: charge.chain,
            payer: charge.payer,
            pay_to: charge.pay_to,
            amount,
            settlement_tx: charge.settlement_tx,
            result,
        });
    }
    let program_txs: HashSet<String> = ledger.program_signatures().await?.into_iter().collect();
    for leg in legs {
        let Some(owner) = leg.destination_owner else {
            continue;
        };
        let explained =
            settlements.contains(&(leg.chain, leg.tx.clone())) || program_txs.contains(&leg.tx);
        if pay_tos.contains(&(leg.chain, owner.clone())) && !explained {
            audit.unexplained_inflows.push(UnexplainedInflow {
                chain: leg.chain,
                tx: leg.tx,
                destination_owner: owner,
                amount: Amount::read(&leg.amount),
            });
        }
    }
    Ok(audit)
}

/// A charge's amount against its transfer's: equal, different, or one of them unreadable.
pub(crate) fn compare(charged: &Amount, moved: &Amount) -> Reconciliation {
    match (charged, moved) {
        (Amount::Units(charged), Amount::Units(moved)) if charged == moved => {
            Reconciliation::Matched
        }
        (Amount::Units(_), Amount::Units(moved)) => {
            Reconciliation::AmountMismatch { found: *moved }
        }
        (Amount::Unreadable(text), _) | (_, Amount::Unreadable(text)) => {
            Reconciliation::UnreadableAmount {
                found: text.clone(),
            }
        }
    }
}
