//! `paywire balance`: what the wallet's paywire balance holds, signed in with the wallet.

use clap::Args;

use super::wallet::{json, Wallet, WalletArgs};
use crate::settings::Settings;

/// Show the wallet's balance at the gateway: available, held by calls in flight, and the
/// latest entries with their causes.
#[derive(Args, Debug)]
pub struct BalanceArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// Print the gateway's JSON
    #[arg(long)]
    json: bool,
}

pub async fn run(args: BalanceArgs, settings: &Settings) -> anyhow::Result<()> {
    let (wallet, gateway) = Wallet::from_args(args.wallet, settings)?;
    let http = reqwest::Client::new();
    let balance = json(
        wallet
            .signed_in(|| http.get(format!("{gateway}/v1/balance")))
            .await?,
    )
    .await?;
    if args.json {
        println!("{balance:#}");
        return Ok(());
    }
    println!(
        "{} on {}: {} USDC available, {} held",
        balance["payer"].as_str().unwrap_or("?"),
        balance["chain"].as_str().unwrap_or("?"),
        balance["available"].as_str().unwrap_or("?"),
        balance["held"].as_str().unwrap_or("?"),
    );
    for entry in balance["entries"].as_array().into_iter().flatten() {
        println!(
            "  {:>24}  {:<20} {:>12} units",
            entry["at"].as_str().unwrap_or(""),
            entry["kind"].as_str().unwrap_or(""),
            entry["amount"].as_str().unwrap_or(""),
        );
    }
    Ok(())
}
