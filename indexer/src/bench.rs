//! `paywire bench indexer`: the ledger write path against its practical limit (COPY) and the
//! naive baseline (one INSERT per row), plus the decoder's rate, measured in one run on a
//! scratch database created for the run and dropped after it.

use std::time::{Duration, Instant};

use ledger::{Batch, Chain, Cursor, Ledger, TransferRow};
use sqlx::postgres::PgPoolOptions;

use crate::decode::{self, token::TOKEN_PROGRAM, RawTx, TokenBalance};

#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Server to create the scratch database on (any database of it).
    pub database_url: String,
    /// Rows for the write path and COPY.
    pub rows: usize,
    /// Rows for the single-row INSERT baseline (it is slow; its rate is what matters).
    pub insert_rows: usize,
    /// Rows per batch on the write path.
    pub batch_rows: usize,
    /// Transactions to decode.
    pub decode_txs: usize,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    pub write_rows_per_s: f64,
    pub copy_rows_per_s: f64,
    pub insert_rows_per_s: f64,
    pub decode_tx_per_s: f64,
    pub rows: usize,
    pub insert_rows: usize,
    pub batch_rows: usize,
    pub decode_txs: usize,
}

impl BenchReport {
    /// The write path as a share of raw COPY.
    pub fn write_vs_copy(&self) -> f64 {
        self.write_rows_per_s / self.copy_rows_per_s
    }
}

/// A synthetic stream of decoded USDC transfers, each leg unique.
fn synthetic_rows(n: usize, tag: &str) -> Vec<TransferRow> {
    (0..n)
        .map(|i| TransferRow {
            tx: format!("{tag}{i:0>86}"),
            leg: (i % 3).to_string(),
            block: 1_000_000 + (i / 50) as u64,
            block_hash: None,
            block_time: None,
            tx_index: (i % 50) as u32,
            program: TOKEN_PROGRAM.into(),
            kind: ledger::TransferKind::TransferChecked,
            mint: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v".into(),
            source: Some(format!("src{}", i % 997)),
            source_owner: Some(format!("owner{}", i % 991)),
            destination: Some(format!("dst{}", i % 983)),
            destination_owner: Some(format!("vault{}", i % 13)),
            authority: Some(format!("owner{}", i % 991)),
            amount: (i as u64 + 1) * 1_000,
            decimals: Some(6),
            success: true,
        })
        .collect()
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

pub async fn run(
    config: BenchConfig,
    progress: impl Fn(&str),
) -> Result<BenchReport, crate::IndexerError> {
    let scratch = ledger::ScratchDatabase::create(&config.database_url, "paywire_bench").await?;
    let result = measure(&config, &scratch.url, &progress).await;
    scratch.drop().await?;
    result
}

async fn measure(
    config: &BenchConfig,
    url: &str,
    progress: &impl Fn(&str),
) -> Result<BenchReport, crate::IndexerError> {
    let pool = PgPoolOptions::new().max_connections(2).connect(url).await?;
    let ledger = Ledger::from_pool(pool.clone());
    ledger.migrate().await?;

    progress(&format!(
        "write path: {} rows in batches of {}",
        config.rows, config.batch_rows
    ));
    let rows = synthetic_rows(config.rows, "w");
    let started = Instant::now();
    for (i, chunk) in rows.chunks(config.batch_rows).enumerate() {
        let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
        batch.transfers = chunk.to_vec();
        batch.cursor = Some(Cursor {
            name: "bench".into(),
            position: i as u64,
        });
        ledger.write(&batch).await?;
    }
    let write = rate(config.rows, started.elapsed());
    sqlx::query("TRUNCATE ledger.transfers")
        .execute(&pool)
        .await?;

    progress(&format!("raw COPY: {} rows", config.rows));
    let rows = synthetic_rows(config.rows, "c");
    let mut conn = pool.acquire().await?;
    let started = Instant::now();
    for chunk in rows.chunks(50_000) {
        let mut copy = conn.copy_in_raw(ledger::TRANSFER_COPY).await?;
        copy.send(ledger::copy_format(Chain::Solana, ledger::Ingest::Grpc, chunk).as_bytes())
            .await?;
        copy.finish().await?;
    }
    let copy = rate(config.rows, started.elapsed());
    drop(conn);
    sqlx::query("TRUNCATE ledger.transfers")
        .execute(&pool)
        .await?;

    progress(&format!("single-row INSERTs: {} rows", config.insert_rows));
    let rows = synthetic_rows(config.insert_rows, "i");
    let started = Instant::now();
    for r in &rows {
        sqlx::query(
            "INSERT INTO ledger.transfers (chain, tx, leg, block, tx_index, program, kind, mint, source, source_owner,
             destination, destination_owner, authority, amount, decimals, success, ingested_from)
             VALUES ('solana', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::text::numeric, $14, true, 'grpc')
             ON CONFLICT DO NOTHING",
        )
        .bind(&r.tx)
        .bind(&r.leg)
        .bind(r.block as i64)
        .bind(r.tx_index as i32)
        .bind(&r.program)
        .bind(r.kind.as_ref())
        .bind(&r.mint)
        .bind(&r.source)
        .bind(&r.source_owner)
        .bind(&r.destination)
        .bind(&r.destination_owner)
        .bind(&r.authority)
        .bind(r.amount.to_string())
        .bind(r.decimals.map(i16::from))
        .execute(&pool)
        .await?;
    }
    let insert = rate(config.insert_rows, started.elapsed());
    pool.close().await;

    progress(&format!("decoding {} transactions", config.decode_txs));
    let txs = synthetic_transactions(config.decode_txs);
    let started = Instant::now();
    let mut legs = 0;
    for tx in &txs {
        legs += std::hint::black_box(decode::decode(tx)).transfers.len();
    }
    let decode_rate = rate(config.decode_txs, started.elapsed());
    assert_eq!(
        legs,
        2 * config.decode_txs,
        "each synthetic transaction has two legs"
    );

    Ok(BenchReport {
        write_rows_per_s: write,
        copy_rows_per_s: copy,
        insert_rows_per_s: insert,
        decode_tx_per_s: decode_rate,
        rows: config.rows,
        insert_rows: config.insert_rows,
        batch_rows: config.batch_rows,
        decode_txs: config.decode_txs,
    })
}

/// Transactions shaped like a paid call: a TransferChecked to a vault and a plain Transfer.
fn synthetic_transactions(n: usize) -> Vec<RawTx> {
    let usdc = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v".to_string();
    (0..n)
        .map(|i| {
            let (payer_ata, vault, payer) = (
                format!("payerata{i}"),
                format!("vault{}", i % 13),
                format!("payer{i}"),
            );
            let mut checked = vec![12u8];
            checked.extend_from_slice(&1_000_000u64.to_le_bytes());
            checked.push(6);
            let mut plain = vec![3u8];
            plain.extend_from_slice(&5_000u64.to_le_bytes());
            let bal = |account: &str, amount| TokenBalance {
                account: account.into(),
                mint: usdc.clone(),
                owner: Some(payer.clone()),
                amount,
                decimals: 6,
            };
            decode::raw_from_instructions(
                &format!("sig{i}"),
                i as u64,
                vec![
                    (
                        TOKEN_PROGRAM.into(),
                        vec![
                            payer_ata.clone(),
                            usdc.clone(),
                            vault.clone(),
                            payer.clone(),
                        ],
                        checked,
                    ),
                    (
                        TOKEN_PROGRAM.into(),
                        vec![payer_ata.clone(), vault.clone(), payer.clone()],
                        plain,
                    ),
                ],
                vec![bal(&payer_ata, 2_000_000), bal(&vault, 0)],
                vec![bal(&payer_ata, 995_000), bal(&vault, 1_005_000)],
                true,
            )
        })
        .collect()
}
