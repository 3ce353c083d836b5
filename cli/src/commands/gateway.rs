//! `paywire gateway`: serve the paid-inference gateway from its config file.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Serve the paid-inference gateway: OpenAI-compatible, paid per call with x402.
///
/// POST /v1/chat/completions answers 402 with the ways to pay (Solana USDC to the model's
/// vault once tokenized, else the treasury; Base USDC by EIP-3009 to the Base treasury); a
/// paid retry is verified, settled, routed to the cheapest healthy provider and answered with
/// a receipt. Also: POST /v1/quote, GET /v1/models, /.well-known/x402,
/// /.well-known/agent-card.json, /openapi.json, /healthz, /metrics; and, with
/// facilitator_key set, /facilitator/{supported,verify,settle} for callers presenting it.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment, after_long_help = gateway::config::EXAMPLE)]
pub struct GatewayArgs {
    /// The config file (TOML; --help ends with every field)
    #[arg(long, env = "PAYWIRE_GATEWAY_CONFIG")]
    config: PathBuf,
    /// Postgres holding the ledger (overrides the config file's database_url)
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Address to listen on (overrides the config file's listen)
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
}

pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let mut config = gateway::GatewayConfig::from_file(&args.config)?;
    if let Some(url) = args.database_url {
        config.database_url = Some(url);
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let url = config.database_url.clone().context(
        "no database: set database_url in the config file, DATABASE_URL, or --database-url",
    )?;
    let ledger = ledger::Ledger::connect(&url).await?;
    let app = std::sync::Arc::new(gateway::App::new(&config, ledger).await?);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "listening on {} (is the port taken? use --listen)",
                config.listen
            )
        })?;
    let address = listener.local_addr()?;
    eprintln!(
        "paywire gateway on http://{address} ({} models; ledger {})",
        app.catalog.models().len(),
        ledger::redact(&url)
    );
    eprintln!("  POST http://{address}/v1/chat/completions   (402 → pay → answer)");
    eprintln!("  GET  http://{address}/v1/models");
    eprintln!("Ctrl-C stops it after the requests in flight.");
    gateway::serve(listener, app, async {
        crate::interrupt::ctrl_c().await;
        eprintln!("stopping: finishing requests in flight …");
    })
    .await?;
    eprintln!("stopped");
    Ok(())
}

/// A gateway paid on the chains of a localnet (Base too when it runs), the built-in
/// facilitator paying with the localnet's facilitator keys; no models yet.
pub(crate) fn for_localnet(
    state: &localnet::LocalnetState,
    listen: std::net::SocketAddr,
    quote_secret: &str,
) -> gateway::GatewayConfig {
    use gateway::config::{BasePayments, SolanaPayments};
    let s = &state.solana;
    gateway::GatewayConfig {
        solana: Some(SolanaPayments {
            fee_payer_keypair: Some(s.facilitator_keypair.clone()),
            treasury_keypair: Some(s.treasury_keypair.clone()),
            ..SolanaPayments::new(&s.rpc_url, s.usdc_mint, s.treasury)
        }),
        base: state.base.as_ref().map(|b| BasePayments {
            network: b.network.clone(),
            facilitator_private_key: Some(b.facilitator_private_key.clone()),
            treasury_private_key: Some(b.treasury_private_key.clone()),
            ..BasePayments::new(&b.rpc_url, b.usdc, b.treasury)
        }),
        ..gateway::GatewayConfig::new(listen, quote_secret)
    }
}
