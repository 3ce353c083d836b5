//! `paywire indexer`: follow USDC and model-vault on Solana and Base into the ledger.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::audit::serve_ledger;

/// Follow every USDC movement and model-vault instruction on Solana and Base into the ledger.
///
/// Solana: backfills over JSON-RPC from the stored cursor to the tip, then follows Yellowstone
/// gRPC live (resuming from the cursor after any disconnect, backfilling any gap); the program,
/// the treasury's USDC account and, as models are tokenized, their vaults and pool reserves.
/// Base: USDC Transfer logs to or from the treasury, reorg-safe.
/// Rows are written idempotently with the cursor in the same transaction: stop it any time.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment, after_long_help = indexer::config::EXAMPLE)]
pub struct IndexerArgs {
    /// The config file (TOML; --help ends with every field)
    #[arg(
        long,
        env = "PAYWIRE_INDEXER_CONFIG",
        required_unless_present = "localnet"
    )]
    config: Option<PathBuf>,
    /// Follow the chains of a running `paywire localnet`, from its state file, instead
    #[arg(long, conflicts_with = "config")]
    localnet: Option<PathBuf>,
    /// Postgres holding the ledger (overrides the config file's database_url)
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Also serve the ledger here, read-only: the page with charts at /ledger/ and its JSON API
    /// (/ledger/audit, /ledger/models — vaults and supply against [solana] rpc_url —,
    /// /ledger/revenue, /ledger/buybacks, /ledger/charges, /ledger/transfers, /ledger/cursors),
    /// and the indexer's Prometheus metrics at /metrics (lag, cursors, rows written)
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
}

pub async fn run(args: IndexerArgs) -> anyhow::Result<()> {
    let mut config = match (&args.config, &args.localnet) {
        (Some(path), _) => indexer::IndexerConfig::from_file(path)?,
        (None, Some(state)) => indexer_config_for_localnet(state)?,
        (None, None) => anyhow::bail!("pass --config <file> or --localnet <state file>"),
    };
    if let Some(url) = args.database_url {
        config.database_url = Some(url);
    }
    let url = config.database_url.clone().context(
        "no database: set database_url in the config file, DATABASE_URL, or --database-url",
    )?;
    let ledger = ledger::Ledger::connect(&url).await?;
    eprintln!(
        "paywire indexer: writing the ledger at {}",
        ledger::redact(&url)
    );
    let metrics = indexer::Metrics::default();
    if let Some(listen) = args.listen {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen} (is the port taken?)"))?;
        let address = listener.local_addr()?;
        eprintln!("  ledger page on http://{address}/ledger/ (JSON API under /ledger/)");
        eprintln!("  Prometheus metrics on http://{address}/metrics");
        let vaults = chain_audit(&config)?;
        let api = audit::api::router(ledger.clone(), vaults).merge(metrics.router());
        tokio::spawn(async move { serve_ledger(listener, api).await });
    }
    tokio::select! {
        result = indexer::run(&config, ledger, &metrics, |step| eprintln!("  … {step}")) => Ok(result?),
        _ = crate::interrupt::ctrl_c() => {
            eprintln!("stopped (the cursor is stored; the next start resumes from it)");
            Ok(())
        }
    }
}

/// The audit's reads of the chains this indexer follows (none without Solana), each waiting on
/// its follower's cursor.
pub(super) fn chain_audit(
    config: &indexer::IndexerConfig,
) -> anyhow::Result<Option<audit::VaultAudit>> {
    let Some(solana) = &config.solana else {
        return Ok(None);
    };
    let audit = audit::VaultAudit::new(solana.rpc_url.clone(), solana.cursor.clone());
    Ok(Some(match &config.base {
        Some(base) => audit.reading_base(
            base.rpc_url
                .parse()
                .with_context(|| format!("[base] rpc_url {} is not a URL", base.rpc_url))?,
            base.cursor.clone(),
        ),
        None => audit,
    }))
}

/// The indexer config that follows everything a `paywire localnet` set up, from its state file.
fn indexer_config_for_localnet(
    state_file: &std::path::Path,
) -> anyhow::Result<indexer::IndexerConfig> {
    let state: localnet::LocalnetState =
        serde_json::from_slice(&std::fs::read(state_file).with_context(|| {
            format!(
                "reading {} (is `paywire localnet` running?)",
                state_file.display()
            )
        })?)
        .with_context(|| format!("{} is not a localnet state file", state_file.display()))?;
    Ok(for_localnet(&state))
}

/// The indexer config that follows everything a localnet set up.
pub(super) fn for_localnet(state: &localnet::LocalnetState) -> indexer::IndexerConfig {
    let s = &state.solana;
    indexer::IndexerConfig {
        database_url: None,
        solana: Some(indexer::config::SolanaSection::new(
            &s.rpc_url,
            &s.grpc_url,
            s.treasury_usdc,
        )),
        base: state.base.as_ref().map(|b| indexer::config::BaseSection {
            start_block: Some(0),
            // anvil does not reorg by itself; one block keeps rows moving to final quickly.
            confirmations: 1,
            poll_interval_ms: 200,
            ..indexer::config::BaseSection::new(&b.rpc_url, b.usdc, b.treasury)
        }),
    }
}
