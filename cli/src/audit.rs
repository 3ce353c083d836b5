//! `paywire audit`: the ledger's reconciliation of charges with on-chain transfers and, given
//! a Solana RPC, of each tokenized model's vault (revenue in = balance + what left, by cause)
//! and token supply (minted − burned = supply), as a table, CSV or JSON.

use ledger::{Chain, ChargeAudit, Ledger, Reconciliation};
use serde_json::json;
use solana_client::nonblocking::rpc_client::RpcClient;

/// One tokenized model, as the ledger explains it and as the chain holds it.
#[derive(Debug)]
pub struct ModelCheck {
    pub slug: String,
    pub vault: String,
    pub flows: ledger::AccountFlows,
    pub chain_balance: u64,
    pub minted: u128,
    pub burned: u128,
    pub chain_supply: u64,
}

impl ModelCheck {
    pub fn balance_adds_up(&self) -> bool {
        self.flows.balance() == self.chain_balance as i128
    }

    pub fn supply_adds_up(&self) -> bool {
        self.minted as i128 - self.burned as i128 == self.chain_supply as i128
    }
}

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

/// Checks every tokenized model the ledger knows (or only `only`) against the chain at `rpc`.
pub async fn check_models(
    ledger: &Ledger,
    rpc: &RpcClient,
    only: Option<&str>,
) -> anyhow::Result<Vec<ModelCheck>> {
    let protocol = crate::crank::protocol(rpc).await?;
    let mut checks = Vec::new();
    for slug in crate::crank::tokenized_slugs(rpc, ledger).await? {
        if only.is_some_and(|m| m != slug) {
            continue;
        }
        let keys = protocol.model(&slug);
        let chain_balance = rpc
            .get_token_account_balance(&keys.vault)
            .await?
            .amount
            .parse()?;
        let chain_supply = rpc.get_token_supply(&keys.mint).await?.amount.parse()?;
        let (minted, burned) = ledger.mint_totals(&keys.mint.to_string()).await?;
        checks.push(ModelCheck {
            flows: ledger.account_flows(&keys.vault.to_string()).await?,
            vault: keys.vault.to_string(),
            slug,
            chain_balance,
            minted,
            burned,
            chain_supply,
        });
    }
    Ok(checks)
}

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

pub fn render(report: &Report, format: Format) -> String {
    let audit = &report.charges;
    let outflow = |m: &ModelCheck, kind: &str| {
        m.flows
            .outflow
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, a)| *a)
            .sum::<u128>()
    };
    match format {
        Format::Json => json!({
            "reconciled": report.reconciled(),
            "models": report.models.iter().map(|m| json!({
                "model": m.slug, "vault": m.vault,
                "revenue_in": m.flows.inflow.to_string(),
                "outflows": m.flows.outflow.iter().map(|(k, a)| (k.clone(), json!(a.to_string()))).collect::<serde_json::Map<_, _>>(),
                "ledger_balance": m.flows.balance().to_string(), "chain_balance": m.chain_balance.to_string(),
                "balance_adds_up": m.balance_adds_up(),
                "minted": m.minted.to_string(), "burned": m.burned.to_string(), "chain_supply": m.chain_supply.to_string(),
                "supply_adds_up": m.supply_adds_up(),
            })).collect::<Vec<_>>(),
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
            for m in &report.models {
                let ok = |b: bool| if b { "adds_up" } else { "does_not_add_up" };
                out.push_str(&format!(
                    "vault,,{},solana,,{},{},,{},revenue in {} = balance {} + out {:?}\n",
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
            for m in &report.models {
                out.push_str(&format!(
                    "{}: revenue in {} = vault {} + buybacks {} + claims {} + other {} → {}; minted {} − burned {} = supply {} → {}\n",
                    m.slug,
                    gateway::catalog::format_usdc(m.flows.inflow as u64),
                    gateway::catalog::format_usdc(m.chain_balance),
                    gateway::catalog::format_usdc(outflow(m, "buyback") as u64),
                    gateway::catalog::format_usdc(outflow(m, "claim") as u64),
                    gateway::catalog::format_usdc(outflow(m, "other") as u64),
                    if m.balance_adds_up() { "adds up" } else { "DOES NOT ADD UP" },
                    m.minted,
                    m.burned,
                    m.chain_supply,
                    if m.supply_adds_up() { "adds up" } else { "DOES NOT ADD UP" },
                ));
            }
            out.push_str(if report.reconciled() { "everything reconciles\n" } else { "SOMETHING DOES NOT RECONCILE\n" });
            out
        }
    }
}
