//! The audit's report: charges against transfers and, when the chain was read, each tokenized
//! model's vault (revenue in = balance + what left, by cause) and token supply (minted −
//! burned = supply). One type, serialised once: the ledger API's JSON and `paywire audit
//! --format json` are the same; also a table and CSV.

use serde::{Serialize, Serializer};

use ledger::FlowCause;

use crate::{
    vaults::OUTFLOW_COLUMNS, BalanceAudit, ChargeAudit, ChargeCheck, ModelCheck, UnexplainedInflow,
};

#[derive(Clone, Debug)]
pub struct Report {
    pub charges: ChargeAudit,
    pub balances: BalanceAudit,
    /// The vault and supply checks; `None` when the chain was not read.
    pub models: Option<Vec<ModelCheck>>,
}

impl Report {
    pub fn reconciled(&self) -> bool {
        self.charges.reconciled()
            && self.balances.reconciled()
            && self
                .models
                .iter()
                .flatten()
                .all(|m| m.balance_adds_up() && m.supply_adds_up())
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
                "supply,,{},solana,,,{},,{},minted {} − burned {}{}\n",
                m.slug,
                m.chain_supply,
                ok(m.supply_adds_up()),
                m.minted,
                m.burned,
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
                "treasury,,,{},,{},{},,{},owes {}\n",
                c.chain.as_str(),
                c.treasury,
                c.holds,
                if c.covered { "covered" } else { "short" },
                c.owes
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
            let verdict = |ok| if ok { "adds up" } else { "DOES NOT ADD UP" };
            let (f, known) = (&m.flows, OUTFLOW_COLUMNS.map(<&str>::from));
            let other = f
                .outflow
                .iter()
                .filter(|(k, _)| !known.contains(&k.as_str()))
                .map(|(_, a)| *a)
                .sum::<u128>();
            out.push_str(&format!(
                "{}: revenue in {} (payments {}, held released {}) = vault {} + buybacks {} + protocol fees {} + claims {} + other {} → {}; minted {} − burned {} = supply {} → {}{}\n",
                m.slug,
                usdc(f.inflow_total() as u64),
                usdc(f.inflow_of(FlowCause::Payment) as u64),
                usdc(f.inflow_of(FlowCause::HeldReleased) as u64),
                usdc(m.chain_balance),
                usdc(f.outflow_of(FlowCause::Buyback) as u64),
                usdc(f.outflow_of(FlowCause::ProtocolFee) as u64),
                usdc(f.outflow_of(FlowCause::Claim) as u64),
                usdc(other as u64),
                verdict(m.balance_adds_up()),
                m.minted,
                m.burned,
                m.chain_supply,
                verdict(m.supply_adds_up()),
                unreadable(&[f.unreadable.as_slice(), &m.unreadable_supply].concat()),
            ));
        }
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
                "treasury {} on {}: holds {} USDC, owes payers {} → {}\n",
                c.treasury,
                c.chain.as_str(),
                c.holds.usdc(),
                c.owes.usdc(),
                match c.short {
                    Some(short) => format!("SHORT by {}", ledger::format_usdc(short)),
                    None if c.covered => "covered".into(),
                    None => "CANNOT BE READ".into(),
                }
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

/// `{reconciled, charges, unexplained_inflows, balances, models}`; `models` is null when the
/// chain was not read.
impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shape<'a> {
            reconciled: bool,
            charges: &'a [ChargeCheck],
            unexplained_inflows: &'a [UnexplainedInflow],
            balances: &'a BalanceAudit,
            models: Option<&'a [ModelCheck]>,
        }
        Shape {
            reconciled: self.reconciled(),
            charges: &self.charges.charges,
            unexplained_inflows: &self.charges.unexplained_inflows,
            balances: &self.balances,
            models: self.models.as_deref(),
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
