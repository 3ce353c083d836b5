//! `paywire chat`: an agent's paid call. Gets the 402; spends the wallet's balance (signed in)
//! when it covers the call, else refuses to pay above `--max-spend` and pays on the chosen
//! chain; streams the answer, prints the receipt. Network retries resend
//! the same signed payment under the same `payment-identifier`, so a retry never pays twice.

use std::{io::Write, path::PathBuf, time::Duration};

use anyhow::{bail, Context};
use clap::Args;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use ledger::{format_usdc, parse_usdc};
use serde_json::{json, Value};
use x402::{client, siwx, wire};

use super::wallet::Wallet;
use crate::settings::Settings;

/// Pay for one chat completion and print the answer and the receipt.
///
/// Asks the gateway; signs in with the wallet of --chain (Solana from a keypair file, Base
/// from a private key) and spends its paywire balance when it covers the call (no transaction);
/// otherwise refuses to pay more than --max-spend and pays with x402 on --chain. Streams the
/// answer, then prints the receipt (charge, actual cost, credit or balance left) on stderr. A retry after a network error sends
/// the same payment under the same payment id, so it never pays twice.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ChatArgs {
    /// The prompt
    prompt: String,
    /// The model (see GET /v1/models)
    #[arg(long)]
    model: String,
    /// The gateway's base URL [default: the config file's gateway, else http://127.0.0.1:8402]
    #[arg(long, env = "PAYWIRE_GATEWAY")]
    gateway: Option<String>,
    /// solana or base
    #[arg(long, default_value = "solana")]
    chain: String,
    /// The most this call may cost, in USDC
    #[arg(long, default_value = "0.10")]
    max_spend: String,
    /// Ceiling on the answer's tokens (the price is computed with it)
    #[arg(long, default_value_t = 256)]
    max_tokens: u32,
    /// Solana payer: a Solana CLI keypair file [default: the config file's keypair]
    #[arg(long, env = "PAYWIRE_KEYPAIR")]
    keypair: Option<PathBuf>,
    /// Base payer: a hex private key
    #[arg(long, env = "PAYWIRE_BASE_PRIVATE_KEY")]
    private_key: Option<String>,
    /// Solana JSON-RPC, for a recent blockhash [default: the config file's rpc_url, else
    /// http://127.0.0.1:8899]
    #[arg(long, short = 'u', visible_alias = "url", env = "PAYWIRE_SOLANA_RPC")]
    rpc_url: Option<String>,
    /// The USDC to pay with: its mint on Solana, its contract on Base. Any other asset the
    /// gateway names is refused [default: Circle's USDC on Solana and Base mainnet, devnet
    /// and Base Sepolia; other networks (localnet) need it]
    #[arg(long, env = "PAYWIRE_USDC")]
    usdc: Option<String>,
    /// Ask for the whole answer at once instead of a stream
    #[arg(long)]
    no_stream: bool,
    /// Pay this call on chain even when the wallet's balance covers it
    #[arg(long)]
    per_call: bool,
}

pub async fn run(args: ChatArgs, settings: &Settings) -> anyhow::Result<()> {
    chat(ChatConfig {
        gateway: settings.gateway(args.gateway),
        model: args.model,
        prompt: args.prompt,
        chain: args.chain,
        max_spend: args.max_spend,
        max_tokens: args.max_tokens,
        keypair: settings.keypair(args.keypair),
        private_key: args.private_key,
        rpc_url: settings.rpc_url(args.rpc_url),
        usdc: args.usdc,
        stream: !args.no_stream,
        per_call: args.per_call,
    })
    .await
}

/// What `chat` runs with, the config file's defaults applied.
struct ChatConfig {
    pub gateway: String,
    pub model: String,
    pub prompt: String,
    pub chain: String,
    pub max_spend: String,
    pub max_tokens: u32,
    pub keypair: Option<PathBuf>,
    pub private_key: Option<String>,
    pub rpc_url: String,
    /// The USDC expected (mint or contract); Circle's for the network when absent.
    pub usdc: Option<String>,
    pub stream: bool,
    pub per_call: bool,
}

async fn chat(config: ChatConfig) -> anyhow::Result<()> {
    let max_spend = parse_usdc(&config.max_spend)
        .map_err(anyhow::Error::msg)
        .context("--max-spend")?;
    let url = format!(
        "{}/v1/chat/completions",
        config.gateway.trim_end_matches('/')
    );
    let body = json!({
        "model": config.model,
        "messages": [{ "role": "user", "content": config.prompt }],
        "max_tokens": config.max_tokens,
        "stream": config.stream,
    });
    let http = reqwest::Client::new();
    let first = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("reaching {url}"))?;
    if first.status() != 402 {
        let status = first.status();
        bail!(
            "expected 402 Payment Required from {url}, got {status}: {}",
            first.text().await.unwrap_or_default()
        );
    }
    let mut required: wire::PaymentRequired = first.json().await.context("reading the 402")?;
    let wallet = Wallet::new(
        &config.chain,
        config.keypair.clone(),
        config.private_key.clone(),
    )?;
    // The most the call may cost, whichever way it is paid.
    let amount: u64 = wallet
        .offer(&required)?
        .amount
        .parse()
        .context("the offered amount")?;
    if amount > max_spend {
        bail!(
            "the call costs {} USDC, over --max-spend {} USDC: nothing was paid (raise --max-spend or lower --max-tokens)",
            format_usdc(amount),
            format_usdc(max_spend)
        );
    }
    // The balance first (no transaction, no settlement wait), unless told to pay per call.
    if !config.per_call {
        if let Ok(sign_in) = wallet.sign_in(&required) {
            let response = http
                .post(&url)
                .header(siwx::HEADER, sign_in)
                .json(&body)
                .send()
                .await
                .context("the call signed in")?;
            if response.status().is_success() {
                return answer(response).await;
            }
            if response.status() != 402 {
                let status = response.status();
                bail!(
                    "the gateway answered {status}: {}",
                    response.text().await.unwrap_or_default()
                );
            }
            required = response.json().await.context("reading the 402")?;
            eprintln!(
                "the balance does not cover this call ({}); paying per call",
                required.error.as_deref().unwrap_or("no reason given")
            );
        }
    }
    let offer = wallet.offer(&required)?;
    let amount: u64 = offer.amount.parse().context("the offered amount")?;
    if amount > max_spend {
        bail!(
            "the call now costs {} USDC, over --max-spend {} USDC: nothing was paid",
            format_usdc(amount),
            format_usdc(max_spend)
        );
    }
    let payment = wallet
        .pay(offer, &config.rpc_url, config.usdc.as_deref())
        .await?;
    let id = format!("paywire-chat-{}", unique_id());
    let header = wire::encode_header(&client::with_payment_id(payment, &id));
    eprintln!("paying {} USDC on {} …", format_usdc(amount), offer.network);

    // The same signed payment and id on every attempt: at most one charge.
    let mut attempt = 0;
    let response = loop {
        attempt += 1;
        match http
            .post(&url)
            .header(wire::PAYMENT_SIGNATURE, &header)
            .json(&body)
            .send()
            .await
        {
            Ok(r) => break r,
            Err(e) if attempt < 3 => {
                eprintln!("retrying with the same payment ({e}) …");
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
            }
            Err(e) => return Err(e).context("the paid call"),
        }
    };
    answer(response).await
}

/// Prints the answer (streamed or whole) and its receipt.
async fn answer(response: reqwest::Response) -> anyhow::Result<()> {
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        bail!("the gateway answered {status}: {text}");
    }
    let receipt = if response
        .headers()
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        == Some("text/event-stream")
    {
        stream(response).await?
    } else {
        let answer: Value = response.json().await?;
        println!(
            "{}",
            answer["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
        );
        answer["paywire_receipt"].clone()
    };
    let text = |field: &str| receipt[field].as_str().unwrap_or("?").to_string();
    if receipt["hold_id"].is_null() {
        eprintln!(
            "receipt: charged {} USDC, actual cost {}, credit {} (to your balance), provider {}, transaction {}",
            text("charged"),
            text("actual_cost"),
            text("credit"),
            text("provider"),
            text("transaction"),
        );
    } else {
        eprintln!(
            "receipt: {} USDC from your balance (held {}), {} left, provider {}",
            text("charged"),
            text("held"),
            text("balance"),
            text("provider"),
        );
    }
    Ok(())
}

/// Prints the deltas as they arrive; returns the final receipt event.
async fn stream(response: reqwest::Response) -> anyhow::Result<Value> {
    let mut events = response.bytes_stream().eventsource();
    let mut receipt = Value::Null;
    let mut out = std::io::stdout();
    while let Some(event) = events.next().await {
        let event = event.context("reading the answer's stream")?;
        let Ok(json) = serde_json::from_str::<Value>(&event.data) else {
            continue;
        };
        match event.event.as_str() {
            "paywire.receipt" => receipt = json,
            "paywire.error" => eprintln!(
                "\n{}",
                json["error"]["message"]
                    .as_str()
                    .unwrap_or("the gateway cut the answer")
            ),
            _ => {
                if let Some(delta) = json["choices"][0]["delta"]["content"].as_str() {
                    write!(out, "{delta}")?;
                    out.flush()?;
                }
            }
        }
    }
    writeln!(out)?;
    Ok(receipt)
}

/// An id no other run of this machine has made.
pub fn unique_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}{:x}", std::process::id())
}
