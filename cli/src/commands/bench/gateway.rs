//! `paywire bench gateway`: one process, one run. A load generator against (a) the demo
//! upstream directly and (b) the gateway with payment verification in front of the same
//! upstream, on localnet Solana and a scratch Postgres database. Every paid request carries a
//! fresh payment that the gateway verifies and settles; the gateway's `Server-Timing` says
//! how long settlement took, which is taken out of the paid latency and reported on its own.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use solana_client::nonblocking::rpc_client::RpcClient;
use x402::{client, wire};

/// Paid requests through the gateway against the same requests straight to its upstream.
///
/// Starts, in this process: localnet (Solana), the demo upstream, and the gateway on a
/// scratch database created on the server of --database-url (dropped afterwards). Every paid
/// request carries a fresh payment that is verified and settled; settlement (waiting for
/// `confirmed`, about one slot) is reported on its own as settle_p50_ms and taken out of the
/// paid latencies, which therefore show what the gateway adds: pricing, the x402 checks, the
/// simulation of the payment, the ledger writes and the proxying.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct BenchGatewayArgs {
    #[command(flatten)]
    server: super::ScratchServer,
    /// Requests per side
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Requests in flight at once
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Solana slot time of the local chain, in milliseconds
    #[arg(long, default_value_t = 400)]
    slot_ms: u64,
    /// For the time-to-first-token figures: the upstream's first token comes this long after
    /// its headers
    #[arg(long, default_value_t = 300)]
    upstream_ttft_ms: u64,
    /// Then a throughput sweep: paid calls at each of these numbers in flight (e.g.
    /// 1,16,64,256), on Solana and on Base (starts anvil), spread over --gateways gateways on
    /// one ledger
    #[arg(long, value_delimiter = ',')]
    sweep: Vec<usize>,
    /// Gateways the sweep spreads its calls over
    #[arg(long, default_value_t = 2)]
    gateways: usize,
    /// Print one JSON object (direct_rps, paid_rps, direct_p50_ms, paid_p50_ms, direct_p99_ms, paid_p99_ms, settle_p50_ms, key_added_p50_ms, key_added_p99_ms, paid_added_p50_ms, paid_added_p99_ms, direct_ttft_ms, paid_ttft_ms, serial_ttft_ms, …)
    #[arg(long)]
    json: bool,
}

pub async fn run(args: BenchGatewayArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.requests > 0 && args.concurrency > 0,
        "--requests and --concurrency must be positive"
    );
    let config = BenchConfig {
        database_url: args.server.database_url,
        requests: args.requests,
        concurrency: args.concurrency,
        slot_ms: args.slot_ms.max(1),
        upstream_ttft_ms: args.upstream_ttft_ms,
        sweep: args.sweep,
        gateways: args.gateways.max(1),
    };
    let r = benchmark(config, |step| eprintln!("  … {step}")).await?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} requests per side, {} in flight, {} ms slots",
            r.requests, r.concurrency, r.slot_ms
        );
        println!("                     req/s      p50 ms     p99 ms");
        println!(
            "upstream directly  {:>8.0}  {:>9.2}  {:>9.2}",
            r.direct_rps, r.direct_p50_ms, r.direct_p99_ms
        );
        println!(
            "paid via gateway   {:>8.0}  {:>9.2}  {:>9.2}   (settlement excluded)",
            r.paid_rps, r.paid_p50_ms, r.paid_p99_ms
        );
        println!(
            "on an API key       {:>8}  {:>9.2}  {:>9.2}   (balance held and charged)",
            "", r.key_p50_ms, r.key_p99_ms
        );
        println!(
            "payment verification p50: {:.2} ms; settlement p50: {:.2} ms",
            r.verify_p50_ms, r.settle_p50_ms
        );
        println!(
            "added over the direct upstream, p50 / p99: on a key {:.2} / {:.2} ms ({:.1}×), paid {:.2} / {:.2} ms ({:.1}×)",
            r.key_added_p50_ms,
            r.key_added_p99_ms,
            r.key_p50_ratio,
            r.paid_added_p50_ms,
            r.paid_added_p99_ms,
            r.paid_p50_ratio
        );
        println!(
            "the gateway adds {:.2} ms at p50 ({:.1}× the direct p50); paid throughput is {:.2}% of direct",
            r.added_p50_ms,
            r.paid_p50_ms / r.direct_p50_ms,
            100.0 * r.paid_rps / r.direct_rps
        );
        for step in &r.sweep {
            println!(
                "sweep {:>4} in flight on {:<6}: {:>7.1} req/s, p50 {:>8.1} ms, p99 {:>8.1} ms, {} errors of {}",
                step.concurrency, step.chain, step.rps, step.p50_ms, step.p99_ms, step.errors, step.requests
            );
        }
        if !r.sweep.is_empty() {
            println!("double charges: {}", r.double_charges);
        }
        println!(
            "time to first token (upstream's first token after {} ms), p50: direct {:.1} ms, paid {:.1} ms with settlement overlapped, {:.1} ms settling first ({:.2}× the direct)",
            r.upstream_ttft_ms,
            r.direct_ttft_ms,
            r.paid_ttft_ms,
            r.serial_ttft_ms,
            r.paid_ttft_ms / r.direct_ttft_ms
        );
    }
    Ok(())
}

pub struct BenchConfig {
    pub database_url: String,
    pub requests: usize,
    pub concurrency: usize,
    pub slot_ms: u64,
    pub upstream_ttft_ms: u64,
    /// Numbers of calls in flight to sweep through (none: no sweep).
    pub sweep: Vec<usize>,
    pub gateways: usize,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub requests: usize,
    pub concurrency: usize,
    pub slot_ms: u64,
    pub direct_rps: f64,
    pub paid_rps: f64,
    pub direct_p50_ms: f64,
    pub paid_p50_ms: f64,
    pub direct_p99_ms: f64,
    pub paid_p99_ms: f64,
    pub verify_p50_ms: f64,
    pub settle_p50_ms: f64,
    /// paid_p50_ms − direct_p50_ms: what the gateway adds, settlement excluded.
    pub added_p50_ms: f64,
    /// Calls on an API key, from a balance (hold, then charge at actual usage).
    pub key_p50_ms: f64,
    pub key_p99_ms: f64,
    /// What the gateway adds over calling the upstream directly: on a key ...
    pub key_added_p50_ms: f64,
    pub key_added_p99_ms: f64,
    /// ... and paid per call, settlement excluded.
    pub paid_added_p50_ms: f64,
    pub paid_added_p99_ms: f64,
    /// The same as ratios to the direct p50 measured in the same run.
    pub key_p50_ratio: f64,
    pub paid_p50_ratio: f64,
    pub upstream_ttft_ms: u64,
    /// Time to the first token of a streamed call, p50: straight to the upstream ...
    pub direct_ttft_ms: f64,
    /// ... paid, settlement overlapped with the upstream call (≈ max(settle, upstream)) ...
    pub paid_ttft_ms: f64,
    /// ... and paid with the overlap switched off (≈ settle + upstream).
    pub serial_ttft_ms: f64,
    /// The throughput sweep, a step per chain and number in flight.
    pub sweep: Vec<SweepStep>,
    /// Settlement transactions the sweep's completed charges share (must be 0).
    pub double_charges: i64,
}

/// Paid calls at `concurrency` in flight on `chain`, through every gateway of the sweep.
#[derive(Debug, Serialize)]
pub struct SweepStep {
    pub chain: &'static str,
    pub concurrency: usize,
    pub requests: usize,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// The duration of `name` in a `Server-Timing` header.
fn timing(header: &str, name: &str) -> Option<f64> {
    header.split(',').find_map(|metric| {
        let mut parts = metric.trim().split(';');
        (parts.next()? == name).then_some(())?;
        parts.find_map(|p| p.trim().strip_prefix("dur=")?.parse().ok())
    })
}

async fn benchmark(config: BenchConfig, progress: impl Fn(&str)) -> anyhow::Result<BenchReport> {
    let scratch = ledger::ScratchDatabase::create(&config.database_url, "paywire_bench_gateway")
        .await
        .context(
            "creating a scratch database (is Postgres running at --database-url / DATABASE_URL?)",
        )?;
    let result = measure(&config, &scratch.url, &progress).await;
    scratch.drop().await?;
    result
}

async fn measure(
    config: &BenchConfig,
    url: &str,
    progress: &impl Fn(&str),
) -> anyhow::Result<BenchReport> {
    progress("starting localnet (Solana only)");
    localnet::quiet_runtime_logs();
    // Its key files go with it, on every way out of here.
    let net = localnet::Localnet::start_in(
        localnet::DataDir::temporary("paywire-bench-")?,
        localnet::LocalnetConfig {
            // Base mines a block per slot too, with every transaction sent meanwhile, as the
            // chain does (one block per transaction would measure anvil's mining, not us).
            evm_block_time: Some(Duration::from_millis(config.slot_ms)),
            ..localnet::LocalnetConfig::free_ports(
                Duration::from_millis(config.slot_ms),
                !config.sweep.is_empty(),
            )
        },
        |_| {},
    )
    .await?;
    let (upstream, _) =
        gateway::demo_upstream::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let s = &net.state.solana;
    let mut gateway_config = crate::commands::gateway::for_localnet(
        &net.state,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        "bench",
    );
    gateway_config.rate_limit_per_minute = 1_000_000;
    gateway_config.client_rate_limit_per_minute = 1_000_000;
    let model = |slug: &str, provider_model: &str| gateway::catalog::ModelEntry {
        providers: vec![gateway::catalog::ProviderEntry::new(
            "demo",
            &upstream,
            provider_model,
            "0",
            "0",
        )],
        ..gateway::catalog::ModelEntry::new(slug, "1", "1", "0.000001", 16)
    };
    let ttft_model = format!("ttft-{}", config.upstream_ttft_ms);
    gateway_config.models = vec![model("bench", "demo"), model("bench-ttft", &ttft_model)];
    // Two gateways on one ledger: settling first (what the gateway adds shows as total −
    // settle), and with the upstream call overlapped with settlement (time to first token).
    let mut gateways = Vec::new();
    for overlap in [false, true] {
        gateway_config.settle_overlap = overlap;
        let ledger = ledger::Ledger::connect(url).await?;
        let app = Arc::new(gateway::App::new(&gateway_config, ledger).await?);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        gateways.push(format!("http://{}", listener.local_addr()?));
        tokio::spawn(gateway::serve(listener, app, std::future::pending()));
    }
    let (gateway_url, overlapped_url) = (gateways[0].clone(), gateways[1].clone());

    let http = reqwest::Client::new();
    let body = json!({ "model": "bench", "messages": [{ "role": "user", "content": "Say hello" }], "max_tokens": 16 });
    let direct_body = json!({ "model": "demo", "messages": body["messages"], "max_tokens": 16 });

    // Warm both paths (connections, tokenizer, caches).
    http.post(format!("{upstream}/chat/completions"))
        .json(&direct_body)
        .send()
        .await?;
    http.post(format!("{gateway_url}/v1/quote"))
        .json(&body)
        .send()
        .await?;

    progress(&format!(
        "(a) {} requests straight to the upstream, {} at a time",
        config.requests, config.concurrency
    ));
    let started = Instant::now();
    let direct = timed(config, || {
        http.post(format!("{upstream}/chat/completions"))
            .json(&direct_body)
    })
    .await?;
    let direct_rps = config.requests as f64 / started.elapsed().as_secs_f64();

    progress(&format!(
        "(b) {} paid requests through the gateway (verify + settle on localnet), {} at a time",
        config.requests, config.concurrency
    ));
    let payer = Arc::new(localnet::read_keypair(&s.payer_keypair)?);
    let payers = Arc::new(Payers {
        solana: payer.clone(),
        base: match &net.state.base {
            Some(base) => Some(base.payer_private_key.parse()?),
            None => None,
        },
        rpc: RpcClient::new_with_commitment(
            s.rpc_url.clone(),
            solana_commitment_config::CommitmentConfig::confirmed(),
        ),
    });
    let started = Instant::now();
    let mut paid_time = Duration::ZERO;
    let paid: Vec<(f64, f64, f64)> = futures::stream::iter(0..config.requests)
        .map(|_| {
            let (http, gateway_url, body, payers) = (
                http.clone(),
                gateway_url.clone(),
                body.clone(),
                payers.clone(),
            );
            async move {
                let (t, response) = pay(&http, &gateway_url, &body, &payers, "solana").await?;
                let status = response.status();
                let server_timing = response
                    .headers()
                    .get("server-timing")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let text = response.text().await?;
                let total = t.elapsed().as_secs_f64() * 1e3;
                anyhow::ensure!(status.is_success(), "gateway answered {status}: {text}");
                let settle = timing(&server_timing, "settle").context("no settle timing")?;
                let verify = timing(&server_timing, "verify").context("no verify timing")?;
                Ok((total, verify, settle))
            }
        })
        .buffer_unordered(config.concurrency)
        .collect::<Vec<anyhow::Result<(f64, f64, f64)>>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    paid_time += started.elapsed();

    progress(&format!(
        "(c) {} calls through the gateway on an API key, from a balance topped up on localnet, {} at a time",
        config.requests, config.concurrency
    ));
    let key = api_key(
        &http,
        &gateway_url,
        &payer,
        &s.rpc_url,
        &s.usdc_mint.to_string(),
    )
    .await?;
    let on_key = timed(config, || {
        http.post(format!("{gateway_url}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&body)
    })
    .await?;

    let ttft_requests = config.requests.min(20);
    progress(&format!(
        "(d) time to first token, {ttft_requests} streamed calls each: straight to an upstream whose first token comes after {} ms, paid with settlement overlapped, paid settling first",
        config.upstream_ttft_ms
    ));
    let stream_body = json!({ "model": "bench-ttft", "messages": body["messages"], "max_tokens": 16, "stream": true });
    let direct_stream_body = json!({ "model": ttft_model, "messages": body["messages"], "max_tokens": 16, "stream": true });
    let mut ttft: [Vec<f64>; 3] = Default::default();
    for _ in 0..ttft_requests {
        let t = Instant::now();
        let direct = http
            .post(format!("{upstream}/chat/completions"))
            .json(&direct_stream_body)
            .send()
            .await?;
        ttft[0].push(first_token(t, direct).await?);
        for (i, gateway) in [(1, &overlapped_url), (2, &gateway_url)] {
            // At a random point of the slot: a loop in step with the slots would always find
            // the same wait for the next one.
            let phase = rand::Rng::gen_range(&mut rand::thread_rng(), 0..config.slot_ms);
            tokio::time::sleep(Duration::from_millis(phase)).await;
            let (t, response) = pay(&http, gateway, &stream_body, &payers, "solana").await?;
            ttft[i].push(first_token(t, response).await?);
        }
    }
    let [direct_ttft, paid_ttft, serial_ttft] = ttft.map(|v| percentile(&sorted(v), 0.5));
    let sweep = match config.sweep.is_empty() {
        true => Vec::new(),
        false => {
            let mut urls = Vec::new();
            gateway_config.settle_overlap = true;
            for _ in 0..config.gateways {
                let ledger = ledger::Ledger::connect(url).await?;
                let app = Arc::new(gateway::App::new(&gateway_config, ledger).await?);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                urls.push(format!("http://{}", listener.local_addr()?));
                tokio::spawn(gateway::serve(listener, app, std::future::pending()));
            }
            let mut steps = Vec::new();
            for &in_flight in &config.sweep {
                for chain in ["solana", "base"] {
                    progress(&format!(
                        "(e) sweep: {in_flight} paid calls in flight on {chain}, over {} gateways",
                        urls.len()
                    ));
                    steps.push(sweep_step(&http, &urls, &body, &payers, chain, in_flight).await);
                }
            }
            steps
        }
    };
    // Every answered call charged once, no settlement named by two charges.
    let completed: Vec<_> = ledger::Ledger::connect(url)
        .await?
        .charges(None, i64::MAX)
        .await?
        .into_iter()
        .filter(|c| c.status == "completed")
        .map(|c| (c.chain, c.settlement_tx))
        .collect();
    let distinct: std::collections::HashSet<_> = completed.iter().collect();
    let double_charges = (completed.len() - distinct.len()) as i64;
    drop(net);

    let direct = sorted(direct);
    let paid_ex_settle = sorted(
        paid.iter()
            .map(|(total, _, settle)| total - settle)
            .collect(),
    );
    let verify = sorted(paid.iter().map(|(_, v, _)| *v).collect());
    let settle = sorted(paid.iter().map(|(_, _, s)| *s).collect());
    let (direct_p50_ms, paid_p50_ms) = (percentile(&direct, 0.5), percentile(&paid_ex_settle, 0.5));
    let direct_p99_ms = percentile(&direct, 0.99);
    let paid_p99_ms = percentile(&paid_ex_settle, 0.99);
    let on_key = sorted(on_key);
    let (key_p50_ms, key_p99_ms) = (percentile(&on_key, 0.5), percentile(&on_key, 0.99));
    Ok(BenchReport {
        requests: config.requests,
        concurrency: config.concurrency,
        slot_ms: config.slot_ms,
        direct_rps,
        paid_rps: config.requests as f64 / paid_time.as_secs_f64(),
        direct_p50_ms,
        paid_p50_ms,
        direct_p99_ms,
        paid_p99_ms,
        key_p50_ms,
        key_p99_ms,
        key_added_p50_ms: key_p50_ms - direct_p50_ms,
        key_added_p99_ms: key_p99_ms - direct_p99_ms,
        paid_added_p50_ms: paid_p50_ms - direct_p50_ms,
        paid_added_p99_ms: paid_p99_ms - direct_p99_ms,
        key_p50_ratio: key_p50_ms / direct_p50_ms,
        paid_p50_ratio: paid_p50_ms / direct_p50_ms,
        verify_p50_ms: percentile(&verify, 0.5),
        settle_p50_ms: percentile(&settle, 0.5),
        added_p50_ms: paid_p50_ms - direct_p50_ms,
        upstream_ttft_ms: config.upstream_ttft_ms,
        direct_ttft_ms: direct_ttft,
        paid_ttft_ms: paid_ttft,
        serial_ttft_ms: serial_ttft,
        sweep,
        double_charges,
    })
}

/// Who pays: the demo payers of localnet's chains (Base's when it runs).
struct Payers {
    solana: Arc<solana_keypair::Keypair>,
    base: Option<alloy::signers::local::PrivateKeySigner>,
    rpc: RpcClient,
}

/// `in_flight` × 4 (at least 32) paid calls of `body` on `chain`, `in_flight` at a time, each
/// to the next of `gateways`; a call that fails is counted, not fatal.
async fn sweep_step(
    http: &reqwest::Client,
    gateways: &[String],
    body: &Value,
    payers: &Payers,
    chain: &'static str,
    in_flight: usize,
) -> SweepStep {
    let requests = (in_flight * 4).max(32);
    let started = Instant::now();
    let outcomes: Vec<anyhow::Result<f64>> = futures::stream::iter(0..requests)
        .map(|i| {
            let gateway = &gateways[i % gateways.len()];
            async move {
                let (t, response) = pay(http, gateway, body, payers, chain).await?;
                let status = response.status();
                let text = response.text().await?;
                anyhow::ensure!(status.is_success(), "answered {status}: {text}");
                Ok(t.elapsed().as_secs_f64() * 1e3)
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut errors = 0;
    let mut latencies = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(ms) => latencies.push(ms),
            Err(e) => {
                errors += 1;
                tracing::warn!(chain, in_flight, error = %e, "a sweep call failed");
            }
        }
    }
    let latencies = sorted(latencies);
    SweepStep {
        chain,
        concurrency: in_flight,
        requests,
        rps: (requests - errors) as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        errors,
    }
}

/// `config.requests` requests `request` builds, `config.concurrency` at a time: each one's
/// milliseconds to its whole answer, which must be a success.
async fn timed(
    config: &BenchConfig,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> anyhow::Result<Vec<f64>> {
    futures::stream::iter(0..config.requests)
        .map(|_| {
            let request = request();
            async move {
                let t = Instant::now();
                let response = request.send().await?;
                let status = response.status();
                let text = response.text().await?;
                anyhow::ensure!(status.is_success(), "answered {status}: {text}");
                Ok(t.elapsed().as_secs_f64() * 1e3)
            }
        })
        .buffer_unordered(config.concurrency)
        .collect::<Vec<anyhow::Result<f64>>>()
        .await
        .into_iter()
        .collect()
}

/// An API key of `payer`'s at `gateway`, over a balance topped up with 1 USDC paid on Solana.
async fn api_key(
    http: &reqwest::Client,
    gateway: &str,
    payer: &solana_keypair::Keypair,
    rpc_url: &str,
    usdc: &str,
) -> anyhow::Result<String> {
    use crate::commands::wallet::{json as answer, Wallet};
    let wallet = Wallet::Solana(payer.insecure_clone());
    let url = format!("{gateway}/v1/balance/top-up");
    let body = json!({ "amount": "1" });
    let required: wire::PaymentRequired = http.post(&url).json(&body).send().await?.json().await?;
    let payment = wallet
        .pay(wallet.offer(&required)?, rpc_url, Some(usdc))
        .await?;
    answer(
        http.post(&url)
            .header(wire::PAYMENT_SIGNATURE, wire::encode_header(&payment))
            .json(&body)
            .send()
            .await?,
    )
    .await
    .context("topping up the bench payer's balance")?;
    let key = answer(
        wallet
            .signed_in(|| http.post(format!("{gateway}/v1/keys")).json(&json!({})))
            .await?,
    )
    .await
    .context("creating an API key")?;
    key["key"]
        .as_str()
        .map(str::to_string)
        .context("the gateway showed no key")
}

/// A paid call of `body` at `gateway` on `chain` ("solana" or "base"): quoted and signed first
/// (client-side work is not what is measured), then sent; when it was sent, and the response.
async fn pay(
    http: &reqwest::Client,
    gateway: &str,
    body: &Value,
    payers: &Payers,
    chain: &str,
) -> anyhow::Result<(Instant, reqwest::Response)> {
    let quote: Value = http
        .post(format!("{gateway}/v1/quote"))
        .json(body)
        .send()
        .await?
        .json()
        .await?;
    let offers: Vec<wire::PaymentRequirements> = serde_json::from_value(quote["accepts"].clone())?;
    let prefix = if chain == "solana" {
        "solana:"
    } else {
        "eip155:"
    };
    let offer = offers
        .iter()
        .find(|o| o.network.starts_with(prefix))
        .with_context(|| format!("no offer on {chain}"))?;
    let payment = match &payers.base {
        Some(base) if chain == "base" => client::base_payment(offer, base).await,
        _ => client::solana_exact(
            offer,
            &payers.solana,
            payers.rpc.get_latest_blockhash().await?,
        ),
    }
    .map_err(anyhow::Error::msg)?;
    let t = Instant::now();
    let response = http
        .post(format!("{gateway}/v1/chat/completions"))
        .header(wire::PAYMENT_SIGNATURE, wire::encode_header(&payment))
        .json(body)
        .send()
        .await?;
    Ok((t, response))
}

/// Milliseconds from `t` to the first content token of the streamed `response` (read to its
/// end).
async fn first_token(t: Instant, response: reqwest::Response) -> anyhow::Result<f64> {
    let status = response.status();
    anyhow::ensure!(
        status.is_success(),
        "answered {status}: {}",
        response.text().await?
    );
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    let mut first = None;
    while let Some(chunk) = stream.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk?));
        // A token: content that is not empty (a role-only first chunk carries none).
        let token = |after: &str| !after.starts_with('"');
        if first.is_none() && seen.split("\"content\":\"").skip(1).any(token) {
            first = Some(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    first.context("the stream carried no token")
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_timing_durations_are_read_by_name() {
        let header = "verify;dur=1.250, settle;dur=51.5";
        assert_eq!(super::timing(header, "verify"), Some(1.25));
        assert_eq!(super::timing(header, "settle"), Some(51.5));
        assert_eq!(super::timing(header, "upstream"), None);
    }
}
