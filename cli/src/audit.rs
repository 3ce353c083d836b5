//! `paywire audit`: the ledger's reconciliation of charges with on-chain transfers, as a
//! table, CSV or JSON.

use ledger::{Chain, ChargeAudit, Reconciliation};
use serde_json::json;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

fn chain(c: Chain) -> &'static str {
    match c {
        Chain::Solana => "solana",
        Chain::Base => "base",
    }
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

pub fn render(audit: &ChargeAudit, format: Format) -> String {
    match format {
        Format::Json => json!({
            "reconciled": audit.reconciled(),
            "charges": audit.charges.iter().map(|c| {
                let (status, detail) = result(&c.result);
                json!({
                    "charge_id": c.charge_id, "model": c.model, "chain": chain(c.chain), "payer": c.payer,
                    "pay_to": c.pay_to, "amount": c.amount.to_string(), "settlement_tx": c.settlement_tx,
                    "result": status, "detail": detail,
                })
            }).collect::<Vec<_>>(),
            "unexplained_inflows": audit.unexplained_inflows.iter().map(|i| json!({
                "chain": chain(i.chain), "tx": i.tx, "destination_owner": i.destination_owner, "amount": i.amount.to_string(),
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
                    chain(c.chain),
                    c.payer,
                    c.pay_to,
                    c.amount,
                    c.settlement_tx.as_deref().unwrap_or_default()
                ));
            }
            for i in &audit.unexplained_inflows {
                out.push_str(&format!(
                    "inflow,,,{},,{},{},{},unexplained_inflow,no charge or program instruction explains it\n",
                    chain(i.chain),
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
                    chain(c.chain),
                    gateway::catalog::format_usdc(c.amount)
                ));
            }
            for i in &audit.unexplained_inflows {
                out.push_str(&format!(
                    "unexplained inflow of {} to {} on {} in {}\n",
                    gateway::catalog::format_usdc(i.amount),
                    i.destination_owner,
                    chain(i.chain),
                    i.tx
                ));
            }
            out.push_str(if audit.reconciled() { "everything reconciles\n" } else { "SOMETHING DOES NOT RECONCILE\n" });
            out
        }
    }
}
