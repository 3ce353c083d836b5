//! `paywire bench indexer`: the ledger write path against raw COPY and single-row INSERTs.

use anyhow::Context;
use clap::Args;

/// The ledger write path against raw COPY (its practical limit) and single-row INSERTs (the
/// naive baseline), with the primary key in place, plus the decoder's rate. Runs on a scratch
/// database created on the server of --database-url and dropped afterwards.
#[derive(Args, Debug)]
pub struct BenchIndexerArgs {
    #[command(flatten)]
    server: super::ScratchServer,
    /// Decoded transfers written by the write path and by COPY
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Rows for the single-row INSERT baseline (slow; its rate is what is reported)
    #[arg(long, default_value_t = 20_000)]
    insert_rows: usize,
    /// Rows per write-path batch
    #[arg(long, default_value_t = 5_000)]
    batch_rows: usize,
    /// Transactions decoded for the decode rate
    #[arg(long, default_value_t = 200_000)]
    decode_txs: usize,
    /// Print one JSON object (write_rows_per_s, copy_rows_per_s, insert_rows_per_s, decode_tx_per_s, …)
    #[arg(long)]
    json: bool,
}

pub async fn run(args: BenchIndexerArgs) -> anyhow::Result<()> {
    let config = indexer::bench::BenchConfig {
        database_url: args.server.database_url,
        rows: args.rows,
        insert_rows: args.insert_rows,
        batch_rows: args.batch_rows.max(1),
        decode_txs: args.decode_txs,
    };
    let report = indexer::bench::run(config, |step| eprintln!("  … {step}"))
        .await
        .context("benchmark failed (is Postgres running at --database-url / DATABASE_URL?)")?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "ledger write path (batches of {}):       {:>10.0} rows/s",
            report.batch_rows, report.write_rows_per_s
        );
        println!(
            "raw COPY (practical limit):          {:>10.0} rows/s",
            report.copy_rows_per_s
        );
        println!(
            "single-row INSERT (naive baseline):  {:>10.0} rows/s",
            report.insert_rows_per_s
        );
        println!(
            "decode:                              {:>10.0} tx/s",
            report.decode_tx_per_s
        );
        println!(
            "write path = {:.0}% of COPY, {:.1}× single-row INSERTs",
            100.0 * report.write_vs_copy(),
            report.write_rows_per_s / report.insert_rows_per_s
        );
    }
    Ok(())
}
