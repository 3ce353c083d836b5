//! `paywire audit`: the ledger's reconciliation of charges with on-chain transfers and, given
//! a Solana RPC, of each tokenized model's vault (revenue in = balance + what left, by cause)
//! and token supply (minted − burned = supply), as a table, CSV or JSON.

use indexer::vault_audit::ModelCheck;
use ledger::{ChargeAudit, Reconciliation};
use serde_json::json;

pub struct Report {
    pub charges: ChargeAudit,
    pub models: Vec<ModelCheck>,
}

impl Report {
    pub fn reconciled(&self) -> bool {
        self.charges.reconciled()
            && self
                .models
                .iter()
                .all(|m| m.balance_adds_up() && m.supply_adds_up())
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// (short result, detail) of a charge's reconciliation.
fn result(r: &Reconciliation) -> (&'static str, String) {
    match r {
        Reconciliation::Matched => ("matched", String::new()),
        Reconciliation::Missing => ("missing", "no transfer of the settlement on chain".into()),
        Reconciliation::AmountMismatch { found } => {
            ("amount_mismatch", format!("chain moved {found}"))
        }
        Reconciliation::WrongDestination { found } => {
            ("wrong_destination", format!("paid to {found}"))
        }
    }
}

pub fn render(report: &Report, format: Format) -> String {
    let audit = &report.charges;
    match format {
        Format::Json => json!({
            "reconciled": report.reconciled(),
            "models": report.models.iter().map(ModelCheck::json).collect::<Vec<_>>(),
            "charges": audit.charges.iter().map(|c| {
                let (status, detail) = result(&c.result);
                json!({
                    "charge_id": c.charge_id, "model": c.model, "chain": c.chain.as_str(), "payer": c.payer,
                    "pay_to": c.pay_to, "amount": c.amount.to_string(), "settlement_tx": c.settlement_tx,
                    "result": status, "detail": detail,
                })
            }).collect::<Vec<_>>(),
            "unexplained_inflows": audit.unexplained_inflows.iter().map(|i| json!({
                "chain": i.chain.as_str(), "tx": i.tx, "destination_owner": i.destination_owner, "amount": i.amount.to_string(),
            })).collect::<Vec<_>>(),
        })
        .to_string(),
        Format::Csv => {
            let mut out = String::from("kind,charge_id,model,chain,payer,pay_to,amount,tx,result,detail\n");
            for c in &audit.charges {
                let (status, detail) = result(&c.result);
                out.push_str(&format!(
                    "charge,{},{},{},{},{},{},{},{status},{detail}\n",
                    c.charge_id,
                    c.model,
                    c.chain.as_str(),
                    c.payer,
                    c.pay_to,
                    c.amount,
                    c.settlement_tx.as_deref().unwrap_or_default()
                ));
            }
            for m in &report.models {
                let ok = |b: bool| if b { "adds_up" } else { "does_not_add_up" };
                out.push_str(&format!(
                    "vault,,{},solana,,{},{},,{},revenue in {:?} = balance {} + out {:?}\n",
                    m.slug, m.vault, m.chain_balance, ok(m.balance_adds_up()), m.flows.inflow, m.flows.balance(), m.flows.outflow
                ));
                out.push_str(&format!(
                    "supply,,{},solana,,,{},,{},minted {} − burned {}\n",
                    m.slug, m.chain_supply, ok(m.supply_adds_up()), m.minted, m.burned
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
            out
        }
        Format::Table => {
            let mut out = format!("{:>6}  {:<16} {:<7} {:>12}  result\n", "charge", "model", "chain", "USDC");
            for c in &audit.charges {
                let (status, detail) = result(&c.result);
                out.push_str(&format!(
                    "{:>6}  {:<16} {:<7} {:>12}  {status} {detail}\n",
                    c.charge_id,
                    c.model,
                    c.chain.as_str(),
                    ledger::format_usdc(c.amount)
                ));
            }
            for i in &audit.unexplained_inflows {
                out.push_str(&format!(
                    "unexplained inflow of {} to {} on {} in {}\n",
                    ledger::format_usdc(i.amount),
                    i.destination_owner,
                    i.chain.as_str(),
                    i.tx
                ));
            }
            for m in &report.models {
                let usdc = ledger::format_usdc;
                let verdict = |ok| if ok { "adds up" } else { "DOES NOT ADD UP" };
                let (f, known) = (&m.flows, ["buyback", "protocol_fee", "claim"]);
                let other = f.outflow.iter().filter(|(k, _)| !known.contains(&k.as_str())).map(|(_, a)| *a).sum::<u128>();
                out.push_str(&format!(
                    "{}: revenue in {} (payments {}, held released {}) = vault {} + buybacks {} + protocol fees {} + claims {} + other {} → {}; minted {} − burned {} = supply {} → {}\n",
                    m.slug,
                    usdc(f.inflow_total() as u64),
                    usdc(f.inflow_of("payment") as u64),
                    usdc(f.inflow_of("held_released") as u64),
                    usdc(m.chain_balance),
                    usdc(f.outflow_of("buyback") as u64),
                    usdc(f.outflow_of("protocol_fee") as u64),
                    usdc(f.outflow_of("claim") as u64),
                    usdc(other as u64),
                    verdict(m.balance_adds_up()),
                    m.minted,
                    m.burned,
                    m.chain_supply,
                    verdict(m.supply_adds_up()),
                ));
            }
            out.push_str(if report.reconciled() { "everything reconciles\n" } else { "SOMETHING DOES NOT RECONCILE\n" });
            out
        }
    }
}
