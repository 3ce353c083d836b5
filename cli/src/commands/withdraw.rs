//! `paywire withdraw [amount]`: sends the wallet's unspent balance back on chain.

use anyhow::Context;
use clap::Args;
use ledger::parse_usdc;
use serde_json::json;

use super::wallet::{json, Wallet, WalletArgs};
use crate::settings::Settings;

/// Withdraw the wallet's unspent balance (all of it, or AMOUNT USDC) back to the wallet, from
/// the gateway's treasury on its chain. Retrying with the same --idempotency-key never pays
/// twice: it reports how that withdrawal stands.
#[derive(Args, Debug)]
pub struct WithdrawArgs {
    /// USDC, e.g. 1.50 [default: everything available]
    amount: Option<String>,
    #[command(flatten)]
    wallet: WalletArgs,
    /// Names this withdrawal, so a retry finds it instead of paying again [default: a new one,
    /// printed]
    #[arg(long)]
    idempotency_key: Option<String>,
}

pub async fn run(args: WithdrawArgs, settings: &Settings) -> anyhow::Result<()> {
    if let Some(amount) = &args.amount {
        parse_usdc(amount)
            .map_err(anyhow::Error::msg)
            .context("the amount")?;
    }
    let (wallet, gateway) = Wallet::from_args(args.wallet, settings)?;
    let key = args
        .idempotency_key
        .unwrap_or_else(|| format!("paywire-withdraw-{}", super::chat::unique_id()));
    eprintln!("withdrawal {key} (retry with --idempotency-key {key}) …");
    let body = match &args.amount {
        Some(amount) => json!({ "amount": amount }),
        None => json!({}),
    };
    let http = reqwest::Client::new();
    let url = format!("{gateway}/v1/balance/withdraw");
    let response = wallet
        .signed_in(|| http.post(&url).header("idempotency-key", &key).json(&body))
        .await?;
    let accepted = response.status() == 202;
    let withdrawal = json(response).await?;
    println!(
        "{} {} USDC to {} on {}: transaction {}",
        if accepted { "sending" } else { "sent" },
        withdrawal["amount"].as_str().unwrap_or("?"),
        withdrawal["payer"].as_str().unwrap_or("?"),
        withdrawal["chain"].as_str().unwrap_or("?"),
        withdrawal["transaction"].as_str().unwrap_or("(not yet)"),
    );
    if accepted {
        eprintln!("not confirmed yet: run again with --idempotency-key {key} to see it land");
    }
    Ok(())
}
