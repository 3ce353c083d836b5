//! `paywire up`: the whole system on this machine — localnet (Solana + anvil), Postgres, the
//! indexer, the gateway with the demo upstream — and a demo run through it: two models (one
//! tokenized), an agent paying for calls on both chains, the crank buying back and burning,
//! and the audit of every charge against the chain.

use std::{net::Ipv4Addr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use audit::Reconciliation;
use clap::Args;
use ledger::Ledger;
use localnet::{DataDir, Localnet, LocalnetConfig, LocalnetState, OwnedLocalnet, ProgramBuild};
use serde_json::json;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use x402::{client, wire};

use crate::{postgres::Postgres, release::Keeper};

/// Run the whole system on this machine, with a demo, and stay up until Ctrl-C.
///
/// Starts Postgres (a fresh database on the DATABASE_URL server, dropped on exit; without
/// DATABASE_URL a throwaway cluster made with this machine's initdb/pg_ctl in a temporary
/// directory, removed on exit), local Solana with the
/// model-vault program and local Base (anvil), the indexer, and the gateway with a built-in
/// demo upstream. Then the demo: two models are registered and one is tokenized; an agent
/// pays for --calls calls on both chains (USDC to the tokenized model's vault, to the
/// treasury for the other); the crank runs buyback_and_burn; every charge is audited against
/// what the indexer saw on chain. Prints the URLs and stays up until Ctrl-C.
/// With --exit it stops after the audit and exits 0 only if everything reconciles.
/// However it stops (--exit, Ctrl-C, an error such as a port already taken), it leaves
/// nothing behind: no process, no database, no key file (they are written 0600 in a private
/// temporary directory, unless --data-dir keeps them).
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct UpArgs {
    /// Paid calls the demo agent makes
    #[arg(long, default_value_t = 8)]
    calls: usize,
    /// Stop after the audit; exit 0 only if everything reconciles
    #[arg(long)]
    exit: bool,
    /// Postgres to use [default: a throwaway cluster]
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The gateway's port (0 picks a free one)
    #[arg(long, default_value_t = 8402)]
    port: u16,
    /// Milliseconds per Solana slot
    #[arg(long, default_value_t = 100)]
    slot_ms: u64,
    /// Keep the key files (demo agent, creator, treasury, …) in this directory after exit
    /// [default: a private temporary directory, removed on exit]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Which model-vault the local Solana runs: `auto` (this checkout's SBF build,
    /// target/deploy/model_vault.so, while it is newer than the program's sources; else
    /// native), `native`, or the path of a .so
    #[arg(long, env = "PAYWIRE_PROGRAM", default_value = "auto")]
    program: String,
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let reconciled = run_all(UpConfig {
        calls: args.calls,
        exit: args.exit,
        database_url: args.database_url,
        port: args.port,
        slot_ms: args.slot_ms.max(1),
        data_dir: args.data_dir,
        program: super::localnet::program_build(&args.program)?,
    })
    .await?;
    // An error, not `process::exit`, so that the process's temporary directory goes.
    anyhow::ensure!(
        !args.exit || reconciled,
        "the audit above does not reconcile"
    );
    Ok(())
}

/// What `up` runs with.
/// Why localnet's genesis minted the Solana treasury USDC, as the ledger records it.
const WORKING_CAPITAL: &str = "working capital of the Solana treasury, minted at localnet genesis";

struct UpConfig {
    pub calls: usize,
    pub exit: bool,
    pub database_url: Option<String>,
    pub port: u16,
    pub slot_ms: u64,
    /// Keep the key files here; `None`: a temporary directory, removed on exit.
    pub data_dir: Option<PathBuf>,
    /// Which model-vault the local Solana runs.
    pub program: ProgramBuild,
}

const TOKENIZED: &str = "demo/tokenized";
const HELD: &str = "demo/held";

fn step(n: usize, text: &str) {
    eprintln!("[{n}/7] {text}");
}

/// Runs everything and the demo; returns whether the audit reconciled. However it ends
/// (--exit, Ctrl-C, an error such as a port already taken), everything it started stops, its
/// database is dropped and its data directory removed (unless --data-dir keeps it).
async fn run_all(config: UpConfig) -> anyhow::Result<bool> {
    // First, so a port in use fails before anything is started or written.
    let gateway_listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
        .await
        .with_context(|| {
            format!(
                "port {} is taken: pass --port 0 (or another port)",
                config.port
            )
        })?;
    step(1, "Postgres");
    let postgres = Postgres::start(config.database_url.clone(), &|s| eprintln!("      {s}"))?;
    // A fresh database for this run: the chains are new, so old cursors and rows would mislead.
    let database = ledger::ScratchDatabase::create(postgres.url(), "paywire_up").await?;
    eprintln!("      ledger in {}", ledger::redact(&database.url));

    // Ctrl-C while starting drops the half-started system: its guards stop what it started.
    let started = tokio::select! {
        started = start(&config, &database.url, gateway_listener) => started,
        _ = crate::interrupt::ctrl_c() => Err(anyhow::anyhow!("interrupted before the demo finished")),
    };
    let outcome = match started {
        Ok(mut system) => {
            if !config.exit {
                system.wait_for_ctrl_c().await;
            }
            Ok(system.stop().await)
        }
        Err(e) => Err(e),
    };
    let dropped = database.drop().await;
    drop(postgres);
    let reconciled = outcome?;
    dropped?;
    Ok(reconciled)
}

/// A spawned task, aborted when dropped: nothing outlives the system that spawned it.
struct Task<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What `paywire up` runs once the demo is through. Dropping it stops everything.
struct System {
    stop_gateway: tokio::sync::oneshot::Sender<()>,
    gateway: Task<std::io::Result<()>>,
    indexer: Task<Result<(), indexer::IndexerError>>,
    _api: Task<std::io::Result<()>>,
    ledger: Ledger,
    // Last, so the chains stop (and their data directory goes) after what uses them.
    _net: OwnedLocalnet,
    reconciled: bool,
}

impl System {
    async fn wait_for_ctrl_c(&mut self) {
        tokio::select! {
            _ = crate::interrupt::ctrl_c() => eprintln!("stopping …"),
            result = &mut self.indexer.0 => eprintln!("the indexer stopped: {result:?}; stopping …"),
        }
    }

    /// Lets the gateway finish the requests in flight, then stops the rest; returns whether
    /// the audit reconciled.
    async fn stop(mut self) -> bool {
        let (stop, _) = tokio::sync::oneshot::channel();
        let _ = std::mem::replace(&mut self.stop_gateway, stop).send(());
        let _ = (&mut self.gateway.0).await;
        self.ledger.pool().close().await;
        self.reconciled
    }
}

/// Starts the chains, the indexer and the gateway on the database at `database_url`, and runs
/// the demo through them.
async fn start(
    config: &UpConfig,
    database_url: &str,
    gateway_listener: tokio::net::TcpListener,
) -> anyhow::Result<System> {
    let ledger = Ledger::connect(database_url).await?;

    step(2, "local chains: Solana (model-vault) and Base (anvil)");
    localnet::quiet_runtime_logs();
    let data_dir = match &config.data_dir {
        Some(dir) => DataDir::Kept(dir.clone()),
        None => DataDir::temporary("paywire-up-")?,
    };
    let net = Localnet::start_in(
        data_dir,
        LocalnetConfig {
            program: config.program.clone(),
            ..LocalnetConfig::free_ports(Duration::from_millis(config.slot_ms), true)
        },
        |s| eprintln!("      {s}"),
    )
    .await?;
    // The treasury's working capital is the operator's own money: the audit is told why it
    // came in (docs/money.md).
    if let Some(funding) = &net.state.solana.treasury_funding {
        ledger
            .record_operator_transfer(ledger::Chain::Solana, funding, WORKING_CAPITAL)
            .await?;
    }

    step(3, "indexer (backfill, then Yellowstone gRPC and Base logs)");
    let indexer_config = super::indexer::for_localnet(&net.state);
    // The vault checks wait on the cursor of the Solana follower this indexer runs.
    let vaults =
        super::indexer::chain_audit(&indexer_config)?.context("the indexer follows Solana")?;
    let indexer_ledger = ledger.clone();
    let metrics = indexer::Metrics::default();
    let indexer_metrics = metrics.clone();
    let indexer = Task(tokio::spawn(async move {
        indexer::run(&indexer_config, indexer_ledger, &indexer_metrics, |s| {
            eprintln!("      {s}")
        })
        .await
    }));

    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_address = api_listener.local_addr()?;
    let ledger_api = format!("http://{api_address}/ledger");
    let api = Task(tokio::spawn(audit::api::serve(
        api_listener,
        audit::api::router(ledger.clone(), Some(vaults.clone())).merge(metrics.router()),
    )));

    step(4, "gateway with the demo upstream");
    // The demo creator, named by the gateway's catalog (only its models are paid into their
    // vaults); saved so the newcomer can try the creator's commands on the demo models.
    let creator = Keypair::new();
    let (upstream, _) =
        gateway::demo_upstream::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let gateway_address = gateway_listener.local_addr()?;
    let gateway_config = gateway_config(
        &net.state,
        &upstream,
        gateway_address.port(),
        &creator.pubkey(),
    );
    let app = Arc::new(gateway::App::new(&gateway_config, ledger.clone()).await?);
    let gateway_url = format!("http://{gateway_address}");
    let (stop_gateway, stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway = Task(tokio::spawn(gateway::serve(
        gateway_listener,
        app.clone(),
        async {
            let _ = stopped.await;
        },
    )));

    step(
        5,
        &format!("demo: register {TOKENIZED} and {HELD}, tokenize {TOKENIZED}"),
    );
    let protocol = net.state.solana.protocol();
    let creator_keypair = net.data_dir().join("creator.json");
    localnet::write_keypair(&creator_keypair, &creator)?;
    net.solana
        .chain
        .airdrop(&creator.pubkey(), 10_000_000_000)
        .await?;
    let tokenized = protocol.model(TOKENIZED);
    for slug in [TOKENIZED, HELD] {
        let keys = protocol.model(slug);
        net.solana
            .chain
            .submit(
                &budgeted(protocol.register(&creator.pubkey(), &keys, 2_000)),
                &[&creator],
            )
            .await?;
    }
    net.solana
        .chain
        .submit(
            &budgeted(protocol.tokenize(
                &creator.pubkey(),
                &tokenized,
                "Tokenized demo",
                "DEMO",
                "https://paywire.example/demo.json",
            )),
            &[&creator],
        )
        .await?;
    if let Some(pay_to) = &app.pay_to {
        pay_to.forget(TOKENIZED);
    }

    step(
        6,
        &format!(
            "demo: an agent pays for {} calls on both chains; the crank buys back and burns",
            config.calls
        ),
    );
    let agent = Agent::new(&net.state)?;
    let http = reqwest::Client::new();
    for i in 0..config.calls {
        let (model, chain) = demo_call(i);
        let receipt = agent.call(&http, &gateway_url, model, chain, i).await?;
        eprintln!(
            "      call {:>2}: {model:<15} {:<7} charged {} → {}",
            i + 1,
            if chain == "solana:" { "solana" } else { "base" },
            receipt.0,
            receipt.1
        );
    }
    if config.calls > 0 {
        eprintln!("      the balance rail (the agent's Solana wallet):");
        for line in balance_demo(&net.state, &http, &gateway_url).await? {
            eprintln!("      {line}");
        }
    }
    // The keeper: what the ledger computes owed to each model's vault is released from the
    // treasury first (calls served from balances, paid on Base), then the tokenized model buys
    // back. The first call pays the tokenized model on Solana: only then has its vault revenue.
    let mut seen = Vec::new();
    if config.calls > 0 {
        let treasury = localnet::read_keypair(&net.state.solana.treasury_keypair)?;
        let rpc = RpcClient::new_with_commitment(
            net.state.solana.rpc_url.clone(),
            solana_commitment_config::CommitmentConfig::confirmed(),
        );
        let keeper = Keeper {
            rpc: &rpc,
            ledger: &ledger,
            protocol: &protocol,
            treasury: &treasury,
            fee_payer: &treasury,
            priority_fee: None,
            minimum: 1,
        };
        for line in super::crank::release_round(&keeper, &[]).await? {
            eprintln!("      {line}");
        }
        seen.extend(
            ledger
                .releases(Some(ledger::PayoutStatus::Sent))
                .await?
                .into_iter()
                .map(|r| r.tx),
        );
        let signature = crank(&net, &protocol, &tokenized).await?;
        eprintln!("      buyback_and_burn of {TOKENIZED}: {signature}");
        seen.push(signature);
    }

    step(
        7,
        "audit: every charge against the chain (waiting for the indexer to catch up)",
    );
    wait_for_audit(&ledger, &seen).await?;
    let report = audit::Report::read(
        &ledger,
        &audit::AuditScope::default(),
        Some(vaults.check(&ledger, None).await?),
    )
    .await?;
    for line in report.render(audit::Format::Table).lines() {
        eprintln!("      {line}");
    }
    // Reconciled, and every tokenized model was released what it is owed (a model not
    // tokenized yet has its revenue held by the treasury, which covers it).
    let tokenized_models: Vec<&str> = report
        .models
        .iter()
        .flatten()
        .map(|m| m.slug.as_str())
        .collect();
    let released = report
        .revenue
        .models
        .iter()
        .filter(|m| tokenized_models.contains(&m.model.as_str()))
        .all(|m| m.owed().is_some_and(|owed| owed <= 0));
    if !released {
        eprintln!("      revenue owed to a tokenized model was not released");
    }
    let reconciled = report.reconciled() && released;

    if !config.exit {
        eprintln!();
        eprintln!("paywire is up:");
        eprintln!("  gateway          {gateway_url}/v1/chat/completions   (models: {gateway_url}/v1/models)");
        eprintln!("  Solana JSON-RPC  {}", net.state.solana.rpc_url);
        eprintln!("  Yellowstone gRPC {}", net.state.solana.grpc_url);
        if let Some(base) = &net.state.base {
            eprintln!("  Base (anvil)     {}", base.rpc_url);
        }
        eprintln!("  ledger           {}", ledger::redact(database_url));
        eprintln!("  ledger page      {ledger_api}/  (API: {ledger_api}/audit, /models, /revenue, /buybacks, /charges, /transfers, /cursors)");
        eprintln!("  metrics          http://{api_address}/metrics  (the indexer's lag, cursors, rows written)");
        eprintln!(
            "  key files        {}  ({})",
            net.data_dir().display(),
            if config.data_dir.is_some() {
                "kept"
            } else {
                "removed on exit; --data-dir keeps them"
            }
        );
        eprintln!("try it (the demo agent pays):");
        eprintln!(
            "  paywire chat --gateway {gateway_url} --model {TOKENIZED} --keypair {} --rpc-url {} --usdc {} \"hello\"",
            net.state.solana.payer_keypair.display(),
            net.state.solana.rpc_url,
            net.state.solana.usdc_mint
        );
        if let Some(base) = &net.state.base {
            eprintln!(
                "  paywire chat --gateway {gateway_url} --model {HELD} --chain base --private-key {} --usdc {} \"hello\"",
                base.payer_private_key,
                base.usdc
            );
        }
        let wallet = format!(
            "--gateway {gateway_url} --keypair {}",
            net.state.solana.payer_keypair.display()
        );
        eprintln!("with a balance (signed in with the wallet; chat spends it first):");
        eprintln!(
            "  paywire topup 0.05 {wallet} --rpc-url {} --usdc {}",
            net.state.solana.rpc_url, net.state.solana.usdc_mint
        );
        eprintln!("  paywire balance {wallet}");
        eprintln!(
            "  paywire keys create {wallet}     (an OpenAI API key: base_url {gateway_url}/v1)"
        );
        eprintln!("  paywire withdraw {wallet}");
        let rpc_url = &net.state.solana.rpc_url;
        eprintln!("as the demo creator (share 20%):");
        eprintln!(
            "  paywire model show --slug {TOKENIZED} --rpc-url {rpc_url} --keypair {}",
            creator_keypair.display()
        );
        eprintln!(
            "  paywire model claim --slug {TOKENIZED} --rpc-url {rpc_url} --keypair {}",
            creator_keypair.display()
        );
        eprintln!(
            "  paywire model tokenize --slug {HELD} --name Held --symbol HELD --uri https://paywire.example/held.json --rpc-url {rpc_url} --keypair {}",
            creator_keypair.display()
        );
        eprintln!(
            "as the treasury, once {HELD} is tokenized (its calls paid the treasury until then):"
        );
        eprintln!(
            "  paywire model release-held --slug {HELD} --database-url {} --rpc-url {rpc_url} --keypair {}",
            ledger::redact(database_url),
            net.state.solana.treasury_keypair.display()
        );
        eprintln!("Ctrl-C stops everything.");
    }
    Ok(System {
        stop_gateway,
        gateway,
        indexer,
        _api: api,
        ledger,
        _net: net,
        reconciled,
    })
}

/// The demo gateway: both models on the demo upstream, paid on both chains.
fn gateway_config(
    state: &LocalnetState,
    upstream: &str,
    port: u16,
    creator: &Pubkey,
) -> gateway::GatewayConfig {
    use gateway::catalog::{ModelEntry, ProviderEntry};
    let mut config = super::gateway::for_localnet(
        state,
        std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        "paywire-up",
    );
    config.models = [TOKENIZED, HELD]
        .into_iter()
        .map(|slug| ModelEntry {
            creator: Some(creator.to_string()),
            providers: vec![ProviderEntry::new("demo", upstream, "demo", "0.5", "1")],
            ..ModelEntry::new(slug, "2", "8", "0.001", 256)
        })
        .collect();
    config
}

/// The demo agent: the localnet's funded payer on each chain.
struct Agent {
    solana: Keypair,
    base: alloy::signers::local::PrivateKeySigner,
    rpc: RpcClient,
}

impl Agent {
    fn new(state: &LocalnetState) -> anyhow::Result<Self> {
        let base = state
            .base
            .as_ref()
            .context("the demo needs the local Base")?;
        Ok(Agent {
            solana: localnet::read_keypair(&state.solana.payer_keypair)?,
            base: base.payer_private_key.parse()?,
            rpc: RpcClient::new_with_commitment(
                state.solana.rpc_url.clone(),
                solana_commitment_config::CommitmentConfig::confirmed(),
            ),
        })
    }

    /// One paid call: 402, pay on `chain`, the answer; returns (charged, transaction).
    async fn call(
        &self,
        http: &reqwest::Client,
        gateway: &str,
        model: &str,
        chain: &str,
        i: usize,
    ) -> anyhow::Result<(String, String)> {
        let body = json!({ "model": model, "messages": [{ "role": "user", "content": format!("Demo call {i}: say hello") }], "max_tokens": 64, "stream": i.is_multiple_of(3) });
        let url = format!("{gateway}/v1/chat/completions");
        let required = http.post(&url).json(&body).send().await?;
        anyhow::ensure!(
            required.status() == 402,
            "expected 402, got {}",
            required.status()
        );
        let required: wire::PaymentRequired = required.json().await?;
        let offer = required
            .accepts
            .iter()
            .find(|o| o.network.starts_with(chain))
            .context("no offer for the chain")?;
        let payment = if chain == "solana:" {
            client::solana_exact(offer, &self.solana, self.rpc.get_latest_blockhash().await?)
                .map_err(anyhow::Error::msg)?
        } else {
            client::base_payment(offer, &self.base)
                .await
                .map_err(anyhow::Error::msg)?
        };
        let answer = http
            .post(&url)
            .header(wire::PAYMENT_SIGNATURE, wire::encode_header(&payment))
            .json(&body)
            .send()
            .await?;
        let status = answer.status();
        let settlement = answer
            .headers()
            .get(wire::PAYMENT_RESPONSE)
            .and_then(|h| wire::decode_header::<wire::SettlementResponse>(h.to_str().ok()?).ok());
        let charged = answer
            .headers()
            .get("x-paywire-charge")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = answer.text().await?;
        anyhow::ensure!(
            status.is_success(),
            "the paid call failed ({status}): {text}"
        );
        let settlement = settlement.context("no PAYMENT-RESPONSE")?;
        Ok((charged, settlement.transaction))
    }
}

/// The balance rail as an agent uses it: a top-up, a call spent from the balance signed in, a
/// key used by a plain OpenAI-style request, and a withdrawal of what is left.
async fn balance_demo(
    state: &LocalnetState,
    http: &reqwest::Client,
    gateway: &str,
) -> anyhow::Result<Vec<String>> {
    use super::wallet::{json, Wallet};
    let wallet = Wallet::Solana(localnet::read_keypair(&state.solana.payer_keypair)?);
    let usdc = state.solana.usdc_mint.to_string();
    let mut lines = Vec::new();
    let chat = format!("{gateway}/v1/chat/completions");
    let header = |headers: &reqwest::header::HeaderMap, name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?")
            .to_string()
    };

    // Per call, priced for 256 tokens: what it does not cost lands in the balance.
    let long = json!({ "model": HELD, "messages": [{ "role": "user", "content": "hello" }], "max_tokens": 256 });
    let required: wire::PaymentRequired = http.post(&chat).json(&long).send().await?.json().await?;
    let payment = wallet
        .pay(wallet.offer(&required)?, &state.solana.rpc_url, Some(&usdc))
        .await?;
    let paid = http
        .post(&chat)
        .header(wire::PAYMENT_SIGNATURE, wire::encode_header(&payment))
        .json(&long)
        .send()
        .await?;
    let headers = paid.headers().clone();
    json(paid).await?;
    lines.push(format!(
        "per call: {} USDC paid on chain, the call cost {}, {} to the balance",
        header(&headers, "x-paywire-charge"),
        header(&headers, "x-paywire-actual-cost"),
        header(&headers, "x-paywire-credit")
    ));

    // The next call, signed in: the surplus pays for it.
    let body = json!({ "model": TOKENIZED, "messages": [{ "role": "user", "content": "Say hello" }], "max_tokens": 64 });
    let signed_in = wallet.signed_in(|| http.post(&chat).json(&body)).await?;
    let headers = signed_in.headers().clone();
    json(signed_in).await?;
    lines.push(format!(
        "next call signed in (SIWS), no transaction: charged {} from the balance, {} left",
        header(&headers, "x-paywire-charge"),
        header(&headers, "x-paywire-balance")
    ));

    let top_up = format!("{gateway}/v1/balance/top-up");
    let amount = json!({ "amount": "0.05" });
    let required: wire::PaymentRequired = http
        .post(&top_up)
        .json(&amount)
        .send()
        .await?
        .json()
        .await?;
    let payment = wallet
        .pay(wallet.offer(&required)?, &state.solana.rpc_url, Some(&usdc))
        .await?;
    let topped = json(
        http.post(&top_up)
            .header(wire::PAYMENT_SIGNATURE, wire::encode_header(&payment))
            .json(&amount)
            .send()
            .await?,
    )
    .await?;
    lines.push(format!(
        "top-up: {} USDC paid on chain → {} available",
        topped["credited"].as_str().unwrap_or("?"),
        topped["available"].as_str().unwrap_or("?")
    ));

    let keys = format!("{gateway}/v1/keys");
    let made = json(
        wallet
            .signed_in(|| http.post(&keys).json(&json!({ "name": "demo" })))
            .await?,
    )
    .await?;
    let key = made["key"].as_str().context("no key made")?.to_string();
    let with_key = http
        .post(&chat)
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await?;
    let headers = with_key.headers().clone();
    json(with_key).await?;
    lines.push(format!(
        "API key {}… (Authorization: Bearer, as any OpenAI client sends it): charged {}, {} left",
        made["prefix"].as_str().unwrap_or(""),
        headers
            .get("x-paywire-charge")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?"),
        headers
            .get("x-paywire-balance")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?"),
    ));

    let withdraw = format!("{gateway}/v1/balance/withdraw");
    let sent = json(
        wallet
            .signed_in(|| {
                http.post(&withdraw)
                    .header("idempotency-key", "paywire-up-demo-withdrawal")
                    .json(&json!({}))
            })
            .await?,
    )
    .await?;
    lines.push(format!(
        "withdrawal: {} USDC back to the wallet, transaction {}",
        sent["amount"].as_str().unwrap_or("?"),
        sent["transaction"].as_str().unwrap_or("?")
    ));
    Ok(lines)
}

/// `instruction` with the compute-unit limit clients give it, as on a real cluster.
fn budgeted(instruction: solana_instruction::Instruction) -> Vec<solana_instruction::Instruction> {
    model_vault_client::with_compute_budget(&[instruction], None)
}

/// Cranks `buyback_and_burn` until its guards allow it (the cooldown after tokenization).
async fn crank(
    net: &Localnet,
    protocol: &model_vault_client::Protocol,
    keys: &model_vault_client::ModelKeys,
) -> anyhow::Result<String> {
    let mut last = None;
    for _ in 0..40 {
        match net
            .solana
            .chain
            .submit(&budgeted(protocol.buyback_and_burn(keys)), &[])
            .await
        {
            Ok(record) => return Ok(record.signature().to_string()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(anyhow::anyhow!(
        "buyback_and_burn kept failing: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    ))
}

/// Waits until the indexer has seen every settlement and the transactions `signatures` (or 60 s).
async fn wait_for_audit(ledger: &Ledger, signatures: &[String]) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let audit = audit::audit_charges(ledger, &audit::AuditScope::default()).await?;
        let mut all_seen = audit
            .charges
            .iter()
            .all(|c| c.result != Reconciliation::Missing);
        for signature in signatures {
            all_seen &= ledger.vault_event_count(signature).await? > 0;
        }
        if all_seen || tokio::time::Instant::now() > deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The demo's `i`th call: chains alternate from the first call (two calls pay on both), the
/// model every second call (four cover each model on each chain).
fn demo_call(i: usize) -> (&'static str, &'static str) {
    let model = if (i / 2) % 2 == 0 { TOKENIZED } else { HELD };
    let chain = if i % 2 == 0 { "solana:" } else { "eip155:" };
    (model, chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_demo_calls_pay_on_both_chains_and_four_cover_each_model_on_each() {
        let chains: Vec<_> = (0..2).map(|i| demo_call(i).1).collect();
        assert_eq!(chains, ["solana:", "eip155:"]);
        let four: std::collections::BTreeSet<_> = (0..4).map(demo_call).collect();
        assert_eq!(four.len(), 4, "{four:?}");
    }

    /// A localnet's state with its key files under `dir`.
    fn state(dir: &str) -> LocalnetState {
        let key = "11111111111111111111111111111111";
        serde_json::from_value(json!({
            "solana": {
                "rpc_url": "http://127.0.0.1:8899", "grpc_url": "http://127.0.0.1:10000",
                "slot_ms": 50, "program_id": key, "usdc_mint": key, "usdc_decimals": 6,
                "config": key, "admin": key, "admin_keypair": format!("{dir}/admin.json"),
                "treasury": key, "treasury_keypair": format!("{dir}/treasury.json"),
                "treasury_usdc": key, "payer": key, "payer_keypair": format!("{dir}/payer.json"),
                "payer_usdc": key, "facilitator": key,
                "facilitator_keypair": format!("{dir}/facilitator.json"),
            },
            "base": {
                "rpc_url": "http://127.0.0.1:8545", "chain_id": 31337, "network": "eip155:31337",
                "usdc": "0x0000000000000000000000000000000000000001", "usdc_name": "USD Coin",
                "usdc_version": "2", "treasury": "0x0000000000000000000000000000000000000002",
                "treasury_private_key": "0x03",
                "payer": "0x0000000000000000000000000000000000000003", "payer_private_key": "0x01",
                "facilitator": "0x0000000000000000000000000000000000000004",
                "facilitator_private_key": "0x02",
            },
        }))
        .unwrap()
    }

    /// The data directory is the user's: a `"` in it is a path like any other.
    #[test]
    fn a_data_dir_with_a_quote_configures_the_gateway_with_that_path() {
        let dir = r#"/tmp/the "demo" dir"#;
        let config = gateway_config(
            &state(dir),
            "http://127.0.0.1:9000/v1",
            8402,
            &Pubkey::new_unique(),
        );
        assert_eq!(
            config.solana.unwrap().fee_payer_keypair,
            Some(PathBuf::from(format!("{dir}/facilitator.json")))
        );
    }
}
