//! Revenue owed to models' vaults (docs/money.md): per model, what it earned (by rail and
//! chain), what its vault received (paid directly, released by the treasury), and what is owed
//! or over-received; every release against its transfer, every release the chain ran against
//! a computation of the ledger, and every transfer out of a treasury against its cause.

use ledger::{Chain, Ledger, PayoutStatus, Rail};
use serde::{Serialize, Serializer};

use crate::{charges::compare, Amount, AuditError, Reconciliation};

/// What a model earned on one rail and chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Earned {
    pub rail: Rail,
    pub chain: Chain,
    pub calls: i64,
    pub amount: Amount,
}

/// One model's revenue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRevenue {
    pub model: String,
    pub creator: String,
    pub earned: Vec<Earned>,
    /// Per-call payments made into its vault directly.
    pub direct: Amount,
    /// The actual cost of those calls (the rest was credited to their payers).
    pub direct_earned: Amount,
    /// Released by the treasury and confirmed.
    pub released: Amount,
    /// Released, not confirmed yet.
    pub in_flight: Amount,
}

impl ModelRevenue {
    pub fn earned_total(&self) -> Option<u128> {
        self.earned
            .iter()
            .map(|e| e.amount.units().map(u128::from))
            .sum()
    }

    /// Direct + released + in flight.
    pub fn received(&self) -> Option<u128> {
        [&self.direct, &self.released, &self.in_flight]
            .iter()
            .map(|a| a.units().map(u128::from))
            .sum()
    }

    /// Earned − received: owed when positive, over-received when negative; `None` when an
    /// amount does not read.
    pub fn owed(&self) -> Option<i128> {
        Some(self.earned_total()? as i128 - self.received()? as i128)
    }

    /// The treasury released more than every call not paid into the vault earned: revenue for
    /// calls that never happened. (Netting keeps releases within that bound: a release pays
    /// what is owed after the surpluses the vault received.)
    pub fn over_released(&self) -> bool {
        let (Some(earned), Some(direct_earned), Some(released), Some(in_flight)) = (
            self.earned_total(),
            self.direct_earned.units(),
            self.released.units(),
            self.in_flight.units(),
        ) else {
            return false;
        };
        u128::from(released) + u128::from(in_flight) > earned.saturating_sub(direct_earned.into())
    }

    pub fn reconciled(&self) -> bool {
        self.owed().is_some() && self.direct_earned.units().is_some() && !self.over_released()
    }
}

/// `owed` as a signed decimal string (null when unreadable), next to its terms.
impl Serialize for ModelRevenue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "model": self.model,
            "creator": self.creator,
            "earned": self.earned,
            "earned_total": self.earned_total().map(|a| a.to_string()),
            "direct": self.direct,
            "direct_earned": self.direct_earned,
            "released": self.released,
            "in_flight": self.in_flight,
            "received": self.received().map(|a| a.to_string()),
            "owed": self.owed().map(|a| a.to_string()),
            "over_released": self.over_released(),
        })
        .serialize(s)
    }
}

/// A release against the transfer its transaction made into the vault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReleaseCheck {
    pub release_id: i64,
    pub model: String,
    pub amount: Amount,
    pub status: String,
    pub tx: String,
    /// The ledger saw its transfer into the vault.
    pub moved: bool,
    #[serde(flatten)]
    pub result: Reconciliation,
}

/// A `release_held_revenue` no computation of the ledger sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UncomputedRelease {
    pub tx: String,
    pub model: Option<String>,
    pub amount: Option<Amount>,
}

/// A transfer out of a treasury with no recorded cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UncausedOutflow {
    pub chain: Chain,
    pub treasury: String,
    pub tx: String,
    pub destination_owner: Option<String>,
    pub amount: Amount,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RevenueAudit {
    pub models: Vec<ModelRevenue>,
    pub releases: Vec<ReleaseCheck>,
    pub uncomputed_releases: Vec<UncomputedRelease>,
    pub uncaused_outflows: Vec<UncausedOutflow>,
}

impl RevenueAudit {
    /// Owed revenue (positive amounts only) summed, with releases in flight whose transfer the
    /// ledger has not seen leave yet: a liability of the Solana treasury, which releases it;
    /// unreadable if any model's is.
    pub fn owed_to_vaults(&self) -> Amount {
        let sending: &str = PayoutStatus::Sending.into();
        let mut total: u64 = self
            .releases
            .iter()
            .filter(|r| r.status == sending && !r.moved)
            .filter_map(|r| r.amount.units())
            .sum();
        for m in &self.models {
            match m.owed() {
                Some(owed) => {
                    total = total.saturating_add(u64::try_from(owed.max(0)).unwrap_or(u64::MAX))
                }
                None => return Amount::Unreadable(format!("the revenue of {}", m.model)),
            }
        }
        Amount::Units(total)
    }

    /// Every model's revenue reads and none was over-released; every release matches its
    /// transfer; the chain ran no release the ledger did not compute; and nothing left a
    /// treasury without a cause. (Owed revenue not released yet is a liability, not a
    /// discrepancy: the treasury's coverage weighs it.)
    pub fn reconciled(&self) -> bool {
        self.models.iter().all(ModelRevenue::reconciled)
            && self
                .releases
                .iter()
                .all(|r| r.result == Reconciliation::Matched)
            && self.uncomputed_releases.is_empty()
            && self.uncaused_outflows.is_empty()
    }
}

/// Releases computed on a ledger state an earlier release of the same model had already paid:
/// `(release, the earlier one)`. Each release's computation counts everything received before
/// it, so it received at least what the one before received plus its amount, and earned no
/// less; a second release computed on the same state does not.
fn duplicate_releases(releases: &[ledger::Release]) -> Vec<(i64, i64)> {
    let mut last: std::collections::HashMap<&str, (i64, u128, u128)> = Default::default();
    let mut duplicates = Vec::new();
    for r in releases {
        if r.status.parse() == Ok(PayoutStatus::Failed) {
            continue;
        }
        let (Ok(amount), Ok(earned), Ok(received)) = (
            r.amount.parse::<u128>(),
            r.earned.parse::<u128>(),
            r.received.parse::<u128>(),
        ) else {
            continue;
        };
        if let Some((id, before_earned, paid_up_to)) = last.get(r.model.as_str()) {
            if received < *paid_up_to || earned < *before_earned {
                duplicates.push((r.id, *id));
            }
        }
        last.insert(&r.model, (r.id, earned, received + amount));
    }
    duplicates
}

/// The revenue audit of every model the catalogs sell for a creator (or only `model`).
pub async fn audit_revenue(
    ledger: &Ledger,
    model: Option<&str>,
) -> Result<RevenueAudit, AuditError> {
    let lines = ledger.earned_lines(model).await?;
    let models = ledger
        .revenue_totals(model)
        .await?
        .into_iter()
        .map(|t| {
            let mine = lines.iter().filter(|l| l.model == t.model);
            let direct_earned = mine
                .clone()
                .map(|l| Amount::read(&l.direct_earned))
                .fold(Amount::Units(0), |a, b| a.plus(&b));
            ModelRevenue {
                earned: mine
                    .map(|l| Earned {
                        rail: l.rail,
                        chain: l.chain,
                        calls: l.calls,
                        amount: Amount::read(&l.earned),
                    })
                    .collect(),
                direct: Amount::read(&t.direct),
                direct_earned,
                released: Amount::read(&t.released),
                in_flight: Amount::read(&t.in_flight),
                model: t.model,
                creator: t.creator,
            }
        })
        .collect();
    let recorded = ledger.releases(None).await?;
    let duplicates = duplicate_releases(&recorded);
    let releases = recorded
        .into_iter()
        .filter(|r| model.is_none_or(|m| m == r.model))
        .map(|r| {
            let amount = Amount::read(&r.amount);
            let found = r.found.as_deref().map(Amount::read);
            let moved = found.is_some();
            let result = match (r.status.parse::<PayoutStatus>(), found) {
                // A failed release must have moved nothing.
                (Ok(PayoutStatus::Failed), None) => Reconciliation::Matched,
                (Ok(PayoutStatus::Failed), Some(found)) => compare(&Amount::Units(0), &found),
                (_, Some(found)) => compare(&amount, &found),
                // In flight and not seen yet: not a discrepancy until it is settled.
                (Ok(PayoutStatus::Sending), None) => Reconciliation::Matched,
                (_, None) => Reconciliation::Missing,
            };
            let result = match duplicates.iter().find(|(id, _)| *id == r.id) {
                Some((_, of))
                    if matches!(result, Reconciliation::Matched | Reconciliation::Missing) =>
                {
                    Reconciliation::Duplicate {
                        of: format!("release {of}"),
                    }
                }
                _ => result,
            };
            ReleaseCheck {
                release_id: r.id,
                model: r.model,
                amount,
                status: r.status,
                tx: r.tx,
                moved,
                result,
            }
        })
        .collect();
    let uncomputed_releases = ledger
        .uncomputed_releases()
        .await?
        .into_iter()
        .map(|u| UncomputedRelease {
            tx: u.signature,
            model: u.model,
            amount: u.amount.as_deref().map(Amount::read),
        })
        .collect();
    let uncaused_outflows = ledger
        .uncaused_treasury_outflows()
        .await?
        .into_iter()
        .map(|o| UncausedOutflow {
            chain: o.chain,
            treasury: o.treasury,
            tx: o.tx,
            destination_owner: o.destination_owner,
            amount: Amount::read(&o.amount),
        })
        .collect();
    Ok(RevenueAudit {
        models,
        releases,
        uncomputed_releases,
        uncaused_outflows,
    })
}
