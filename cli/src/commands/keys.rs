//! `paywire keys create|list|revoke`: API keys (`pw_…`) that spend the wallet's balance from
//! any OpenAI client, made and managed signed in with the wallet.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::wallet::{json, Wallet, WalletArgs};
use crate::settings::Settings;

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
    #[command(flatten)]
    wallet: WalletArgs,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Make a key; it is shown once. Use it as an OpenAI API key with base_url <gateway>/v1
    Create {
        /// A name to tell it apart
        #[arg(long)]
        name: Option<String>,
        /// The most it may spend, in USDC (per --period, or over its life)
        #[arg(long)]
        spend_limit: Option<String>,
        /// day, week or month
        #[arg(long, requires = "spend_limit")]
        period: Option<String>,
        /// The models it may call (repeat the flag); all without it
        #[arg(long = "model")]
        models: Vec<String>,
        /// Requests per minute it may make
        #[arg(long)]
        rpm: Option<u32>,
        /// Days until it expires
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// The wallet's keys (never their secrets)
    List,
    /// Revoke a key by its id: refused at once by every gateway
    Revoke { id: i64 },
}

pub async fn run(args: KeysArgs, settings: &Settings) -> anyhow::Result<()> {
    let (wallet, gateway) = Wallet::from_args(args.wallet, settings)?;
    let http = reqwest::Client::new();
    let url = format!("{gateway}/v1/keys");
    match args.command {
        KeysCommand::Create {
            name,
            spend_limit,
            period,
            models,
            rpm,
            expires_in_days,
        } => {
            let body = json!({
                "name": name,
                "spend_limit": spend_limit,
                "limit_period": period,
                "models": (!models.is_empty()).then_some(models),
                "requests_per_minute": rpm,
                "expires_at": expires_in_days.map(|d| chrono::Utc::now() + chrono::Duration::days(d)),
            });
            let key = json(wallet.signed_in(|| http.post(&url).json(&body)).await?).await?;
            println!("{}", key["key"].as_str().unwrap_or("?"));
            eprintln!(
                "key {} ({}…): shown once, keep it. Use it as an OpenAI API key with base_url {gateway}/v1",
                key["id"],
                key["prefix"].as_str().unwrap_or("")
            );
        }
        KeysCommand::List => {
            let listed = json(wallet.signed_in(|| http.get(&url)).await?).await?;
            for key in listed["keys"].as_array().into_iter().flatten() {
                println!("{}", describe(key));
            }
        }
        KeysCommand::Revoke { id } => {
            json(
                wallet
                    .signed_in(|| http.delete(format!("{url}/{id}")))
                    .await?,
            )
            .await?;
            println!("key {id} revoked");
        }
    }
    Ok(())
}

fn describe(key: &Value) -> String {
    let text = |field: &str| key[field].as_str().map(str::to_string);
    let mut parts = vec![format!(
        "{:>5}  {}…  {}",
        key["id"],
        text("prefix").unwrap_or_default(),
        text("name").unwrap_or_else(|| "-".into())
    )];
    if let Some(limit) = text("spend_limit") {
        parts.push(format!(
            "spent {} of {limit} per {}",
            text("period_spent").unwrap_or_default(),
            text("limit_period").unwrap_or_else(|| "life".into())
        ));
    }
    if let Some(models) = key["models"].as_array() {
        parts.push(format!(
            "models {}",
            models
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    if key["revoked_at"].is_string() {
        parts.push("revoked".into());
    }
    parts.join("  ")
}
