//! Reconciliation of what the gateway sold with what the chains say: every settled charge
//! paired with exactly one live leg of its settlement transaction — that chain's USDC, a
//! successful transaction, from its payer, to its payTo, for its amount — and its payTo one of
//! ours (a treasury of its chain, or its model's vault); and every USDC inflow to an address we
//! own (treasuries, every known model's vault and pool) explained by a charge's leg, a leg a
//! model-vault instruction itself moved, or a transfer the operator recorded.

use std::collections::{HashMap, HashSet};

use ledger::{AuditScope, Chain, Ledger, Leg, SettledCharge};
use serde::{ser::SerializeMap, Serialize, Serializer};
use solana_pubkey::Pubkey;

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
    /// The leg moved another token than the chain's USDC (the mint or contract it moved).
    WrongToken {
        found: String,
    },
    /// The settlement transaction failed on chain: nothing moved.
    FailedOnChain,
    /// The leg was paid by someone else than the charge's payer.
    WrongPayer {
        found: String,
    },
    /// The charge's payTo is no address of ours for it.
    NotOurs {
        found: String,
    },
}

impl Reconciliation {
    /// The short name: `matched`, `missing`, `amount_mismatch`, `wrong_destination`,
    /// `unreadable_amount`, `duplicate`, `wrong_token`, `failed_on_chain`, `wrong_payer`,
    /// `not_ours`.
    pub fn name(&self) -> &'static str {
        match self {
            Reconciliation::Matched => "matched",
            Reconciliation::Missing => "missing",
            Reconciliation::AmountMismatch { .. } => "amount_mismatch",
            Reconciliation::WrongDestination { .. } => "wrong_destination",
            Reconciliation::UnreadableAmount { .. } => "unreadable_amount",
            Reconciliation::Duplicate { .. } => "duplicate",
            Reconciliation::WrongToken { .. } => "wrong_token",
            Reconciliation::FailedOnChain => "failed_on_chain",
            Reconciliation::WrongPayer { .. } => "wrong_payer",
            Reconciliation::NotOurs { .. } => "not_ours",
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
            Reconciliation::WrongToken { found } => format!("the leg moved {found}, not USDC"),
            Reconciliation::FailedOnChain => "the settlement transaction failed on chain".into(),
            Reconciliation::WrongPayer { found } => format!("paid by {found}, not the payer"),
            Reconciliation::NotOurs { found } => {
                format!("payTo {found} is neither a treasury of its chain nor its model's vault")
            }
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
            | Reconciliation::Duplicate { of: found }
            | Reconciliation::WrongToken { found }
            | Reconciliation::WrongPayer { found }
            | Reconciliation::NotOurs { found } => map.serialize_entry("found", found)?,
            Reconciliation::Matched | Reconciliation::Missing | Reconciliation::FailedOnChain => {}
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

/// A USDC inflow to an address of ours that nothing explains.
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

/// What is ours, from what the ledger knows whatever the scope: the treasuries (and their
/// chain's USDC), every model a catalog sells for a creator and every model seen on chain.
struct Ours {
    /// Per chain: the USDC mints (contracts) and treasury owners.
    usdc: HashMap<Chain, HashSet<String>>,
    treasuries: HashMap<Chain, HashSet<String>>,
    /// Slug → the vault owner its catalog entry records.
    catalog: HashMap<String, String>,
    /// Every model account seen on chain, with the slot it was tokenized at (if it was).
    on_chain: HashMap<String, Option<i64>>,
    /// Slugs charges were made for.
    charged: HashSet<String>,
}

impl Ours {
    async fn read(ledger: &Ledger, charges: &[SettledCharge]) -> Result<Self, AuditError> {
        let mut usdc: HashMap<Chain, HashSet<String>> = HashMap::new();
        let mut treasuries: HashMap<Chain, HashSet<String>> = HashMap::new();
        for (chain, owner, mint) in ledger.treasuries().await? {
            usdc.entry(chain).or_default().insert(mint);
            treasuries.entry(chain).or_default().insert(owner);
        }
        let catalog = ledger.catalog_models().await?.into_iter().collect();
        Ok(Ours {
            usdc,
            treasuries,
            catalog,
            on_chain: ledger
                .known_models()
                .await?
                .into_iter()
                .map(|m| (m.model, m.tokenized_at))
                .collect(),
            charged: charges.iter().map(|c| c.model.clone()).collect(),
        })
    }

    fn knows(&self, slug: &str) -> bool {
        self.charged.contains(slug)
            || self.catalog.contains_key(slug)
            || self
                .on_chain
                .contains_key(&model_vault_client::model_pda(slug).to_string())
    }

    /// Whether `pay_to` is ours for `charge`, settled in slot (block) `block`: a treasury of
    /// its chain, or (a call on Solana) its model's vault — once the model was tokenized, when
    /// the chain showed the model (a vault before that is no payTo of ours).
    fn pay_to(&self, charge: &SettledCharge, block: i64) -> bool {
        let treasury = self
            .treasuries
            .get(&charge.chain)
            .is_some_and(|t| t.contains(&charge.pay_to));
        let model = model_vault_client::model_pda(&charge.model);
        let tokenized_then = match self.on_chain.get(&model.to_string()) {
            Some(tokenized_at) => tokenized_at.is_some_and(|slot| slot <= block),
            // A model the chain never showed: only the catalog says where its vault is.
            None => true,
        };
        let vault = charge.chain == Chain::Solana
            && charge.purpose == <&str>::from(ledger::Purpose::Call)
            && (self.catalog.get(&charge.model) == Some(&charge.pay_to)
                || vault_of(&model) == charge.pay_to)
            && tokenized_then;
        treasury || vault
    }

    /// The owners of USDC we watch on `chain`: its treasuries and, on Solana, the vault and
    /// pool of every model known (only `model`'s, and the treasuries, when scoped to one).
    fn watched(&self, chain: Chain, model: Option<&str>) -> Vec<String> {
        let mut owners: HashSet<String> = self.treasuries.get(&chain).cloned().unwrap_or_default();
        if chain == Chain::Solana {
            let mut models: HashSet<String> = self.on_chain.keys().cloned().collect();
            models.extend(
                self.catalog
                    .keys()
                    .map(|slug| model_vault_client::model_pda(slug).to_string()),
            );
            if let Some(slug) = model {
                models = [model_vault_client::model_pda(slug).to_string()].into();
            }
            for model in models {
                if let Ok(model) = model.parse::<Pubkey>() {
                    owners
                        .extend(model_vault_client::usdc_owners_of(&model).map(|o| o.to_string()));
                }
            }
            owners.extend(
                self.catalog
                    .iter()
                    .filter(|(slug, _)| model.is_none_or(|m| m == slug.as_str()))
                    .map(|(_, vault)| vault.clone()),
            );
        }
        owners.into_iter().collect()
    }
}

fn vault_of(model: &Pubkey) -> String {
    model_vault_client::usdc_owners_of(model)[0].to_string()
}

/// `charge` against the legs of its settlement transaction, and the leg the result is about
/// (paired with it when matched; the closest one otherwise).
fn pair<'a>(
    charge: &SettledCharge,
    legs: &'a [Leg],
    usdc: Option<&HashSet<String>>,
    used: &HashMap<(Chain, String, String), i64>,
) -> (Reconciliation, Option<&'a Leg>) {
    if legs.is_empty() {
        return (Reconciliation::Missing, None);
    }
    let to_pay_to: Vec<&Leg> = legs
        .iter()
        .filter(|l| l.destination_owner.as_deref() == Some(charge.pay_to.as_str()))
        .collect();
    if to_pay_to.is_empty() {
        let found = legs
            .iter()
            .find_map(|l| l.destination_owner.clone())
            .unwrap_or_else(|| "no destination the ledger knows".into());
        return (Reconciliation::WrongDestination { found }, None);
    }
    let amount = Amount::read(&charge.amount);
    // Each leg in the order of what is checked: the first thing wrong with the closest leg is
    // what is reported.
    let mut best: Option<(Reconciliation, &Leg)> = None;
    for leg in to_pay_to {
        let result = if !usdc.is_some_and(|u| u.contains(&leg.mint)) {
            Reconciliation::WrongToken {
                found: leg.mint.clone(),
            }
        } else if !leg.success {
            Reconciliation::FailedOnChain
        } else if leg.source_owner.as_deref() != Some(charge.payer.as_str()) {
            Reconciliation::WrongPayer {
                found: leg
                    .source_owner
                    .clone()
                    .unwrap_or_else(|| "an unknown owner".into()),
            }
        } else {
            match compare(&amount, &Amount::read(&leg.amount)) {
                Reconciliation::Matched => {
                    match used.get(&(leg.chain, leg.tx.clone(), leg.leg.clone())) {
                        Some(other) => Reconciliation::Duplicate {
                            of: format!("charge {other}"),
                        },
                        None => return (Reconciliation::Matched, Some(leg)),
                    }
                }
                mismatch => mismatch,
            }
        };
        if best.is_none() {
            best = Some((result, leg));
        }
    }
    match best {
        Some((result, leg)) => (result, Some(leg)),
        None => (Reconciliation::Missing, None),
    }
}

/// Checks every settled or completed charge in `scope` against the indexed legs, each paired
/// with one leg (all charges are paired, in order, so a leg two charges claim is found
/// whatever the scope), and every USDC inflow within the scope's times to an address of ours.
pub async fn audit_charges(ledger: &Ledger, scope: &AuditScope) -> Result<ChargeAudit, AuditError> {
    let all = ledger.settled_charges(&AuditScope::default()).await?;
    let ours = Ours::read(ledger, &all).await?;
    if let Some(model) = &scope.model {
        if !ours.knows(model) {
            return Err(AuditError::UnknownModel(model.clone()));
        }
    }
    let legs = ledger.legs_of(&all).await?;
    let mut by_tx: HashMap<(Chain, &str), Vec<Leg>> = HashMap::new();
    for leg in &legs {
        by_tx
            .entry((leg.chain, leg.tx.as_str()))
            .or_default()
            .push(leg.clone());
    }
    let mut used: HashMap<(Chain, String, String), i64> = HashMap::new();
    let mut accounted: HashSet<(Chain, String, String)> = HashSet::new();
    let mut audit = ChargeAudit::default();
    for charge in &all {
        let legs = charge
            .settlement_tx
            .as_deref()
            .and_then(|tx| by_tx.get(&(charge.chain, tx)))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let (mut result, leg) = pair(charge, legs, ours.usdc.get(&charge.chain), &used);
        if let Some(leg) = leg {
            let key = (leg.chain, leg.tx.clone(), leg.leg.clone());
            if result == Reconciliation::Matched {
                used.insert(key.clone(), charge.id);
                if !ours.pay_to(charge, leg.block) {
                    result = Reconciliation::NotOurs {
                        found: charge.pay_to.clone(),
                    };
                }
            }
            // Its inflow is accounted for by this charge's result, whatever it is.
            accounted.insert(key);
        }
        let in_scope = scope.model.as_ref().is_none_or(|m| *m == charge.model)
            && scope.from.is_none_or(|from| charge.at >= from)
            && scope.to.is_none_or(|to| charge.at < to);
        if in_scope {
            audit.charges.push(ChargeCheck {
                charge_id: charge.id,
                model: charge.model.clone(),
                chain: charge.chain,
                payer: charge.payer.clone(),
                pay_to: charge.pay_to.clone(),
                amount: Amount::read(&charge.amount),
                settlement_tx: charge.settlement_tx.clone(),
                result,
            });
        }
    }
    for chain in [Chain::Solana, Chain::Base] {
        let usdc: Vec<String> = ours
            .usdc
            .get(&chain)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let watched = ours.watched(chain, scope.model.as_deref());
        if usdc.is_empty() || watched.is_empty() {
            continue;
        }
        for leg in ledger
            .inflows(chain, &watched, &usdc, scope.from, scope.to)
            .await?
        {
            let charged = accounted.contains(&(leg.chain, leg.tx.clone(), leg.leg.clone()));
            if charged || leg.program_moved || leg.operator {
                continue;
            }
            audit.unexplained_inflows.push(UnexplainedInflow {
                chain: leg.chain,
                tx: leg.tx,
                destination_owner: leg.destination_owner.unwrap_or_default(),
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
