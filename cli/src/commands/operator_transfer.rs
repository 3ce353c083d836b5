//! `paywire operator-transfer`: records a transfer the operator made to or from its own
//! treasury, and why, so the audit can tell it from USDC that moved for no reason.

use anyhow::Context;
use clap::Args;

use crate::settings::Settings;

/// Record a transfer of the operator's own to or from a treasury, and why.
///
/// Working capital paid into the Solana treasury, USDC moved from the Base treasury to the
/// Solana one, margin taken out: the audit reports any treasury inflow or outflow that no
/// charge, release or withdrawal explains, unless the operator recorded it here. The note is
/// shown to auditors; recording a transaction again replaces its note.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct OperatorTransferArgs {
    /// solana or base
    #[arg(long, value_parser = ["solana", "base"])]
    chain: String,
    /// The transaction: a Solana signature or a Base transaction hash
    #[arg(long)]
    tx: String,
    /// Why the operator moved the USDC
    #[arg(long)]
    note: String,
    /// Postgres holding the ledger [default: the config file's database_url]
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
}

pub async fn run(args: OperatorTransferArgs, settings: &Settings) -> anyhow::Result<()> {
    let url = settings
        .database_url(args.database_url)
        .context("no ledger: pass --database-url, set DATABASE_URL, or `paywire config set --database-url <url>`")?;
    anyhow::ensure!(
        !args.note.trim().is_empty(),
        "say why in --note: auditors read it"
    );
    let chain = match args.chain.as_str() {
        "solana" => ledger::Chain::Solana,
        _ => ledger::Chain::Base,
    };
    let ledger = ledger::Ledger::connect(&url).await?;
    ledger
        .record_operator_transfer(chain, &args.tx, args.note.trim())
        .await?;
    println!(
        "recorded {} on {} as the operator's: {}",
        args.tx,
        chain.as_str(),
        args.note.trim()
    );
    Ok(())
}
