//! `paywire localnet` started as a user starts it, used with production clients, stopped
//! with Ctrl-C.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use alloy::providers::ProviderBuilder;
use localnet::{evm::TestUSDC, LocalnetState, DEMO_USDC};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;

/// A running paywire, stopped as a user stops it (Ctrl-C) when dropped, so that it cleans up
/// after itself even when the test fails.
struct Stop(std::process::Child);

impl Stop {
    /// Ctrl-C, and its exit status once it exits; `None` if it had to be killed after 30 s.
    fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        None
    }

    /// [`Stop::stop`] that must succeed in stopping it.
    fn interrupt(&mut self) -> std::process::ExitStatus {
        self.stop()
            .expect("paywire did not stop within 30 s of Ctrl-C")
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// A fresh directory `paywire-<name>-XXXXXX`, removed when dropped.
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("paywire-{name}-"))
        .tempdir()
        .unwrap()
}

/// What a directory holds (names), to show that a run left nothing in it.
fn entries(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `amount` USDC base units from localnet's demo payer to the Solana treasury, confirmed; its
/// signature.
async fn solana_payer_pays_the_treasury(s: &localnet::SolanaState, amount: u64) -> String {
    let rpc = RpcClient::new_with_commitment(
        s.rpc_url.clone(),
        solana_commitment_config::CommitmentConfig::confirmed(),
    );
    let payer = localnet::read_keypair(&s.payer_keypair).unwrap();
    let ix = spl_token_interface::instruction::transfer_checked(
        &spl_token_interface::ID,
        &s.payer_usdc,
        &s.usdc_mint,
        &s.treasury_usdc,
        &payer.pubkey(),
        &[],
        amount,
        6,
    )
    .unwrap();
    let tx = solana_transaction::Transaction::new_signed_with_payer(
        &[ix],
        Some(&payer.pubkey()),
        &[&payer],
        rpc.get_latest_blockhash().await.unwrap(),
    );
    rpc.send_and_confirm_transaction(&tx)
        .await
        .unwrap()
        .to_string()
}

/// `paywire localnet` on free ports, once its state file is written; the directory holding
/// its data goes when the last value is dropped (after the localnet, which is dropped first).
async fn spawn_localnet(name: &str) -> (Stop, LocalnetState, PathBuf, tempfile::TempDir) {
    let dir = temp_dir(name);
    let data_dir = dir.path().join("data");
    let state_file = data_dir.join("state.json");
    // Its temporary files too: a test that kills it outright leaves them to the test.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_paywire"))
        .args([
            "localnet",
            "--rpc-port",
            "0",
            "--grpc-port",
            "0",
            "--evm-port",
            "0",
            "--slot-ms",
            "100",
        ])
        .arg("--data-dir")
        .arg(&data_dir)
        .env("TMPDIR", &tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run paywire");
    let mut child = Stop(child);

    let started = Instant::now();
    while !state_file.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no state file after 120 s"
        );
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "paywire localnet exited early"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state: LocalnetState =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    (child, state, state_file, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn localnet_command_sets_up_both_chains_and_stops_cleanly_on_ctrl_c() {
    let (mut child, state, state_file, dir) = spawn_localnet("localnet").await;

    // Solana: the config exists and the demo payer holds its USDC
    let rpc = RpcClient::new(state.solana.rpc_url.clone());
    let config = rpc.get_account(&state.solana.config).await.unwrap();
    assert_eq!(config.owner, state.solana.program_id);
    let balance = rpc
        .get_token_account_balance(&state.solana.payer_usdc)
        .await
        .unwrap();
    assert_eq!(balance.amount, DEMO_USDC.to_string());
    assert_eq!(balance.decimals, 6);
    assert!(
        state.solana.payer_keypair.exists(),
        "payer keypair file written"
    );
    let keypair: Vec<u8> =
        serde_json::from_slice(&std::fs::read(&state.solana.payer_keypair).unwrap()).unwrap();
    assert_eq!(keypair.len(), 64);
    // Nobody else on the machine reads its keys (the state file holds Base private keys).
    for secret in [
        &state.solana.admin_keypair,
        &state.solana.treasury_keypair,
        &state.solana.payer_keypair,
        &state.solana.facilitator_keypair,
        &state_file,
    ] {
        assert_eq!(mode(secret), 0o600, "{}", secret.display());
    }

    // Base: the demo payer holds USDC on anvil
    let base = state.base.expect("base state");
    assert_eq!(base.network, "eip155:84532");
    let provider = ProviderBuilder::new().connect_http(base.rpc_url.parse().unwrap());
    let usdc = TestUSDC::new(base.usdc, &provider);
    let held = usdc.balanceOf(base.payer).call().await.unwrap();
    assert_eq!(held.to::<u64>(), DEMO_USDC);

    // Ctrl-C: exits 0 and takes anvil with it
    let exit = child.interrupt();
    assert!(exit.success(), "exit status {exit}");
    assert_eq!(
        entries(&dir.path().join("tmp")),
        Vec::<String>::new(),
        "left behind"
    );
    assert!(
        rpc.get_slot().await.is_err(),
        "JSON-RPC still answering after shutdown"
    );
    let anvil_gone = alloy::providers::Provider::get_chain_id(&provider)
        .await
        .is_err();
    assert!(anvil_gone, "anvil still running after shutdown");
}

#[test]
fn help_documents_the_state_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_paywire"))
        .args(["localnet", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for field in [
        "solana.rpc_url",
        "solana.payer_keypair",
        "base.usdc_version",
        "--state-file",
        "--no-evm",
    ] {
        assert!(help.contains(field), "--help does not mention {field}");
    }
}

/// `paywire bench <args> --json` prints one JSON object with every figure a positive number.
fn bench_prints_every_figure(args: &[&str], figures: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_paywire"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    for field in figures {
        let value = report[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} missing"));
        assert!(value > 0.0, "{field} = {value}");
    }
    report
}

#[test]
fn bench_indexer_prints_every_figure_as_json() {
    bench_prints_every_figure(
        &[
            "indexer",
            "--rows",
            "3000",
            "--insert-rows",
            "200",
            "--batch-rows",
            "1000",
            "--decode-txs",
            "1000",
        ],
        &[
            "write_rows_per_s",
            "copy_rows_per_s",
            "insert_rows_per_s",
            "decode_tx_per_s",
        ],
    );
}

/// `paywire indexer --localnet <state>` against a running `paywire localnet`: the demo payer
/// pays the treasury on both chains and both payments reach the ledger.
#[sqlx::test(migrations = false)]
async fn indexer_command_follows_a_localnet_into_the_ledger(pool: sqlx::PgPool) {
    let (_localnet, state, state_file, _dir) = spawn_localnet("indexer").await;
    let url = database_url(&pool);
    let api = free_address();
    let _indexer = Stop(
        Command::new(env!("CARGO_BIN_EXE_paywire"))
            .args([
                "indexer",
                "--database-url",
                &url,
                "--listen",
                &api,
                "--localnet",
            ])
            .arg(&state_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run paywire indexer"),
    );

    // Solana: 1 USDC from the demo payer to the treasury
    let solana_tx = solana_payer_pays_the_treasury(&state.solana, 1_000_000).await;

    // Base: 2 USDC from the demo payer to the treasury
    let base = state.base.as_ref().expect("base state");
    let receipt = testkit::chains::base_payer_sends_usdc(base, base.treasury, 2_000_000).await;
    let base_tx = receipt.transaction_hash.to_string();

    let found = testkit::eventually("the indexer to record both payments", async || {
        let found: Vec<(String, String)> = sqlx::query_as(
            "SELECT tx, amount::text FROM ledger.transfers WHERE tx = $1 OR tx = $2 ORDER BY amount",
        )
        .bind(&solana_tx)
        .bind(&base_tx)
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        (found.len() == 2).then_some(found)
    })
    .await;
    assert_eq!(
        found,
        [
            (solana_tx.clone(), "1000000".to_string()),
            (base_tx.clone(), "2000000".to_string())
        ]
    );

    // The same, through the ledger's read-only API.
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        async move {
            http.get(path)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let legs = get(format!("http://{api}/ledger/transfers?tx={solana_tx}")).await;
    assert_eq!(legs[0]["amount"], "1000000", "{legs}");
    assert_eq!(legs[0]["chain"], "solana");
    let cursors = get(format!("http://{api}/ledger/cursors")).await;
    let names: Vec<&str> = cursors
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["base", "solana"]);
    let audit = get(format!("http://{api}/ledger/audit")).await;
    assert_eq!(
        audit["reconciled"], true,
        "no charges, no payTo: nothing to reconcile"
    );
    // the indexer's Solana RPC reads the chain for the vault checks: none tokenized yet
    let models = get(format!("http://{api}/ledger/models")).await;
    assert_eq!(models, serde_json::json!([]));
}

/// Two `paywire indexer` processes on one ledger: the first follows both chains, the second
/// stands by. The first is killed (SIGKILL, no goodbye) while payments keep coming; the second
/// takes over each chain from its cursor, and every payment is in the ledger, once.
#[sqlx::test(migrations = false)]
async fn a_standby_indexer_takes_over_when_the_active_one_is_killed(pool: sqlx::PgPool) {
    let (_localnet, state, state_file, dir) = spawn_localnet("standby").await;
    let url = database_url(&pool);
    let indexer = |name: &str| {
        let log = dir.path().join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_paywire"))
            .args(["indexer", "--database-url", &url, "--localnet"])
            .arg(&state_file)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("run paywire indexer");
        (Stop(child), log)
    };
    let leases = async || -> Vec<(String, i64)> {
        sqlx::query_as("SELECT name, epoch FROM ledger.leases ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap_or_default()
    };
    let (mut first, _) = indexer("first");
    testkit::eventually("the first indexer to hold both leases", async || {
        (leases().await.len() == 2).then_some(())
    })
    .await;
    let (_second, second_log) = indexer("second");
    let log_of = |path: &std::path::Path| std::fs::read_to_string(path).unwrap_or_default();
    testkit::eventually(
        "the second indexer to stand by on both chains",
        async || (log_of(&second_log).matches("standing by").count() == 2).then_some(()),
    )
    .await;

    let base = state.base.as_ref().expect("base state");
    let mut paid = Vec::new();
    for i in 1..=8u64 {
        if i == 4 {
            first.0.kill().unwrap();
            first.0.wait().unwrap();
        }
        paid.push(solana_payer_pays_the_treasury(&state.solana, 1_000 * i).await);
        if i % 3 == 0 {
            let receipt = testkit::chains::base_payer_sends_usdc(base, base.treasury, i).await;
            paid.push(receipt.transaction_hash.to_string());
        }
    }

    let legs = testkit::eventually("every payment in the ledger", async || {
        let legs: Vec<(String, i64)> = sqlx::query_as(
            "SELECT tx, count(*) FROM ledger.transfers WHERE tx = ANY($1) GROUP BY tx",
        )
        .bind(&paid)
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        (legs.len() == paid.len()).then_some(legs)
    })
    .await;
    assert!(
        legs.iter().all(|(_, n)| *n == 1),
        "each payment once: {legs:?}"
    );
    assert_eq!(
        leases().await,
        [("base".to_string(), 2), ("solana".to_string(), 2)],
        "the second indexer took each lease over once"
    );
    let log = log_of(&second_log);
    assert!(
        log.contains("took over base") && log.contains("took over solana"),
        "{log}"
    );
}

#[test]
fn bench_gateway_prints_every_figure_as_json() {
    let report = bench_prints_every_figure(
        &[
            "gateway",
            "--requests",
            "8",
            "--concurrency",
            "2",
            "--sweep",
            "2",
            "--gateways",
            "2",
        ],
        &[
            "direct_rps",
            "paid_rps",
            "direct_p50_ms",
            "paid_p50_ms",
            "direct_p99_ms",
            "paid_p99_ms",
            "settle_p50_ms",
            "key_p50_ms",
            "key_added_p50_ms",
            "paid_added_p50_ms",
            "direct_ttft_ms",
            "paid_ttft_ms",
            "serial_ttft_ms",
        ],
    );
    // The sweep: a step per chain, every call answered, none charged twice.
    let steps: Vec<(&str, u64)> = report["sweep"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["chain"].as_str().unwrap(), s["errors"].as_u64().unwrap()))
        .collect();
    assert_eq!(steps, [("solana", 0), ("base", 0)], "{report}");
    assert_eq!(report["double_charges"], 0, "{report}");
}

#[test]
fn gateway_help_documents_the_config_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_paywire"))
        .args(["gateway", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for field in [
        "fee_payer_keypair",
        "facilitator_private_key",
        "[[models.providers]]",
        "quote_secret",
        "facilitator_key",
        "creator",
        "--listen",
    ] {
        assert!(help.contains(field), "--help does not mention {field}");
    }
}

/// `paywire --cli-config <file> <args>`.
fn with_cli_config(file: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_paywire"))
        .arg("--cli-config")
        .arg(file)
        .args(args)
        .output()
        .unwrap()
}

/// A CLI config file is written by `config set`, read back by `config get`, and a broken one
/// is an error naming the file and the way out, not silently ignored defaults.
#[test]
fn the_cli_config_file_round_trips_and_a_broken_one_is_a_clear_error() {
    let dir = temp_dir("cli-config-file");
    let file = dir.path().join("cli.toml");
    let paywire = |args: &[&str]| with_cli_config(&file, args);
    let fresh = String::from_utf8(paywire(&["config", "get"]).stdout).unwrap();
    assert!(
        fresh.contains("RPC URL: http://127.0.0.1:8899 (default)"),
        "{fresh}"
    );
    let set = paywire(&[
        "config",
        "set",
        "-u",
        "devnet",
        "--database-url",
        "postgres://u:secret@db/ledger",
    ]);
    assert!(set.status.success());
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(mode(&file), 0o600, "it may hold a database password");
    assert!(
        written.contains(r#"rpc_url = "https://api.devnet.solana.com""#),
        "{written}"
    );
    let shown = String::from_utf8(paywire(&["config", "get"]).stdout).unwrap();
    assert!(
        shown.contains("RPC URL: https://api.devnet.solana.com\n"),
        "{shown}"
    );
    assert!(
        !shown.contains("secret"),
        "the password is not printed: {shown}"
    );
    let removed = paywire(&["config", "set", "--database-url", ""]);
    assert!(String::from_utf8(removed.stdout)
        .unwrap()
        .contains("Database URL: none (default)"));

    std::fs::write(&file, "rpc_url = [not toml").unwrap();
    let broken = paywire(&["model", "show", "--slug", "x"]);
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(!broken.status.success());
    assert!(
        stderr.contains(&format!("{} is not a paywire CLI config", file.display()))
            && stderr.contains("paywire config set"),
        "{stderr}"
    );
}

/// The whole system and its demo, as a newcomer runs it: exits 0 only if every charge
/// reconciles with what the indexer saw on chain.
#[test]
fn up_runs_the_demo_and_every_charge_reconciles() {
    // Its own temporary directory, to see that it leaves nothing in it.
    let tmp = temp_dir("up-tmp");
    // The program as the program suite runs it: with PAYWIRE_SBF=1 (CI's second pass) the SBF
    // build, so the demo crosses the real binary's compute budgets; natively otherwise.
    let (program, runs) = match std::env::var("PAYWIRE_SBF").as_deref() {
        Ok("1") => {
            let dir = std::env::var("SBF_OUT_DIR")
                .expect("PAYWIRE_SBF=1 needs SBF_OUT_DIR: the directory holding model_vault.so");
            let so = std::path::Path::new(&dir).join("model_vault.so");
            (so.display().to_string(), "model-vault: SBF build")
        }
        _ => ("native".to_string(), "model-vault: native"),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_paywire"))
        .args(["up", "--calls", "20", "--exit", "--port", "0"])
        .args(["--program", &program])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(entries(tmp.path()), Vec::<String>::new(), "left behind");
    assert!(out.status.success(), "paywire up failed:\n{stderr}");
    assert!(stderr.contains(runs), "{stderr}");
    assert!(stderr.contains("everything reconciles"), "{stderr}");
    // The 20 calls, the balance rail's per-call payment, top-up and withdrawal, and the release
    // of what the tokenized model earned from balances and on Base.
    assert_eq!(stderr.matches(" matched").count(), 24, "{stderr}");
    assert!(
        stderr.contains("demo/tokenized: released 0.007000 USDC of owed revenue to its vault"),
        "{stderr}"
    );
    assert!(
        stderr.contains("revenue of demo/tokenized: earned 0.012000 (balance solana 0.002000 ×2, per-call solana 0.005000 ×5, per-call base 0.005000 ×5) − received 0.012000 (paid directly 0.005000, released 0.007000) → nothing owed"),
        "{stderr}"
    );
    for line in [
        "per call: 0.002064 USDC paid on chain, the call cost 0.001000, 0.001064 to the balance",
        "next call signed in (SIWS), no transaction: charged 0.001000 from the balance, 0.000064 left",
        "top-up: 0.050000 USDC paid on chain → 0.050064 available",
        "(Authorization: Bearer, as any OpenAI client sends it): charged 0.001000, 0.049064 left",
        "withdrawal: 0.049064 USDC back to the wallet",
    ] {
        assert!(stderr.contains(line), "{line}:\n{stderr}");
    }
    assert!(
        stderr.contains("buyback_and_burn of demo/tokenized"),
        "{stderr}"
    );
}

fn render_page(url: &str) -> String {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(testkit::browser::rendered_dom(url))
        .unwrap()
}

/// A local address nobody listens on (yet).
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// The URL of the test database `pool` is connected to.
fn database_url(pool: &sqlx::PgPool) -> String {
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    let database = pool.connect_options().get_database().unwrap().to_string();
    match server.rfind('/') {
        Some(i) if server[..i].ends_with(|c: char| c != '/') => {
            format!("{}/{database}", &server[..i])
        }
        _ => format!("{server}/{database}"),
    }
}

#[sqlx::test(migrations = false)]
async fn audit_reports_as_json_and_csv_and_fails_on_a_discrepancy(pool: sqlx::PgPool) {
    let url = database_url(&pool);
    let audit = |format: &str| {
        Command::new(env!("CARGO_BIN_EXE_paywire"))
            .args(["audit", "--database-url", &url, "--format", format])
            .output()
            .unwrap()
    };
    let clean = audit("json");
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&clean.stdout).unwrap();
    assert_eq!(report["reconciled"], true);

    // A settled charge whose payment never reached the chain.
    sqlx::query(
        "INSERT INTO ledger.charges (quote_id, model, payer, chain, pay_to, amount, settlement_tx, status)
         VALUES ('q', 'alpha', 'agent', 'solana', 'vault', 1000, 'sig-nowhere', 'completed')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let failing = audit("json");
    assert_eq!(failing.status.code(), Some(1), "a discrepancy exits 1");
    // A ledger that cannot be reached: the audit could not be made, which is not "broken".
    let unreachable = Command::new(env!("CARGO_BIN_EXE_paywire"))
        .args([
            "audit",
            "--database-url",
            "postgres://postgres@127.0.0.1:1/none",
        ])
        .output()
        .unwrap();
    assert_eq!(
        unreachable.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&unreachable.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&failing.stdout).unwrap();
    let failing_report = report.clone();
    assert_eq!(report["charges"][0]["result"], "missing");
    let csv = String::from_utf8(audit("csv").stdout).unwrap();
    assert!(csv.starts_with("kind,charge_id,model,chain,payer,pay_to,amount,tx,result,detail\n"));
    assert!(
        csv.contains("charge,1,alpha,solana,agent,vault,1000,sig-nowhere,missing,"),
        "{csv}"
    );

    // `--serve`: the same audit as the ledger page's JSON API, until stopped.
    let address = free_address();
    let _server = Stop(
        Command::new(env!("CARGO_BIN_EXE_paywire"))
            .args(["audit", "--database-url", &url, "--serve", &address])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let started = Instant::now();
    let served = loop {
        match http
            .get(format!("http://{address}/ledger/audit"))
            .send()
            .await
        {
            Ok(response) => break response.json::<serde_json::Value>().await.unwrap(),
            Err(e) => assert!(
                started.elapsed() < Duration::from_secs(30),
                "paywire audit --serve never answered: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        served, failing_report,
        "the API's JSON and `paywire audit --format json` are one report, serialised once"
    );
    assert_eq!(served["reconciled"], false);
    assert_eq!(served["charges"][0]["result"], "missing");
    assert_eq!(
        served["charges"][0]["amount"], "1000",
        "amounts are decimal strings"
    );
    let models = http
        .get(format!("http://{address}/ledger/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        models.status(),
        501,
        "no --solana-rpc: the vault checks say so"
    );

    // What payers hold: per chain in the report, per payer on request (and in the API).
    sqlx::raw_sql(
        "INSERT INTO ledger.balance_entries (payer, chain, kind, amount) VALUES ('agent', 'solana', 'top_up', 2500);
         INSERT INTO ledger.balances (payer, chain, available) VALUES ('agent', 'solana', 2500)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let listed = Command::new(env!("CARGO_BIN_EXE_paywire"))
        .args(["audit", "--database-url", &url, "--balances"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(
        table.contains("payer balances on solana: 0.002500 owed to 1 payers"),
        "{table}"
    );
    assert!(
        table.contains("balance of agent on solana: available 0.002500, held 0.000000"),
        "{table}"
    );
    let per_payer: serde_json::Value = http
        .get(format!("http://{address}/ledger/balances?payer=agent"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(per_payer[0]["available"], "2500");
}

/// `paywire up` left running, and `paywire chat` paying it on both chains as its output
/// suggests; a call over `--max-spend` is refused before paying.
#[test]
fn chat_pays_a_running_up_on_both_chains_the_crank_burns_and_max_spend_holds() {
    use std::io::{BufRead, BufReader};
    let tmp = temp_dir("up-tmp");
    let child = Command::new(env!("CARGO_BIN_EXE_paywire"))
        .args(["up", "--calls", "0", "--port", "0"])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = Stop(child);
    let mut suggestions = Vec::new();
    let mut model_suggestions = Vec::new();
    let mut ledger_page = None;
    let mut base_rpc = None;
    let mut lines = BufReader::new(up.0.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(command) = line.trim().strip_prefix("paywire chat ") {
            suggestions.push(command.to_string());
        }
        if let Some(command) = line.trim().strip_prefix("paywire model ") {
            model_suggestions.push(command.to_string());
        }
        if let Some(rest) = line.trim().strip_prefix("ledger page") {
            ledger_page = rest.split_whitespace().next().map(String::from);
        }
        if let Some(rest) = line.trim().strip_prefix("Base (anvil)") {
            base_rpc = rest.split_whitespace().next().map(String::from);
        }
        if line.contains("Ctrl-C stops everything") {
            break;
        }
    }
    assert_eq!(suggestions.len(), 2, "paywire up suggests a chat per chain");
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let chat = |suggestion: &str, extra: &[&str]| {
        let mut args: Vec<String> = suggestion
            .split_whitespace()
            .map(|a| a.trim_matches('"').to_string())
            .collect();
        args.insert(0, "chat".into());
        args.extend(extra.iter().map(|a| a.to_string()));
        Command::new(env!("CARGO_BIN_EXE_paywire"))
            .args(&args)
            .output()
            .unwrap()
    };
    for (suggestion, extra) in [
        (&suggestions[0], vec![]),
        (&suggestions[1], vec!["--no-stream"]),
    ] {
        let out = chat(suggestion, &extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Hello world"));
        // 256 max tokens × 8 + the prompt × 2 per million; the demo upstream's usage costs
        // less than the 0.001 floor, so the rest is credited.
        assert!(
            stderr
                .contains("receipt: charged 0.002064 USDC, actual cost 0.001000, credit 0.001064"),
            "{stderr}"
        );
    }
    // Told to expect another token than the one the gateway names, chat pays nothing.
    let usdc = suggestions[0]
        .split_whitespace()
        .skip_while(|a| *a != "--usdc")
        .nth(1)
        .unwrap()
        .to_string();
    let refused = chat(
        &suggestions[0].replace(&usdc, "So11111111111111111111111111111111111111112"),
        &[],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("not USDC"),
        "{stderr}"
    );
    // The creator's and the treasury's keypairs, as `paywire up` suggests them, and its ledger.
    let keypair_in = |command: &str| {
        let line = model_suggestions
            .iter()
            .find(|l| l.starts_with(command))
            .unwrap_or_else(|| panic!("paywire up suggests `paywire model {command}`"));
        let words: Vec<&str> = line.split_whitespace().collect();
        words[words.iter().position(|w| *w == "--keypair").unwrap() + 1].to_string()
    };
    let (creator, treasury) = (keypair_in("claim"), keypair_in("release-held"));
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    let database = format!(
        "{}/paywire_up_{}",
        &server[..server.rfind('/').unwrap()],
        up.0.id()
    );

    // The Solana call paid the tokenized model's vault: the keeper (the crank, with the
    // treasury's key and the ledger) finds it over-received (the payer was credited the
    // surplus), holds demo/held's revenue until it is tokenized, and buys back and burns; a
    // second round right after is refused by the program's cooldown, by name.
    let tokens: Vec<&str> = suggestions[0].split_whitespace().collect();
    let after =
        |flag: &str| tokens[tokens.iter().position(|t| *t == flag).unwrap() + 1].to_string();
    let keeper = |model: &str| {
        Command::new(env!("CARGO_BIN_EXE_paywire"))
            .args([
                "crank",
                "--rpc-url",
                &after("--rpc-url"),
                "--keypair",
                &after("--keypair"),
                "--treasury-keypair",
                &treasury,
                "--database-url",
                &database,
                "--min-release",
                "0",
                "--model",
                model,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let crank = |model: &str| {
        let out = keeper(model).wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = crank("demo/tokenized");
    assert!(
        first.contains("demo/tokenized: its vault received 0.001064 USDC more than it earned")
            && first.contains("demo/tokenized: bought back and burned"),
        "{first}"
    );
    let second = crank("demo/tokenized");
    assert!(
        second.contains("demo/tokenized: skipped — BuybackCooldown"),
        "{second}"
    );

    // A holder buys demo/tokenized's token and burns some of it: a burn that touches only the
    // mint and the holder's account, which the indexer follows by the mint, and the audit's
    // supply check attributes to holders.
    let holder_burned = 1_000u64;
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let rpc = RpcClient::new_with_commitment(
            after("--rpc-url"),
            solana_commitment_config::CommitmentConfig::confirmed(),
        );
        let protocol = audit::vaults::protocol(&rpc).await.unwrap();
        let keys = protocol.model("demo/tokenized");
        let holder = localnet::read_keypair(std::path::Path::new(&after("--keypair"))).unwrap();
        let me = holder.pubkey();
        for instructions in [
            vec![
                protocol.create_token_account(&me, &keys, &me),
                protocol.buy(
                    &keys,
                    &me,
                    &protocol.usdc_account(&me),
                    &protocol.token_account(&keys, &me),
                    10_000,
                    1,
                ),
            ],
            vec![protocol.burn_tokens(&keys, &me, holder_burned)],
        ] {
            let tx = solana_transaction::Transaction::new_signed_with_payer(
                &model_vault_client::with_compute_budget(&instructions, None),
                Some(&me),
                &[&holder],
                rpc.get_latest_blockhash().await.unwrap(),
            );
            rpc.send_and_confirm_transaction(&tx).await.unwrap();
        }
    });

    // The creator keeps the cluster and keypair in a CLI config file, like the Solana CLI's;
    // the model commands below pass neither.
    let cli_config_dir = temp_dir("cli-config");
    let cli_config = cli_config_dir.path().join("cli.toml");
    let paywire = |args: &[&str]| {
        let out = with_cli_config(&cli_config, args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let rpc_url = after("--rpc-url");
    let (ok, set) = paywire(&["config", "set", "--url", &rpc_url, "--keypair", &creator]);
    assert!(ok, "{set}");
    assert!(
        set.contains(&format!("RPC URL: {rpc_url}"))
            && set.contains(&format!("Keypair Path: {creator}")),
        "{set}"
    );
    let (_, got) = paywire(&["config", "get"]);
    assert_eq!(got, set, "config get shows what set wrote");
    let model = |args: &[&str]| paywire(&[&["model"], args].concat());

    // A successful claim of the creator's share of the buyback the crank just ran.
    let (ok, claimed) = model(&["claim", "--slug", "demo/tokenized"]);
    let accrued_and_claimed = claimed
        .split("creator accrued ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_default()
        .to_string();
    let (accrued, paid) = accrued_and_claimed
        .split_once(" / claimed ")
        .unwrap_or_default();
    assert!(
        ok && claimed.starts_with("transaction ") && accrued == paid && paid != "0",
        "the creator is paid everything accrued: {claimed}"
    );

    // The third model, registered and tokenized by the creator.
    let (ok, registered) = model(&["register", "--slug", "demo/third", "--share-bps", "1500"]);
    assert!(
        ok && registered.starts_with("transaction ") && registered.contains("status: Registered"),
        "{registered}"
    );
    assert!(registered.contains("share 1500 bps"), "{registered}");
    let (ok, tokenized) = model(&[
        "tokenize",
        "--slug",
        "demo/third",
        "--name",
        "Third",
        "--symbol",
        "THRD",
        "--uri",
        "https://x.test/3.json",
    ]);
    assert!(
        ok && tokenized.contains("status: Tokenized")
            && tokenized.contains("supply 1000000000000000"),
        "{tokenized}"
    );
    let (ok, again) = model(&["register", "--slug", "demo/third", "--share-bps", "1500"]);
    assert!(!ok, "registering twice is refused: {again}");
    let (ok, updated) = model(&["update", "--slug", "demo/third", "--share-bps", "2000"]);
    assert!(ok && updated.contains("share 2000 bps"), "{updated}");
    let (ok, too_high) = model(&["update", "--slug", "demo/third", "--share-bps", "9000"]);
    assert!(
        !ok && too_high.contains("CreatorShareTooHigh"),
        "refused by name: {too_high}"
    );
    let (ok, nothing) = model(&["claim", "--slug", "demo/third"]);
    assert!(
        !ok && nothing.contains("NothingToClaim"),
        "no revenue yet: {nothing}"
    );

    // A call for demo/held paid the treasury on Solana; once demo/held is tokenized the
    // treasury releases that held revenue into its vault.
    let paid_held = chat(&suggestions[0].replace("demo/tokenized", "demo/held"), &[]);
    assert!(
        paid_held.status.success(),
        "{}",
        String::from_utf8_lossy(&paid_held.stderr)
    );
    let (ok, tokenized) = model(&[
        "tokenize",
        "--slug",
        "demo/held",
        "--name",
        "Held",
        "--symbol",
        "HELD",
        "--uri",
        "https://x.test/held.json",
    ]);
    assert!(ok && tokenized.contains("status: Tokenized"), "{tokenized}");
    // What it earned before (0.001 on Base, 0.001 on Solana), computed from the ledger.
    let release_held = |keypair: &str| {
        model(&[
            "release-held",
            "--slug",
            "demo/held",
            "--database-url",
            &database,
            "--keypair",
            keypair,
        ])
    };
    let (ok, released) = release_held(&treasury);
    assert!(
        ok && released.contains("released 0.002000 USDC of owed revenue")
            && released.contains("holds 0.002000 USDC")
            && released.contains("held released 0.002000"),
        "{released}"
    );
    let (ok, again) = release_held(&treasury);
    assert!(
        ok && again.contains("nothing owed"),
        "released once: {again}"
    );
    let (ok, not_treasury) = release_held(&creator);
    assert!(
        !ok && not_treasury.contains("only the treasury"),
        "only the treasury releases held revenue: {not_treasury}"
    );

    let (ok, shown) = model(&["show", "--slug", "demo/tokenized"]);
    let burned: u64 = shown
        .split("burned ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        ok && shown.contains("status: Tokenized") && burned > 0,
        "the crank's burn shows: {shown}"
    );

    // The audit of the running system adds up, owed revenue included; a phantom inflow into
    // the vault in the ledger makes the vault's balance not add up against the chain, and the
    // audit exit 1.
    let audit_with = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_paywire"))
            .args([
                "audit",
                "--database-url",
                &database,
                "--solana-rpc",
                &after("--rpc-url"),
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let audit = || audit_with(&[]);
    // Right after the release: the audit waits for the indexer to catch up by itself.
    let clean = audit();
    let report = String::from_utf8_lossy(&clean.stdout).to_string();
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{report}{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(
        report.contains("revenue of demo/held: earned 0.002000 (per-call solana 0.001000 ×1, per-call base 0.001000 ×1) − received 0.002000 (paid directly 0.000000, released 0.002000) → nothing owed"),
        "{report}"
    );
    assert!(
        report.contains("revenue of demo/tokenized: earned 0.001000 (per-call solana 0.001000 ×1) − received 0.002064 (paid directly 0.002064, released 0.000000) → over-received 0.001064"),
        "{report}"
    );
    assert!(report.contains("release    1  demo/held"), "{report}");
    assert!(
        report.contains(&format!("burned by holders {holder_burned} = supply")),
        "the holder's burn is followed and attributed: {report}"
    );
    for problem in ["DOES NOT ADD UP", "missing", "mismatch", "unexplained"] {
        assert!(!report.contains(problem), "{problem}: {report}");
    }
    for model in ["demo/tokenized", "demo/held", "demo/third"] {
        assert!(
            report.contains(&format!("{model}: revenue in")),
            "{model} is audited: {report}"
        );
    }
    assert!(
        report.contains(
            "demo/held: revenue in 0.002000 (payments 0.000000, held released 0.002000) = vault 0.002000 "
        ),
        "the released revenue is accounted for: {report}"
    );
    let tokenized_line = report
        .lines()
        .find(|l| l.starts_with("demo/tokenized:"))
        .unwrap();
    let fees = tokenized_line
        .split("protocol fees ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next());
    assert!(
        fees.is_some_and(|f| f != "0.000000"),
        "the buyback's protocol fee is told apart from the swap: {tokenized_line}"
    );
    assert!(
        report.contains(&format!("claims {paid} ")),
        "the creator's claim left the vault as a claim: {report}"
    );

    // The ledger page of the running system renders in headless Chromium.
    let ledger_page = ledger_page.expect("paywire up prints the ledger page's URL");
    let dom = render_page(&ledger_page);
    assert!(
        dom.contains(r#"data-state="ready""#) && dom.contains(r#"class="ok">reconciled<"#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"data-owed="0" data-model="demo/held""#)
            && dom.contains(r#"data-owed="-1064" data-model="demo/tokenized""#),
        "owed revenue per model is charted: {dom}"
    );
    assert_eq!(dom.matches(r#"class="buyback""#).count(), 1, "{dom}");
    for model in ["demo/tokenized", "demo/held", "demo/third"] {
        assert!(
            dom.contains(&format!(
                r#"<tr data-model="{model}" data-balance-adds-up="true" data-supply-adds-up="true">"#
            )),
            "{model}'s vault and supply add up on the page: {dom}"
        );
    }
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::PgPool::connect(&database).await.unwrap();
        sqlx::query(
            "INSERT INTO ledger.transfers (chain, tx, leg, block, tx_index, program, kind, mint, destination, amount, success, ingested_from)
             SELECT 'solana', 'phantom', '0', 1, 0, 'p', 'transfer_checked', 'm', address, 5, true, 'grpc'
             FROM ledger.tracked_accounts WHERE reason LIKE 'revenue vault%' ORDER BY since_block LIMIT 1",
        )
        .execute(&pool)
        .await
        .unwrap();
    });
    let broken = audit();
    let report = String::from_utf8_lossy(&broken.stdout).to_string();
    assert_eq!(broken.status.code(), Some(1), "{report}");
    assert!(report.contains("DOES NOT ADD UP"), "{report}");
    let ledger = |sql: &str| {
        let sql = sql.to_string();
        let database = database.clone();
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let pool = sqlx::PgPool::connect(&database).await.unwrap();
                sqlx::query(&sql).execute(&pool).await.unwrap();
            })
    };
    ledger("DELETE FROM ledger.transfers WHERE tx = 'phantom'");

    // The ledger against the chain itself: every transaction behind its rows read again.
    let verify = |extra: &[&str]| {
        let out = audit_with(&[&["--verify-chain"], extra].concat());
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let base_rpc = base_rpc.expect("paywire up prints its Base RPC");
    let (code, verified) = verify(&["--base-rpc", &base_rpc]);
    assert_eq!(code, Some(0), "{verified}");
    assert_eq!(
        verified
            .matches(" transactions re-read from the chain: every row confirmed")
            .count(),
        2,
        "Solana and Base: {verified}"
    );
    // On Base, a charge's EIP-3009 nonce is the one its settlement used, for its payer.
    let nonces = |edit: &str| {
        ledger(&format!(
            "UPDATE ledger.charges SET eip3009_nonce = {edit} WHERE chain = 'base' AND eip3009_nonce IS NOT NULL"
        ))
    };
    nonces("eip3009_nonce || 'ff'");
    let (code, caught) = verify(&["--base-rpc", &base_rpc]);
    assert_eq!(code, Some(1), "{caught}");
    assert!(
        caught.contains("base transactions re-read from the chain: 1 NOT CONFIRMED")
            && caught.contains("is not the one this settlement used"),
        "{caught}"
    );
    nonces("left(eip3009_nonce, -2)");
    let (code, sampled) = verify(&["--verify-sample", "2"]);
    assert_eq!(code, Some(0), "{sampled}");
    assert!(
        sampled.contains("verify-chain: 2 of ") && sampled.contains("finds one with probability"),
        "{sampled}"
    );
    // An insider raises a Solana charge and its transfer row alike: they still match, so an
    // audit of the ledger alone is fooled; the chain is not: the treasury's USDC on chain is
    // not what the ledger says, and re-reading the transactions names the one edited.
    let edit = |delta: &str| {
        ledger(&format!(
            "WITH c AS (UPDATE ledger.charges SET amount = amount {delta}
                        WHERE model = 'demo/held' AND chain = 'solana' RETURNING settlement_tx)
             UPDATE ledger.transfers t SET amount = t.amount {delta}
             FROM c WHERE t.tx = c.settlement_tx AND t.kind = 'transfer_checked'"
        ))
    };
    edit("+ 1000");
    let ledger_only = Command::new(env!("CARGO_BIN_EXE_paywire"))
        .args(["audit", "--database-url", &database])
        .output()
        .unwrap();
    assert_eq!(
        ledger_only.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ledger_only.stdout)
    );
    let against_chain = audit();
    let report = String::from_utf8_lossy(&against_chain.stdout).to_string();
    assert_eq!(against_chain.status.code(), Some(1), "{report}");
    assert!(
        report.lines().any(|l| l.starts_with("treasury ")
            && l.contains("on chain, the ledger says")
            && l.ends_with("DOES NOT ADD UP")),
        "{report}"
    );
    let (code, caught) = verify(&[]);
    assert_eq!(code, Some(1), "{caught}");
    assert!(
        caught.contains("1 NOT CONFIRMED") && caught.contains("is not on chain"),
        "{caught}"
    );
    edit("- 1000");

    // The balance rail, as the suggestions print it: a top-up, a call spent from the balance,
    // a key, a withdrawal of what is left.
    let (gateway, keypair, rpc_url) = (after("--gateway"), after("--keypair"), after("--rpc-url"));
    let paywire = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--gateway", &gateway, "--keypair", &keypair]);
        let out = Command::new(env!("CARGO_BIN_EXE_paywire"))
            .args(&all)
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        );
        assert!(out.status.success(), "paywire {args:?}: {stderr}");
        (stdout, stderr)
    };
    let (topped, _) = paywire(&["topup", "0.05", "--rpc-url", &rpc_url, "--usdc", &usdc]);
    assert!(topped.contains("credited 0.050000 USDC"), "{topped}");
    let (balance, _) = paywire(&["balance"]);
    assert!(
        balance.contains("USDC available") && balance.contains("top_up"),
        "{balance}"
    );
    let from_balance = chat(&suggestions[0], &[]);
    let stderr = String::from_utf8_lossy(&from_balance.stderr);
    assert!(
        from_balance.status.success() && stderr.contains("from your balance"),
        "{stderr}"
    );
    let (key, _) = paywire(&["keys", "create", "--name", "cli"]);
    assert!(key.trim().starts_with("pw_"), "{key}");
    let (listed, _) = paywire(&["keys", "list"]);
    assert!(
        listed.contains(&key.trim()[..10]) && listed.contains("cli"),
        "{listed}"
    );
    // What the top-up put in the treasury (the per-call surpluses sit in the vault the calls
    // paid: what is owed back for them is the revenue issue's business).
    let (withdrawn, _) = paywire(&["withdraw", "0.04"]);
    assert!(withdrawn.starts_with("sent 0.040000 USDC"), "{withdrawn}");
    let (balance, _) = paywire(&["balance"]);
    assert!(balance.contains("withdrawal"), "{balance}");

    // demo/held, tokenized, served from the balance: two keepers at once release what it
    // earned, once.
    let held_from_balance = || {
        let call = chat(&suggestions[0].replace("demo/tokenized", "demo/held"), &[]);
        let stderr = String::from_utf8_lossy(&call.stderr);
        assert!(
            call.status.success() && stderr.contains("from your balance"),
            "{stderr}"
        );
    };
    held_from_balance();
    let keepers = [keeper("demo/held"), keeper("demo/held")];
    let rounds: String = keepers
        .into_iter()
        .map(|k| String::from_utf8(k.wait_with_output().unwrap().stdout).unwrap())
        .collect();
    assert_eq!(
        rounds
            .matches("demo/held: released 0.001000 USDC of owed revenue")
            .count(),
        1,
        "{rounds}"
    );
    // A keeper that recorded a release and stopped before sending it: the next one waits for
    // its blockhash to expire, finds it never landed, and releases what is owed, once.
    held_from_balance();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let rpc = RpcClient::new(after("--rpc-url"));
    let blockhash = runtime.block_on(rpc.get_latest_blockhash()).unwrap();
    ledger(&format!(
        "INSERT INTO ledger.revenue_releases (model, amount, earned, received, tx, blockhash)
         VALUES ('demo/held', 1000, 4000, 3000, '{}', '{blockhash}')",
        solana_keypair::Keypair::new().sign_message(b"a release never sent")
    ));
    // A blockhash lives 150 slots, as on a cluster: until then the release may still land.
    runtime.block_on(testkit::wait_until(
        "the unsent release's blockhash to expire",
        async || {
            !rpc.is_blockhash_valid(
                &blockhash,
                solana_commitment_config::CommitmentConfig::processed(),
            )
            .await
            .unwrap()
        },
    ));
    let mut released = String::new();
    for _ in 0..40 {
        released = crank("demo/held");
        if released.contains("demo/held: released") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(
        released.contains("demo/held: released 0.001000 USDC of owed revenue"),
        "{released}"
    );
    let json = audit_with(&["--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["reconciled"], true, "{report}");
    let held = report["revenue"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "demo/held")
        .unwrap();
    assert_eq!(
        (&held["earned_total"], &held["released"], &held["owed"]),
        (
            &serde_json::json!("4000"),
            &serde_json::json!("4000"),
            &serde_json::json!("0")
        ),
        "its vault received exactly what it earned: {held}"
    );
    let statuses: Vec<&str> = report["revenue"]["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["sent", "sent", "failed", "sent"], "{report}");

    // An outsider sends USDC straight into demo/tokenized's vault, no call behind it: a real
    // transfer on chain, which the audit reports as an unexplained inflow, not as revenue. The
    // outsider's attempt to send 777,000 USDC it does not hold lands as a failed transaction,
    // which moved nothing and is no inflow.
    let vault_owner = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let rpc = RpcClient::new_with_commitment(
            after("--rpc-url"),
            solana_commitment_config::CommitmentConfig::confirmed(),
        );
        let protocol = audit::vaults::protocol(&rpc).await.unwrap();
        let keys = protocol.model("demo/tokenized");
        let outsider = localnet::read_keypair(std::path::Path::new(&after("--keypair"))).unwrap();
        let gift = |amount, blockhash| {
            let ix = spl_token_interface::instruction::transfer_checked(
                &spl_token_interface::ID,
                &protocol.usdc_account(&outsider.pubkey()),
                &protocol.usdc_mint,
                &keys.vault,
                &outsider.pubkey(),
                &[],
                amount,
                6,
            )
            .unwrap();
            solana_transaction::Transaction::new_signed_with_payer(
                &[ix],
                Some(&outsider.pubkey()),
                &[&outsider],
                blockhash,
            )
        };
        let failing = gift(777_000_000_000, rpc.get_latest_blockhash().await.unwrap());
        let signature = rpc
            .send_transaction_with_config(
                &failing,
                solana_client::rpc_config::RpcSendTransactionConfig {
                    skip_preflight: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let landed = loop {
            match rpc.get_signature_status(&signature).await.unwrap() {
                Some(status) => break status,
                None => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        assert!(landed.is_err(), "the transfer failed on chain: {landed:?}");
        let blockhash = rpc.get_latest_blockhash().await.unwrap();
        rpc.send_and_confirm_transaction(&gift(7_000, blockhash))
            .await
            .unwrap();
        keys.vault_authority.to_string()
    });
    let donated = audit();
    let report = String::from_utf8_lossy(&donated.stdout).to_string();
    assert_eq!(donated.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!(
            "unexplained inflow of 0.007000 to {vault_owner} on solana"
        )) && report.contains(", UNEXPLAINED 0.007000) = vault"),
        "{report}"
    );
    assert_eq!(
        report.matches("unexplained inflow").count(),
        1,
        "the failed transfer is no inflow: {report}"
    );

    let refused = chat(&suggestions[0], &["--max-spend", "0.0001"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nothing was paid"));

    // Ctrl-C: everything stops, and the key files go with the directory holding them.
    let exit = up.interrupt();
    assert!(exit.success(), "exit status {exit}");
    let data_dir = std::path::Path::new(&creator).parent().unwrap();
    assert!(
        !data_dir.exists(),
        "{} outlived paywire up",
        data_dir.display()
    );
    assert_eq!(entries(tmp.path()), Vec::<String>::new(), "left behind");
}

/// `paywire up` that cannot start (the gateway's port is taken; anvil fails after Solana has
/// written its key files) exits non-zero saying why, and leaves nothing: no directory in its
/// temporary directory, no database.
#[sqlx::test(migrations = false)]
async fn up_that_fails_to_start_says_why_and_leaves_nothing(pool: sqlx::PgPool) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let tmp = temp_dir("up-fails");
    let up = |port: &str, anvil: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_paywire"));
        command
            .args(["up", "--calls", "1", "--exit", "--port", port])
            .env("TMPDIR", tmp.path());
        if let Some(anvil) = anvil {
            command.env("PAYWIRE_ANVIL", anvil);
        }
        let child = command.stderr(Stdio::piped()).spawn().unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
            pid,
        )
    };

    let (status, stderr, _) = up(&port, None);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("port {port} is taken: pass --port 0")),
        "{stderr}"
    );

    // Fails after the local Solana wrote its key files, and the ledger database was created.
    let (status, stderr, pid) = up("0", Some("/bin/false"));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("anvil did not answer"), "{stderr}");
    assert!(stderr.contains("[2/7] local chains"), "{stderr}");

    assert_eq!(entries(tmp.path()), Vec::<String>::new(), "left behind");
    let database = format!("paywire_up_{pid}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&database)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "{database} outlived its paywire up");
}

/// `paywire [global] indexer` following a Base whose RPC address nobody answers, stdout and
/// stderr piped; with that address and the directory holding its config.
fn indexer_of_an_unreachable_base(
    pool: &sqlx::PgPool,
    global: &[&str],
) -> (Stop, String, tempfile::TempDir) {
    let dir = temp_dir("unreachable-base");
    let config = dir.path().join("indexer.toml");
    let nobody = free_address();
    std::fs::write(
        &config,
        format!(
            "[base]\nrpc_url = \"http://{nobody}\"\nusdc = \"0x0000000000000000000000000000000000000001\"\ntreasury = \"0x0000000000000000000000000000000000000002\"\n"
        ),
    )
    .unwrap();
    let indexer = Stop(
        Command::new(env!("CARGO_BIN_EXE_paywire"))
            .args(global)
            .args(["indexer", "--database-url"])
            .arg(database_url(pool))
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    (indexer, nobody, dir)
}

/// With `--log-format json` each log line on stderr is one JSON object: here the Base
/// follower's error against a node that does not answer, with its fields at the top level.
#[sqlx::test(migrations = false)]
async fn json_logs_carry_a_follower_error_with_its_fields(pool: sqlx::PgPool) {
    use std::io::{BufRead, BufReader};
    let (mut indexer, nobody, _dir) =
        indexer_of_an_unreachable_base(&pool, &["--log-format", "json"]);
    let mut stderr = BufReader::new(indexer.0.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let event = stderr
        .by_ref()
        .map(Result::unwrap)
        .inspect(|line| seen.push(line.clone()))
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .find(|event| event["target"] == "indexer::base")
        .unwrap_or_else(|| panic!("no log event of the Base follower in {seen:?}"));
    // Keep draining stderr so the indexer never writes into a closed pipe.
    std::thread::spawn(move || stderr.for_each(drop));
    assert_eq!(event["level"], "WARN", "{event}");
    assert_eq!(event["chain"], "base", "{event}");
    assert_eq!(event["message"], "follower failed; retrying", "{event}");
    assert!(
        event["error"]
            .as_str()
            .unwrap()
            .contains(&format!("http://{nobody}")),
        "the error says what failed: {event}"
    );
    assert!(event["retry_in"].is_string(), "{event}");
    assert!(event["timestamp"].is_string(), "{event}");
    assert!(indexer.interrupt().success());
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut indexer.0.stdout.take().unwrap(), &mut stdout).unwrap();
    assert_eq!(stdout, "", "logs stay off stdout");
}

/// Ctrl-C the moment the indexer says it started, before it is following anything: it still
/// stops as asked (exit 0, its cursor kept), instead of dying by the signal or ignoring it.
#[sqlx::test]
async fn a_ctrl_c_while_the_indexer_starts_stops_it_cleanly(pool: sqlx::PgPool) {
    use std::io::{BufRead, BufReader};
    let (mut indexer, _, _dir) = indexer_of_an_unreachable_base(&pool, &[]);
    let mut stderr = BufReader::new(indexer.0.stderr.take().unwrap()).lines();
    let started = stderr
        .by_ref()
        .map(Result::unwrap)
        .find(|line| line.contains("writing the ledger"));
    assert!(started.is_some(), "the indexer never said it started");
    std::thread::spawn(move || stderr.for_each(drop));
    let status = indexer.interrupt();
    assert!(
        status.success(),
        "stopped by Ctrl-C while starting: {status}"
    );
}

/// A `paywire localnet` killed outright (no Ctrl-C, no cleanup of its own) still takes its
/// anvil along: the kernel kills anvil when its owner dies.
#[tokio::test(flavor = "multi_thread")]
async fn anvil_dies_with_a_killed_localnet() {
    let (mut child, state, _, _dir) = spawn_localnet("killed").await;
    let base = state.base.expect("base state");
    let provider = ProviderBuilder::new().connect_http(base.rpc_url.parse().unwrap());
    assert!(alloy::providers::Provider::get_chain_id(&provider)
        .await
        .is_ok());
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let started = Instant::now();
    while alloy::providers::Provider::get_chain_id(&provider)
        .await
        .is_ok()
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "anvil still answers 10 s after its localnet was killed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
