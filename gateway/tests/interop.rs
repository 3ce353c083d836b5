//! The official clients against the live gateway, in both languages they ship in:
//! - x402: `@x402/fetch` with `@x402/svm` / `@x402/evm` (`tests/interop/pay.mjs`) and the
//!   Python `x402` with its httpx client (`tests/interop/pay.py`), on the local Solana and anvil;
//! - OpenAI: the Node and Python SDKs (`openai.mjs`, `openai_client.py`), with an API key (the
//!   key tests), paying per call through the x402 client, and reading our errors.
//!
//! The npm packages are pinned in `tests/interop/package-lock.json`, the Python ones in
//! `tests/interop/requirements.txt` (a virtualenv in `tests/interop/.venv`).

use std::path::{Path, PathBuf};

use serde_json::Value;
use sqlx::PgPool;

use crate::support::*;

/// The id the test gateway advertises its local Solana under (devnet's; see `GET /v1/models`).
const SOLANA_NETWORK: &str = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1";

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
pub async fn node(script: &str, args: &[impl AsRef<std::ffi::OsStr>]) -> Value {
    ensure_installed().await;
    let output = tokio::process::Command::new("node")
        .arg(interop_dir().join(script))
        .args(args)
        .output()
        .await
        .expect("node runs");
    printed(script, output)
}

/// Makes the virtualenv with the pinned Python packages, once, unless it has them already.
async fn ensure_python() -> PathBuf {
    static INSTALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _guard = INSTALL.lock().await;
    let dir = interop_dir();
    let venv = dir.join(".venv");
    let python = venv.join("bin/python");
    let wanted = std::fs::read_to_string(dir.join("requirements.txt")).unwrap();
    // The requirements it was made from, kept in it: a changed pin remakes it.
    let stamp = venv.join("paywire-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    let run = |program: &Path, args: &[&str]| {
        let status = std::process::Command::new(program)
            .args(args)
            .status()
            .unwrap_or_else(|e| panic!("{} runs (install Python 3.11+): {e}", program.display()));
        assert!(
            status.success(),
            "`{} {}` failed",
            program.display(),
            args.join(" ")
        );
    };
    run(
        Path::new("python3"),
        &["-m", "venv", &venv.to_string_lossy()],
    );
    run(
        &python,
        &[
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            &dir.join("requirements.txt").to_string_lossy(),
        ],
    );
    std::fs::write(&stamp, wanted).unwrap();
    python
}

/// Runs the Python interop script `script` with `args`; returns the JSON object it printed.
pub async fn python(script: &str, args: &[impl AsRef<std::ffi::OsStr>]) -> Value {
    let python = ensure_python().await;
    let output = tokio::process::Command::new(python)
        .arg(interop_dir().join(script))
        .args(args)
        // Nothing written into the checkout.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .await
        .expect("python runs");
    printed(script, output)
}

fn printed(script: &str, output: std::process::Output) -> Value {
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

/// How a script pays on `chain` (`solana` or `base`): the payer's key, the RPC the client
/// reads (`-`: none), the network id and the USDC.
fn payer(w: &World, chain: &str) -> [String; 4] {
    let s = &w.net.state.solana;
    let b = w.net.state.base.as_ref().unwrap();
    match chain {
        "solana" => [
            s.payer_keypair.to_string_lossy().into(),
            s.rpc_url.clone(),
            SOLANA_NETWORK.into(),
            s.usdc_mint.to_string(),
        ],
        _ => [
            b.payer_private_key.clone(),
            "-".into(),
            b.network.clone(),
            b.usdc.to_string(),
        ],
    }
}

/// `pay.mjs` / `pay.py`'s arguments: pay for `request` at `url` on `chain` (`solana-v1`,
/// `base-v1`: as an x402 v1 client).
fn pay_args(w: &World, url: &str, chain: &str, request: &str) -> Vec<String> {
    let [key, rpc, network, usdc] = payer(w, chain.trim_end_matches("-v1"));
    vec![
        url.into(),
        chain.into(),
        key,
        rpc,
        request.into(),
        network,
        usdc,
    ]
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn the_official_x402_clients_pay_on_solana_and_base(pool: PgPool) {
    let w = world(pool, "ok").await;
    let url = format!("{}/v1/chat/completions", w.gateway);
    let request = chat("beta", false).to_string();
    let s = &w.net.state.solana;
    let b = w.net.state.base.as_ref().unwrap();
    let solana = node("pay.mjs", &pay_args(&w, &url, "solana", &request)).await;
    assert_eq!(solana["status"], 200, "{solana}");
    assert_eq!(solana["paymentResponse"]["success"], true);
    assert_eq!(
        solana["body"]["choices"][0]["message"]["content"],
        "Hello world"
    );

    let base = node("pay.mjs", &pay_args(&w, &url, "base", &request)).await;
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

/// The Python x402 client, as `pay.mjs` does: one payment on each chain, then one on each as
/// a v1 client.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn the_official_python_x402_client_pays_on_solana_and_base(pool: PgPool) {
    let w = world(pool, "ok").await;
    let url = format!("{}/v1/chat/completions", w.gateway);
    let request = chat("beta", false).to_string();
    let s = &w.net.state.solana;
    let b = w.net.state.base.as_ref().unwrap();
    let solana = python("pay.py", &pay_args(&w, &url, "solana", &request)).await;
    assert_eq!(solana["status"], 200, "{solana}");
    assert_eq!(solana["paymentResponse"]["success"], true, "{solana}");
    assert_eq!(
        solana["body"]["choices"][0]["message"]["content"],
        "Hello world"
    );
    let base = python("pay.py", &pay_args(&w, &url, "base", &request)).await;
    assert_eq!(base["status"], 200, "{base}");
    assert_eq!(base["paymentResponse"]["network"], b.network.as_str());

    // The same SDK as an x402 v1 client (`X-PAYMENT`, v1 network names) on both chains.
    for chain in ["solana-v1", "base-v1"] {
        let paid = python("pay.py", &pay_args(&w, &url, chain, &request)).await;
        assert_eq!(paid["status"], 200, "{chain}: {paid}");
        assert_eq!(paid["sent"], serde_json::json!(["X-PAYMENT"]), "{paid}");
        assert_eq!(paid["paymentResponse"]["success"], true, "{chain}: {paid}");
    }

    let charges = charges(&w.pool).await;
    let payers: Vec<&str> = charges.iter().map(|c| c.payer.as_str()).collect();
    assert_eq!(
        payers,
        [
            s.payer.to_string(),
            b.payer.to_string(),
            s.payer.to_string(),
            b.payer.to_string()
        ]
    );
    assert!(charges.iter().all(|c| c.status == "completed"));
    assert_eq!(
        solana["paymentResponse"]["transaction"].as_str(),
        charges[0].settlement_tx.as_deref()
    );
}

/// The OpenAI Python SDK with the x402 client as its HTTP client pays each call, streamed and
/// not, and sees the receipt in both (the streamed one in the chunk before `[DONE]`).
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn the_openai_python_sdk_pays_per_call_through_the_x402_client(pool: PgPool) {
    let w = world(pool, "ok").await;
    let base_url = format!("{}/v1", w.gateway);
    let paying = |chain: &str| {
        let [key, rpc, network, usdc] = payer(&w, chain);
        vec![
            base_url.clone(),
            "x402".into(),
            "beta".into(),
            chain.into(),
            key,
            rpc,
            network,
            usdc,
        ]
    };
    let solana = python("openai_client.py", &paying("solana")).await;
    assert_eq!(solana["content"], "Hello world", "{solana}");
    assert_eq!(solana["streamed"], "Hello world", "{solana}");
    assert_eq!(solana["paymentResponse"]["success"], true, "{solana}");
    assert_eq!(solana["receipt"]["network"], SOLANA_NETWORK, "{solana}");
    let streamed = &solana["streamedReceipt"];
    assert_eq!(streamed["network"], SOLANA_NETWORK, "{solana}");
    assert!(
        streamed["credit"].is_string(),
        "the SDK user sees the credit: {solana}"
    );
    let base = python("openai_client.py", &paying("base")).await;
    assert_eq!(base["streamed"], "Hello world", "{base}");
    let network = &w.net.state.base.as_ref().unwrap().network;
    assert_eq!(
        base["streamedReceipt"]["network"],
        network.as_str(),
        "{base}"
    );
    let charges = charges(&w.pool).await;
    assert_eq!(charges.len(), 4, "two calls on each chain");
    assert!(charges.iter().all(|c| c.status == "completed"));
}

/// What an OpenAI SDK user reads when a call is not answered: the reason, in the exception's
/// text, from the Node and the Python SDK alike (before: "402 status code (no body)" and
/// "Error code: 402").
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn the_openai_sdks_show_why_a_call_was_not_answered(pool: PgPool) {
    let w = world(pool, "ok").await;
    let base_url = format!("{}/v1", w.gateway);
    // Not a paywire key: an unpaid call.
    let node_sdk = node("openai.mjs", &[&base_url, "sk-not-paywire", "beta"]).await;
    assert_eq!(node_sdk["status"], 402, "{node_sdk}");
    let text = node_sdk["error"].as_str().unwrap();
    assert!(
        text.starts_with("402 payment_required: this call costs at most 0.0"),
        "{node_sdk}"
    );
    let python_sdk = python("openai_client.py", &[&base_url, "sk-not-paywire", "beta"]).await;
    assert_eq!(python_sdk["status"], 402, "{python_sdk}");
    let text = python_sdk["error"].as_str().unwrap();
    assert!(
        text.starts_with("Error code: 402 - payment_required: this call costs at most 0.0"),
        "{python_sdk}"
    );

    // A payment the gateway refuses (a payer with no USDC): its reason, through the x402
    // client, which hands the second 402 to the SDK.
    let broke = w.net.data_dir().join("broke.json");
    localnet::write_keypair(&broke, &solana_keypair::Keypair::new()).unwrap();
    let [_, rpc, network, usdc] = payer(&w, "solana");
    let broke = broke.to_string_lossy().to_string();
    let args = [
        &base_url, "x402", "beta", "solana", &broke, &rpc, &network, &usdc,
    ];
    let refused = python("openai_client.py", &args).await;
    assert_eq!(refused["status"], 402, "{refused}");
    let code = refused["body"]["code"].as_str().unwrap();
    let text = refused["error"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("Error code: 402 - {code}: ")) && code != "payment_required",
        "the refusal's reason is in the text: {refused}"
    );
    assert!(charges(&w.pool).await.is_empty(), "nothing was charged");
}
