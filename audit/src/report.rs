//! The audit's report: charges against transfers and, when the chain was read, each tokenized
//! model's vault (revenue in = balance + what left, by cause) and token supply (minted −
//! burned = supply). One type, serialised once: the ledger API's JSON and `paywire audit
//! --format json` are the same; also a table and CSV.

use serde::{Serialize, Serializer};

use ledger::FlowCause;

use crate::Amount;

use crate::{
    audit_balances, audit_charges,
    revenue::audit_revenue,
    vaults::{ChainChecks, TreasuryCheck, UnrecordedModel, OUTFLOW_COLUMNS},
    AuditError, AuditScope, BalanceAudit, ChargeAudit, ChargeCheck, ModelCheck, RevenueAudit,
    UnexplainedInflow,
};

#[derive(Clone, Debug)]
pub struct Report {
    pub charges: ChargeAudit,
    pub revenue: RevenueAudit,
    pub balances: BalanceAudit,
    /// The vault and supply checks; `None` when the chain was not read.
    pub models: Option<Vec<ModelCheck>>,
    /// The treasuries' balances against the ledger; `None` when the chain was not read.
    pub treasuries: Option<Vec<TreasuryCheck>>,
    /// The models on chain the ledger has no record of; `None` when the chain was not read.
    pub unrecorded_models: Option<Vec<UnrecordedModel>>,
}

impl Report {
    /// What the ledger says, for `scope`, with the chain's vault checks `models` if read. The
    /// treasuries' coverage weighs every model's owed revenue whatever the scope.
    pub async fn read(
        ledger: &ledger::Ledger,
        scope: &AuditScope,
        chain: Option<ChainChecks>,
    ) -> Result<Report, AuditError> {
        let (models, treasuries, unrecorded_models) = match chain {
            Some(c) => (
                Some(c.models),
                Some(c.treasuries),
                Some(c.unrecorded_models),
            ),
            None => (None, None, None),
        };
        let mut revenue = audit_revenue(ledger, None).await?;
        let balances = audit_balances(ledger, &revenue.owed_to_vaults()).await?;
        if let Some(model) = &scope.model {
            revenue.models.retain(|m| &m.model == model);
            revenue.releases.retain(|r| &r.model == model);
        }
        Ok(Report {
            charges: audit_charges(ledger, scope).await?,
            revenue,
            balances,
            models,
            treasuries,
            unrecorded_models,
        })
    }

    pub fn reconciled(&self) -> bool {
        self.charges.reconciled()
            && self.revenue.reconciled()
            && self.balances.reconciled()
            && self
                .models
                .iter()
                .flatten()
                .all(|m| m.balance_adds_up() && m.supply_adds_up())
            && self.treasuries.iter().flatten().all(TreasuryCheck::adds_up)
            && self.unrecorded_models.iter().flatten().next().is_none()
    }

    /// The report in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => serde_json::to_string(self).expect("a report serialises"),
            Format::Csv => self.csv(),
            Format::Table => self.table(),
        }
    }

    fn csv(&self) -> String {
        let audit = &self.charges;
        let mut out =
            String::from("kind,charge_id,model,chain,payer,pay_to,amount,tx,result,detail\n");
        for c in &audit.charges {
            out.push_str(&format!(
                "charge,{},{},{},{},{},{},{},{},{}\n",
                c.charge_id,
                c.model,
                c.chain.as_str(),
                c.payer,
                c.pay_to,
                c.amount,
                c.settlement_tx.as_deref().unwrap_or_default(),
                c.result.name(),
                c.result.detail(),
            ));
        }
        for m in self.models.iter().flatten() {
            let ok = |b: bool| if b { "adds_up" } else { "does_not_add_up" };
            out.push_str(&format!(
                "vault,,{},solana,,{},{},,{},revenue in {:?} = balance {} + out {:?}{}\n",
                m.slug,
                m.vault,
                m.chain_balance,
                ok(m.balance_adds_up()),
                m.flows.inflow,
                m.flows.balance(),
                m.flows.outflow,
                unreadable(&m.flows.unreadable),
            ));
            out.push_str(&format!(
                "supply,,{},solana,,,{},,{},minted {} − burned by buybacks {} − burned by holders {}{}\n",
                m.slug,
                m.chain_supply,
                ok(m.supply_adds_up()),
                m.minted,
                m.burned,
                m.burned_by_holders,
                unreadable(&m.unreadable_supply),
            ));
        }
        for i in &audit.unexplained_inflows {
            out.push_str(&format!(
                "inflow,,,{},,{},{},{},unexplained_inflow,no charge or program instruction explains it\n",
                i.chain.as_str(),
                i.destination_owner,
                i.amount,
                i.tx
            ));
        }
        let r = &self.revenue;
        for m in &r.models {
            out.push_str(&format!(
                "revenue,,{},,,{},{},,{},earned {} − received {} (direct {} + released {} + in flight {})\n",
                m.model,
                m.creator,
                signed(m.owed()),
                if m.reconciled() { "adds_up" } else { "over_released" },
                optional(m.earned_total()),
                optional(m.received()),
                m.direct,
                m.released,
                m.in_flight,
            ));
        }
        for c in &r.releases {
            out.push_str(&format!(
                "release,{},{},solana,,,{},{},{},{}\n",
                c.release_id,
                c.model,
                c.amount,
                c.tx,
                c.result.name(),
                c.result.detail(),
            ));
        }
        for u in &r.uncomputed_releases {
            out.push_str(&format!(
                "release,,{},solana,,,{},{},uncomputed_release,no computation of the ledger released it\n",
                u.model.as_deref().unwrap_or_default(),
                u.amount.as_ref().map(ToString::to_string).unwrap_or_default(),
                u.tx,
            ));
        }
        for o in &r.uncaused_outflows {
            out.push_str(&format!(
                "outflow,,,{},,{},{},{},uncaused_outflow,from treasury {} with no withdrawal or release\n",
                o.chain.as_str(),
                o.destination_owner.as_deref().unwrap_or_default(),
                o.amount,
                o.tx,
                o.treasury,
            ));
        }
        let b = &self.balances;
        for l in &b.liabilities {
            out.push_str(&format!(
                "liability,,,{},{} payers,,{},,owed,available {} + held {}\n",
                l.chain.as_str(),
                l.payers,
                l.available.plus(&l.held),
                l.available,
                l.held
            ));
        }
        for c in &b.coverage {
            out.push_str(&format!(
                "treasury,,,{},,{},{},,{},owes payers {} + vaults {}\n",
                c.chain.as_str(),
                c.treasury,
                c.holds,
                if c.covered { "covered" } else { "short" },
                c.owes_payers,
                c.owes_vaults
            ));
        }
        for m in self.unrecorded_models.iter().flatten() {
            out.push_str(&format!(
                "model,,{},solana,,{},,,unrecorded_model,{} on chain with no record in the ledger\n",
                m.slug, m.model, m.missing
            ));
        }
        for t in self.treasuries.iter().flatten() {
            out.push_str(&format!(
                "treasury_balance,,,{},,{},{},,{},ledger says {}\n",
                t.chain.as_str(),
                t.treasury,
                t.chain_balance,
                if t.adds_up() {
                    "adds_up"
                } else {
                    "does_not_add_up"
                },
                t.ledger_balance
            ));
        }
        for d in &b.drift {
            out.push_str(&format!(
                "balance,,,{},{},,{},,does_not_add_up,entries {} / held {} against open holds {}\n",
                d.chain.as_str(),
                d.payer,
                d.available,
                d.entries,
                d.held,
                d.open_holds
            ));
        }
        for w in &b.withdrawals {
            out.push_str(&format!(
                "withdrawal,{},,{},{},,{},{},{},{}\n",
                w.withdrawal_id,
                w.chain.as_str(),
                w.payer,
                w.amount,
                w.tx.as_deref().unwrap_or_default(),
                w.result.name(),
                w.result.detail(),
            ));
        }
        out
    }

    fn table(&self) -> String {
        let audit = &self.charges;
        let mut out = format!(
            "{:>6}  {:<16} {:<7} {:>12}  result\n",
            "charge", "model", "chain", "USDC"
        );
        for c in &audit.charges {
            out.push_str(&format!(
                "{:>6}  {:<16} {:<7} {:>12}  {} {}\n",
                c.charge_id,
                c.model,
                c.chain.as_str(),
                c.amount.usdc(),
                c.result.name(),
                c.result.detail(),
            ));
        }
        for i in &audit.unexplained_inflows {
            out.push_str(&format!(
                "unexplained inflow of {} to {} on {} in {}\n",
                i.amount.usdc(),
                i.destination_owner,
                i.chain.as_str(),
                i.tx
            ));
        }
        for m in self.models.iter().flatten() {
            let usdc = ledger::format_usdc;
            // Sums of amounts can exceed a u64: shown as unreadable, never wrapped.
            let verdict = |ok| if ok { "adds up" } else { "DOES NOT ADD UP" };
            let (f, known) = (&m.flows, OUTFLOW_COLUMNS.map(<&str>::from));
            let other = f
                .outflow
                .iter()
                .filter(|(k, _)| !known.contains(&k.as_str()))
                .map(|(_, a)| *a)
                .sum::<u128>();
            out.push_str(&format!(
                "{}: revenue in {} (payments {}, held released {}{}) = vault {} + buybacks {} + protocol fees {} + claims {} + other {} → {}; minted {} − burned {} − burned by holders {} = supply {} → {}{}\n",
                m.slug,
                optional(Some(f.inflow_total())),
                optional(Some(f.inflow_of(FlowCause::Payment))),
                optional(Some(f.inflow_of(FlowCause::HeldReleased))),
                match f.inflow_of(FlowCause::Unexplained) {
                    0 => String::new(),
                    units => format!(", UNEXPLAINED {}", optional(Some(units))),
                },
                usdc(m.chain_balance),
                optional(Some(f.outflow_of(FlowCause::Buyback))),
                optional(Some(f.outflow_of(FlowCause::ProtocolFee))),
                optional(Some(f.outflow_of(FlowCause::Claim))),
                optional(Some(other)),
                verdict(m.balance_adds_up()),
                m.minted,
                m.burned,
                m.burned_by_holders,
                m.chain_supply,
                verdict(m.supply_adds_up()),
                unreadable(&[f.unreadable.as_slice(), &m.unreadable_supply].concat()),
            ));
        }
        out.push_str(&self.revenue_table());
        let b = &self.balances;
        for l in &b.liabilities {
            out.push_str(&format!(
                "payer balances on {}: {} owed to {} payers (available {} + held {})\n",
                l.chain.as_str(),
                l.available.plus(&l.held).usdc(),
                l.payers,
                l.available.usdc(),
                l.held.usdc()
            ));
        }
        for c in &b.coverage {
            out.push_str(&format!(
                "treasury {} on {}: holds {} USDC, owes payers {} + vaults {} → {}\n",
                c.treasury,
                c.chain.as_str(),
                c.holds.usdc(),
                c.owes_payers.usdc(),
                c.owes_vaults.usdc(),
                match (c.short, c.holds.units(), c.owes.units()) {
                    (Some(short), ..) => format!("SHORT by {}", ledger::format_usdc(short)),
                    (None, Some(holds), Some(owes)) if c.covered =>
                        format!("covered ({} to spare)", ledger::format_usdc(holds - owes)),
                    _ => "CANNOT BE READ".into(),
                }
            ));
        }
        for m in self.unrecorded_models.iter().flatten() {
            out.push_str(&format!(
                "model {} ({}) is {} on chain and THE LEDGER HAS NO RECORD of it: its vault's flows cannot be explained (is the indexer following the program?)\n",
                m.slug, m.model, m.missing
            ));
        }
        if let Some(read) = &self.treasuries {
            // Said, so a report never reads as if it had checked what it did not.
            for c in b.coverage.iter().filter(|c| {
                !read
                    .iter()
                    .any(|t| t.chain == c.chain && t.treasury == c.treasury)
            }) {
                out.push_str(&format!(
                    "treasury {} on {}: its USDC on chain was not read{}\n",
                    c.treasury,
                    c.chain.as_str(),
                    match c.chain {
                        ledger::Chain::Base => " (pass --base-rpc)",
                        ledger::Chain::Solana => "",
                    }
                ));
            }
        }
        for t in self.treasuries.iter().flatten() {
            out.push_str(&format!(
                "treasury {} on {}: its USDC account {} holds {} on chain, the ledger says {} → {}\n",
                t.treasury,
                t.chain.as_str(),
                t.account,
                ledger::format_usdc(t.chain_balance),
                t.ledger_balance.usdc(),
                if t.adds_up() { "adds up" } else { "DOES NOT ADD UP" }
            ));
        }
        for d in &b.drift {
            out.push_str(&format!(
                "balance of {} on {} DOES NOT ADD UP: available {} against entries {}, held {} against open holds {}\n",
                d.payer,
                d.chain.as_str(),
                d.available.usdc(),
                d.entries.usdc(),
                d.held.usdc(),
                d.open_holds.usdc()
            ));
        }
        for w in &b.withdrawals {
            out.push_str(&format!(
                "withdrawal {:>4}  {:<7} {:>12}  {} {}\n",
                w.withdrawal_id,
                w.chain.as_str(),
                w.amount.usdc(),
                w.result.name(),
                w.result.detail(),
            ));
        }
        out.push_str(if self.reconciled() {
            "everything reconciles\n"
        } else {
            "SOMETHING DOES NOT RECONCILE\n"
        });
        out
    }
}

impl Report {
    /// Per model: earned by rail and chain, received, owed; then each release, each release no
    /// one computed, each outflow with no cause.
    fn revenue_table(&self) -> String {
        let r = &self.revenue;
        let mut out = String::new();
        for m in &r.models {
            let lines: Vec<String> = m
                .earned
                .iter()
                .map(|e| {
                    format!(
                        "{} {} {} ×{}",
                        <&str>::from(e.rail).replace('_', "-"),
                        e.chain.as_str(),
                        e.amount.usdc(),
                        e.calls
                    )
                })
                .collect();
            let verdict = match m.owed() {
                None => "CANNOT BE READ".into(),
                _ if m.over_released() => {
                    "OVER-RELEASED: revenue for calls that never happened".to_string()
                }
                Some(0) => "nothing owed".into(),
                Some(owed) if owed > 0 => format!("owed {}", optional(Some(owed as u128))),
                Some(owed) => format!(
                    "over-received {} (per-call surpluses credited to payers; netted against its next releases)",
                    optional(Some(owed.unsigned_abs()))
                ),
            };
            out.push_str(&format!(
                "revenue of {}: earned {} ({}) − received {} (paid directly {}, released {}{}) → {}\n",
                m.model,
                optional(m.earned_total()),
                if lines.is_empty() { "no calls".into() } else { lines.join(", ") },
                optional(m.received()),
                m.direct.usdc(),
                m.released.usdc(),
                match m.in_flight.units() {
                    Some(0) => String::new(),
                    _ => format!(", in flight {}", m.in_flight.usdc()),
                },
                verdict,
            ));
        }
        for c in &r.releases {
            out.push_str(&format!(
                "release {:>4}  {:<16} {:>12}  {} {} {}\n",
                c.release_id,
                c.model,
                c.amount.usdc(),
                c.status,
                c.result.name(),
                c.result.detail(),
            ));
        }
        for u in &r.uncomputed_releases {
            out.push_str(&format!(
                "release NO ONE COMPUTED: {} to model {} in {}\n",
                u.amount
                    .as_ref()
                    .map(Amount::usdc)
                    .unwrap_or_else(|| "an unknown amount".into()),
                u.model.as_deref().unwrap_or("(unknown)"),
                u.tx
            ));
        }
        for o in &r.uncaused_outflows {
            out.push_str(&format!(
                "transfer out of treasury {} on {} WITH NO CAUSE: {} to {} in {}\n",
                o.treasury,
                o.chain.as_str(),
                o.amount.usdc(),
                o.destination_owner.as_deref().unwrap_or("an unknown owner"),
                o.tx
            ));
        }
        out
    }
}

/// Base units as USDC, or "unreadable".
fn optional(units: Option<u128>) -> String {
    match units.map(u64::try_from) {
        Some(Ok(units)) => ledger::format_usdc(units),
        _ => "unreadable".into(),
    }
}

/// A signed amount of base units, or "unreadable".
fn signed(units: Option<i128>) -> String {
    units.map_or_else(|| "unreadable".into(), |u| u.to_string())
}

/// `; unreadable: what (text), …` when the ledger holds sums that are not amounts.
fn unreadable(found: &[(String, String)]) -> String {
    if found.is_empty() {
        return String::new();
    }
    let list: Vec<String> = found
        .iter()
        .map(|(what, text)| format!("{what} ({text})"))
        .collect();
    format!("; unreadable: {}", list.join(", "))
}

/// `{reconciled, charges, unexplained_inflows, revenue, balances, models, treasuries,
/// unrecorded_models}`; the last three are null when the chain was not read.
impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shape<'a> {
            reconciled: bool,
            charges: &'a [ChargeCheck],
            unexplained_inflows: &'a [UnexplainedInflow],
            revenue: &'a RevenueAudit,
            balances: &'a BalanceAudit,
            models: Option<&'a [ModelCheck]>,
            treasuries: Option<&'a [TreasuryCheck]>,
            unrecorded_models: Option<&'a [UnrecordedModel]>,
        }
        Shape {
            reconciled: self.reconciled(),
            charges: &self.charges.charges,
            unexplained_inflows: &self.charges.unexplained_inflows,
            revenue: &self.revenue,
            balances: &self.balances,
            models: self.models.as_deref(),
            treasuries: self.treasuries.as_deref(),
            unrecorded_models: self.unrecorded_models.as_deref(),
        }
        .serialize(s)
    }
}

/// How `paywire audit` prints a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

impl Format {
    pub const NAMES: [&'static str; 3] = ["table", "csv", "json"];
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(format!(
                "{name:?} is not one of {}",
                Format::NAMES.join(", ")
            )),
        }
    }
}
