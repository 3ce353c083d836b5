//! `paywire topup <amount>`: funds the wallet's paywire balance with one x402 payment into the
//! treasury.

use anyhow::{bail, Context};
use clap::Args;
use ledger::{format_usdc, parse_usdc};
use serde_json::json;
use x402::{client, wire};

use super::wallet::{json, Wallet, WalletArgs};
use crate::settings::Settings;

/// Top up the wallet's balance at the gateway: pays AMOUNT USDC on the wallet's chain (x402)
/// and prints what the balance holds after. Calls then spend it without paying each time.
#[derive(Args, Debug)]
pub struct TopUpArgs {
    /// USDC, e.g. 5.00
    amount: String,
    #[command(flatten)]
    wallet: WalletArgs,
    /// Solana JSON-RPC, for a recent blockhash [default: the config file's rpc_url, else
    /// http://127.0.0.1:8899]
    #[arg(long, short = 'u', visible_alias = "url", env = "PAYWIRE_SOLANA_RPC")]
    rpc_url: Option<String>,
    /// The USDC to pay with (see `paywire chat --help`)
    #[arg(long, env = "PAYWIRE_USDC")]
    usdc: Option<String>,
}

pub async fn run(args: TopUpArgs, settings: &Settings) -> anyhow::Result<()> {
    let amount = parse_usdc(&args.amount)
        .map_err(anyhow::Error::msg)
        .context("the amount")?;
    let rpc_url = settings.rpc_url(args.rpc_url);
    let (wallet, gateway) = Wallet::from_args(args.wallet, settings)?;
    let url = format!("{gateway}/v1/balance/top-up");
    let body = json!({ "amount": format_usdc(amount) });
    let http = reqwest::Client::new();
    let first = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .context("reaching the gateway")?;
    if first.status() != 402 {
        json(first).await?;
        bail!("the gateway asked for no payment for a top-up");
    }
    let required: wire::PaymentRequired = first.json().await.context("reading the 402")?;
    let offer = wallet.offer(&required)?;
    if offer.amount != amount.to_string() {
        bail!(
            "the gateway asks {} units for a top-up of {}: nothing was paid",
            offer.amount,
            amount
        );
    }
    let payment = wallet.pay(offer, &rpc_url, args.usdc.as_deref()).await?;
    let id = format!("paywire-topup-{}", super::chat::unique_id());
    eprintln!("paying {} USDC on {} …", format_usdc(amount), offer.network);
    let paid = http
        .post(&url)
        .header(
            wire::PAYMENT_SIGNATURE,
            wire::encode_header(&client::with_payment_id(payment, &id)),
        )
        .json(&body)
        .send()
        .await
        .context("the top-up")?;
    let topped = json(paid).await?;
    println!(
        "credited {} USDC to {} on {} (transaction {}): {} USDC available",
        topped["credited"].as_str().unwrap_or("?"),
        topped["payer"].as_str().unwrap_or("?"),
        topped["chain"].as_str().unwrap_or("?"),
        topped["transaction"].as_str().unwrap_or("?"),
        topped["available"].as_str().unwrap_or("?"),
    );
    Ok(())
}
