//! The official x402 clients pay the live gateway: `@x402/fetch` with `@x402/svm` on the
//! local Solana and with `@x402/evm` on anvil (`tests/interop/pay.mjs`); the official OpenAI
//! client spends a balance with an API key (`tests/interop/openai.mjs`, used by the key tests).
//! The npm packages are pinned in `tests/interop/package-lock.json`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sqlx::PgPool;

use crate::support::*;

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Installs the pinned npm packages once, if they are missing.
async fn ensure_installed() {
    static INSTALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _guard = INSTALL.lock().await;
    let dir = interop_dir();
    if dir.join("node_modules/@x402/fetch").is_dir() && dir.join("node_modules/openai").is_dir() {
        return;
    }
    let status = tokio::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .status()
        .await
        .expect("npm runs (install Node.js and npm)");
    assert!(
        status.success(),
        "`npm ci --prefix {}` failed",
        dir.display()
    );
}

/// Runs the interop script `script` with `args`; returns the JSON object it printed.
pub async fn node(script: &str, args: &[&str]) -> Value {
    ensure_installed().await;
    let output = tokio::process::Command::new("node")
        .arg(interop_dir().join(script))
        .args(args)
        .output()
        .await
        .expect("node runs");
    assert!(
        output.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} prints one JSON object ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

async fn official_client(args: &[&str]) -> Value {
    node("pay.mjs", args).await
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn the_official_x402_clients_pay_on_solana_and_base(pool: PgPool) {
    let w = world(pool, "ok").await;
    let url = format!("{}/v1/chat/completions", w.gateway);
    let request = chat("beta", false).to_string();
    let s = &w.net.state.solana;
    let b = w.net.state.base.as_ref().unwrap();

    let keypair = s.payer_keypair.to_string_lossy().to_string();
    let network = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1";
    let solana = official_client(&[
        &url,
        "solana",
        &keypair,
        &s.rpc_url,
        &request,
        network,
        &s.usdc_mint.to_string(),
    ])
    .await;
    assert_eq!(solana["status"], 200, "{solana}");
    assert_eq!(solana["paymentResponse"]["success"], true);
    assert_eq!(
        solana["body"]["choices"][0]["message"]["content"],
        "Hello world"
    );

    let base = official_client(&[
        &url,
        "base",
        &b.payer_private_key,
        "-",
        &request,
        &b.network,
        &b.usdc.to_string(),
    ])
    .await;
    assert_eq!(base["status"], 200, "{base}");
    assert_eq!(base["paymentResponse"]["network"], "eip155:84532");

    let charges = charges(&w.pool).await;
    let payers: Vec<&str> = charges.iter().map(|c| c.payer.as_str()).collect();
    assert_eq!(payers, [s.payer.to_string(), b.payer.to_string()]);
    assert!(charges.iter().all(|c| c.status == "completed"));
    assert_eq!(
        solana["paymentResponse"]["transaction"].as_str(),
        charges[0].settlement_tx.as_deref()
    );
}
