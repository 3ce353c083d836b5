//! `paywire audit`: what the gateway sold against what the chains say, as one report or served
//! as the ledger page and its read-only API.

use anyhow::Context;
use clap::{builder::TypedValueParser, Args};

use crate::settings::Settings;

/// Audit what the gateway sold against what the chains say.
///
/// Every settled charge is matched to the on-chain transfer of its settlement (same
/// transaction, amount and destination): matched, missing, amount_mismatch,
/// wrong_destination. Every transfer into a payTo address that no charge and no model-vault
/// instruction explains is an unexplained_inflow. With --solana-rpc, each tokenized model's
/// vault must add up (revenue in, as payments and held revenue released = vault balance on
/// chain + buybacks + their protocol fees + creator claims + anything else that left, each
/// movement by the model-vault instruction that caused it) and its token supply too
/// (minted − burned = supply on chain). A check that does not add up is read again until the
/// ledger has reached the slot the chain answered at (up to 20 s): payments in flight on a live
/// system are not discrepancies.
/// Exits 0 when everything reconciles, 1 when anything does not, 2 when the audit could not be
/// made (the database or the RPC did not answer).
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct AuditArgs {
    /// Postgres holding the ledger [default: the config file's database_url]
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Only this model's charges
    #[arg(long)]
    model: Option<String>,
    /// From this time on (RFC 3339, e.g. 2026-11-22T00:00:00Z)
    #[arg(long)]
    from: Option<chrono::DateTime<chrono::Utc>>,
    /// Before this time (RFC 3339)
    #[arg(long)]
    to: Option<chrono::DateTime<chrono::Utc>>,
    /// table, csv or json (the ledger API's JSON)
    #[arg(long, default_value = "table", value_parser = clap::builder::PossibleValuesParser::new(audit::Format::NAMES).map(|name| name.parse::<audit::Format>().expect("a listed format")))]
    format: audit::Format,
    /// Solana JSON-RPC: also check each tokenized model's vault balance and token supply
    #[arg(long, env = "PAYWIRE_SOLANA_RPC")]
    solana_rpc: Option<String>,
    /// The ledger's cursor of the indexer following that chain (its `[solana] cursor`): a
    /// check that does not add up waits for it to reach the slot the chain answered at
    #[arg(long, default_value = indexer::config::SOLANA_CURSOR)]
    solana_cursor: String,
    /// Base JSON-RPC: with --solana-rpc, also check the Base treasury's USDC on chain (at the
    /// block the ledger's Base cursor has reached); and --verify-chain on Base
    #[arg(long, env = "PAYWIRE_BASE_RPC")]
    base_rpc: Option<String>,
    /// The ledger's cursor of the indexer following Base (its `[base] cursor`)
    #[arg(long, default_value = indexer::config::BASE_CURSOR)]
    base_cursor: String,
    /// Also read again from each chain whose RPC is given (--solana-rpc, --base-rpc) every
    /// transaction behind the ledger's transfer rows and report any row the chain does not
    /// confirm (an edited or invented row, even one edited alike in a charge and its transfer;
    /// on Base, a charge's EIP-3009 nonce its settlement did not use)
    #[arg(long)]
    verify_chain: bool,
    /// With --verify-chain: read only this many transactions, drawn at random (the report says
    /// what confidence that gives)
    #[arg(long, requires = "verify_chain", value_name = "N")]
    verify_sample: Option<usize>,
    /// Also list what each payer holds (every payer, largest first), after the report
    #[arg(long, conflicts_with = "format")]
    balances: bool,
    /// Instead of printing one report, serve the ledger page (charts) and its read-only JSON
    /// API here until Ctrl-C, like `paywire indexer --listen` without following the chains
    #[arg(long, value_name = "ADDRESS", conflicts_with_all = ["model", "from", "to", "format"])]
    serve: Option<std::net::SocketAddr>,
}

impl AuditArgs {
    /// Whether this serves the ledger page until Ctrl-C instead of printing one report.
    pub fn serves(&self) -> bool {
        self.serve.is_some()
    }
}

pub async fn run(args: AuditArgs, settings: &Settings) -> anyhow::Result<()> {
    let database_url = settings.database_url(args.database_url).context(
        "no ledger: pass --database-url, set DATABASE_URL, or `paywire config set --database-url <url>`",
    )?;
    let ledger = ledger::Ledger::connect(&database_url).await?;
    let base_rpc = match &args.base_rpc {
        Some(url) => Some(
            url.parse::<alloy::transports::http::reqwest::Url>()
                .with_context(|| format!("--base-rpc {url} is not a URL"))?,
        ),
        None => None,
    };
    let vaults = args.solana_rpc.as_ref().map(|url| {
        let audit = audit::VaultAudit::new(url.clone(), args.solana_cursor.clone());
        match &base_rpc {
            Some(base) => audit.reading_base(base.clone(), args.base_cursor.clone()),
            None => audit,
        }
    });
    if let Some(address) = args.serve {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("listening on {address} (is the port taken?)"))?;
        eprintln!(
            "ledger page on http://{}/ledger/ (JSON API under /ledger/; vault checks {}); Ctrl-C stops it",
            listener.local_addr()?,
            if args.solana_rpc.is_some() { "on" } else { "off: pass --solana-rpc" }
        );
        let api = audit::api::router(ledger, vaults);
        tokio::select! {
            _ = serve_ledger(listener, api) => {}
            _ = crate::interrupt::ctrl_c() => eprintln!("stopped"),
        }
        return Ok(());
    }
    let chain = match &vaults {
        Some(vaults) => Some(vaults.check(&ledger, args.model.as_deref()).await?),
        None => None,
    };
    let scope = audit::AuditScope {
        model: args.model,
        from: args.from,
        to: args.to,
    };
    let report = audit::Report::read(&ledger, &scope, chain).await?;
    let mut verified = Vec::new();
    if args.verify_chain {
        anyhow::ensure!(
            args.solana_rpc.is_some() || args.base_rpc.is_some(),
            "--verify-chain reads the chains: pass --solana-rpc and/or --base-rpc"
        );
        if let Some(url) = &args.solana_rpc {
            verified
                .push(crate::verify_chain::verify_solana(&ledger, url, args.verify_sample).await?);
        }
        if let Some(url) = &args.base_rpc {
            verified
                .push(crate::verify_chain::verify_base(&ledger, url, args.verify_sample).await?);
        }
    }
    print!("{}", report.render(args.format));
    for verified in &verified {
        match args.format {
            audit::Format::Json => eprintln!("{}", serde_json::to_string(verified)?),
            _ => print!("{}", verified.summary()),
        }
    }
    if args.balances {
        for b in ledger.balances(None, i64::MAX).await? {
            println!(
                "balance of {} on {}: available {}, held {}",
                b.payer,
                b.chain.as_str(),
                audit::Amount::read(&b.available).usdc(),
                audit::Amount::read(&b.held).usdc()
            );
        }
    }
    if !report.reconciled() || verified.iter().any(|v| !v.confirmed()) {
        std::process::exit(1);
    }
    Ok(())
}

/// Serves the ledger page and API until the listener fails, logging why.
pub(super) async fn serve_ledger(listener: tokio::net::TcpListener, router: audit::api::Router) {
    if let Err(e) = audit::api::serve(listener, router).await {
        tracing::error!(error = %e, "ledger API stopped");
    }
}
