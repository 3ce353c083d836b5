//! The write path: one Postgres transaction per batch, rows inserted with UNNEST (one
//! statement per table, whatever the batch size), idempotent on the natural keys.

use sqlx::{Acquire, Postgres, Transaction};

use crate::{Batch, Chain, Ingest, Ledger, LedgerError, RowStatus};

/// The tables whose rows belong to a block of a chain, with the column naming the block.
const TABLES_BY_BLOCK: [(&str, &str); 3] = [
    ("ledger.transfers", "block"),
    ("ledger.discrepancies", "block"),
    ("ledger.blocks", "number"),
];

/// How many rows a batch added (or revived from `rolled_back`); repeats count zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    pub transfers: u64,
    pub vault_events: u64,
}

impl Ledger {
    /// Writes `batch` and its cursor atomically: after a crash either all of it is there or
    /// none, so a follower resuming from the cursor neither loses nor doubles a row.
    pub async fn write(&self, batch: &Batch) -> Result<WriteOutcome, LedgerError> {
        let mut tx = self.pool().begin().await?;
        self.check_fence(&mut tx).await?;
        let outcome = WriteOutcome {
            transfers: insert_transfers(&mut tx, batch).await?,
            vault_events: insert_vault_events(&mut tx, batch).await?,
        };
        insert_discrepancies(&mut tx, batch).await?;
        upsert_blocks(&mut tx, batch).await?;
        insert_tracked(&mut tx, batch).await?;
        insert_openings(&mut tx, batch).await?;
        if let Some(cursor) = &batch.cursor {
            // Never backwards: a replayed block (a resubscription from an earlier slot) must not
            // undo progress. Only `roll_back` moves a cursor back.
            sqlx::query(
                "INSERT INTO ledger.cursors (name, chain, position) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE
                 SET position = GREATEST(ledger.cursors.position, EXCLUDED.position), updated_at = now()",
            )
            .bind(&cursor.name)
            .bind(batch.chain)
            .bind(cursor.position as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Promotes everything of `chain` at or below `block` from confirmed to finalized.
    pub async fn finalize(&self, chain: Chain, block: u64) -> Result<(), LedgerError> {
        let mut tx = self.pool().begin().await?;
        self.check_fence(&mut tx).await?;
        for (table, column) in TABLES_BY_BLOCK {
            sqlx::query(&format!(
                "UPDATE {table} SET status = 'finalized' WHERE chain = $1 AND {column} <= $2 AND status = 'confirmed'"
            ))
            .bind(chain)
            .bind(block as i64)
            .execute(&mut *tx)
            .await?;
        }
        if chain == Chain::Solana {
            sqlx::query("UPDATE ledger.vault_events SET status = 'finalized' WHERE slot <= $1 AND status = 'confirmed'")
                .bind(block as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks every row of `chain` in blocks `from..=to` rolled back (a dead Solana slot, or
    /// Base blocks orphaned by a reorg) and moves `cursor` back to `from - 1`, in one
    /// transaction. Rows are kept for the audit trail; re-ingesting the same leg revives it.
    pub async fn roll_back(
        &self,
        chain: Chain,
        from: u64,
        to: u64,
        cursor: Option<&str>,
    ) -> Result<u64, LedgerError> {
        let mut tx = self.pool().begin().await?;
        self.check_fence(&mut tx).await?;
        let mut rolled = 0;
        for (table, column) in TABLES_BY_BLOCK {
            let affected = sqlx::query(&format!(
                "UPDATE {table} SET status = $4 WHERE chain = $1 AND {column} BETWEEN $2 AND $3 AND status <> $4"
            ))
            .bind(chain)
            .bind(from as i64)
            .bind(to as i64)
            .bind(RowStatus::RolledBack)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if table == "ledger.transfers" {
                rolled = affected;
            }
        }
        if chain == Chain::Solana {
            sqlx::query("UPDATE ledger.vault_events SET status = $3 WHERE slot BETWEEN $1 AND $2 AND status <> $3")
                .bind(from as i64)
                .bind(to as i64)
                .bind(RowStatus::RolledBack)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(name) = cursor {
            sqlx::query("UPDATE ledger.cursors SET position = LEAST(position, $2), updated_at = now() WHERE name = $1")
                .bind(name)
                .bind(from.saturating_sub(1) as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rolled)
    }
}

/// Keeps the first row of each key: one statement may not touch a row twice, and a follower
/// may deliver the same leg twice within a batch (a replayed slot).
fn first_of_each<'a, T, K: std::hash::Hash + Eq>(
    rows: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Vec<&'a T> {
    let mut seen = std::collections::HashSet::new();
    rows.iter().filter(|r| seen.insert(key(r))).collect()
}

/// The transfers of a batch as column arrays, bound to UNNEST.
#[derive(Clone)]
struct TransferColumns {
    tx: Vec<String>,
    leg: Vec<String>,
    block: Vec<i64>,
    block_hash: Vec<Option<String>>,
    block_time: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    tx_index: Vec<i32>,
    program: Vec<String>,
    kind: Vec<&'static str>,
    mint: Vec<String>,
    source: Vec<Option<String>>,
    source_owner: Vec<Option<String>>,
    destination: Vec<Option<String>>,
    destination_owner: Vec<Option<String>>,
    authority: Vec<Option<String>>,
    amount: Vec<String>,
    decimals: Vec<Option<i16>>,
    success: Vec<bool>,
}

impl TransferColumns {
    fn new(rows: &[&crate::TransferRow]) -> Self {
        let text =
            |f: fn(&crate::TransferRow) -> &String| rows.iter().map(|r| f(r).clone()).collect();
        let opt = |f: fn(&crate::TransferRow) -> &Option<String>| {
            rows.iter().map(|r| f(r).clone()).collect()
        };
        TransferColumns {
            tx: text(|r| &r.tx),
            leg: text(|r| &r.leg),
            block: rows.iter().map(|r| r.block as i64).collect(),
            block_hash: opt(|r| &r.block_hash),
            block_time: rows.iter().map(|r| r.block_time).collect(),
            tx_index: rows.iter().map(|r| r.tx_index as i32).collect(),
            program: text(|r| &r.program),
            kind: rows.iter().map(|r| r.kind.into()).collect(),
            mint: text(|r| &r.mint),
            source: opt(|r| &r.source),
            source_owner: opt(|r| &r.source_owner),
            destination: opt(|r| &r.destination),
            destination_owner: opt(|r| &r.destination_owner),
            authority: opt(|r| &r.authority),
            amount: rows.iter().map(|r| r.amount.to_string()).collect(),
            decimals: rows.iter().map(|r| r.decimals.map(i16::from)).collect(),
            success: rows.iter().map(|r| r.success).collect(),
        }
    }

    async fn insert(
        self,
        tx: &mut sqlx::PgConnection,
        batch: &Batch,
        on_conflict: &str,
    ) -> Result<u64, sqlx::Error> {
        let sql = format!(
            "INSERT INTO ledger.transfers (chain, tx, leg, block, block_hash, block_time, tx_index, program, kind,
                 mint, source, source_owner, destination, destination_owner, authority, amount, decimals, success,
                 ingested_from)
             SELECT $1, t.tx, t.leg, t.block, t.block_hash, t.block_time, t.tx_index, t.program, t.kind,
                 t.mint, t.source, t.source_owner, t.destination, t.destination_owner, t.authority, t.amount::numeric,
                 t.decimals, t.success, $18
             FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::text[], $6::timestamptz[], $7::int4[], $8::text[],
                 $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                 $16::text[], $17::int2[], $19::bool[])
               AS t(tx, leg, block, block_hash, block_time, tx_index, program, kind, mint, source, source_owner,
                 destination, destination_owner, authority, amount, decimals, success)
             {on_conflict}"
        );
        let result = sqlx::query(&sql)
            .bind(batch.chain)
            .bind(self.tx)
            .bind(self.leg)
            .bind(self.block)
            .bind(self.block_hash)
            .bind(self.block_time)
            .bind(self.tx_index)
            .bind(self.program)
            .bind(self.kind)
            .bind(self.mint)
            .bind(self.source)
            .bind(self.source_owner)
            .bind(self.destination)
            .bind(self.destination_owner)
            .bind(self.authority)
            .bind(self.amount)
            .bind(self.decimals)
            .bind(batch.source.as_ref())
            .bind(self.success)
            .execute(tx)
            .await?;
        Ok(result.rows_affected())
    }
}

/// The columns COPY fills, in the order [`copy_format`] writes them.
pub const TRANSFER_COPY: &str = "COPY ledger.transfers (chain, tx, leg, block, block_hash, block_time, tx_index,
    program, kind, mint, source, source_owner, destination, destination_owner, authority, amount, decimals,
    success, ingested_from) FROM STDIN";

/// `rows` in COPY's text format for [`TRANSFER_COPY`].
pub fn copy_format<'a>(
    chain: Chain,
    source: Ingest,
    rows: impl IntoIterator<Item = &'a crate::TransferRow>,
) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    for r in rows {
        let _ = writeln!(
            text,
            "{chain}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            copy_text(&r.tx),
            copy_text(&r.leg),
            r.block,
            copy_opt(&r.block_hash),
            r.block_time
                .map_or_else(|| "\\N".to_string(), |t| t.to_rfc3339()),
            r.tx_index,
            copy_text(&r.program),
            r.kind.as_ref(),
            copy_text(&r.mint),
            copy_opt(&r.source),
            copy_opt(&r.source_owner),
            copy_opt(&r.destination),
            copy_opt(&r.destination_owner),
            copy_opt(&r.authority),
            r.amount,
            r.decimals
                .map_or_else(|| "\\N".to_string(), |d| d.to_string()),
            if r.success { "t" } else { "f" },
            source.as_ref(),
        );
    }
    text
}

/// COPY of `rows` into `ledger.transfers`.
async fn copy_transfers(
    conn: &mut sqlx::PgConnection,
    batch: &Batch,
    rows: &[&crate::TransferRow],
) -> Result<u64, sqlx::Error> {
    let text = copy_format(batch.chain, batch.source, rows.iter().copied());
    let mut copy = conn.copy_in_raw(TRANSFER_COPY).await?;
    if let Err(e) = copy.send(text.as_bytes()).await {
        let _ = copy.abort("batch rejected").await;
        return Err(e);
    }
    copy.finish().await
}

/// A value in COPY's text format: backslash, tab, newline and carriage return escaped.
fn copy_text(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains(['\\', '\t', '\n', '\r']) {
        value
            .replace('\\', "\\\\")
            .replace('\t', "\\t")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
            .into()
    } else {
        value.into()
    }
}

fn copy_opt(value: &Option<String>) -> std::borrow::Cow<'_, str> {
    value.as_deref().map_or("\\N".into(), copy_text)
}

/// Re-delivered legs are idempotent; a leg rolled back earlier comes back to life.
const TRANSFER_CONFLICT: &str = "ON CONFLICT (chain, tx, leg) DO UPDATE SET
    block = EXCLUDED.block, block_hash = EXCLUDED.block_hash, block_time = EXCLUDED.block_time,
    tx_index = EXCLUDED.tx_index, status = 'confirmed', ingested_from = EXCLUDED.ingested_from
    WHERE ledger.transfers.status = 'rolled_back'";

/// Postgres' unique_violation.
const UNIQUE_VIOLATION: &str = "23505";

async fn insert_transfers(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Batch,
) -> Result<u64, LedgerError> {
    if batch.transfers.is_empty() {
        return Ok(0);
    }
    let rows = first_of_each(&batch.transfers, |r| (&r.tx, &r.leg));
    // Optimistic: new rows go in with COPY, the fastest way in; only when a batch meets rows
    // already there (a replay after a restart, a revived rollback) is it redone as an upsert.
    let mut savepoint = tx.begin().await?;
    match copy_transfers(&mut savepoint, batch, &rows).await {
        Ok(n) => {
            savepoint.commit().await?;
            Ok(n)
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(UNIQUE_VIOLATION) => {
            savepoint.rollback().await?;
            Ok(TransferColumns::new(&rows)
                .insert(tx, batch, TRANSFER_CONFLICT)
                .await?)
        }
        Err(e) => Err(e.into()),
    }
}

async fn insert_vault_events(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Batch,
) -> Result<u64, LedgerError> {
    if batch.vault_events.is_empty() {
        return Ok(0);
    }
    let rows = first_of_each(&batch.vault_events, |r| (&r.signature, &r.ix_path));
    let amount = |f: fn(&crate::VaultEventRow) -> Option<u64>| {
        rows.iter()
            .map(|r| f(r).map(|a| a.to_string()))
            .collect::<Vec<_>>()
    };
    let result = sqlx::query(
        "INSERT INTO ledger.vault_events (signature, ix_path, slot, block_time, tx_index, kind, model, actor,
             usdc_amount, token_amount, success, ingested_from)
         SELECT t.signature, t.ix_path, t.slot, t.block_time, t.tx_index, t.kind, t.model, t.actor,
             t.usdc_amount::numeric, t.token_amount::numeric, t.success, $12
         FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::timestamptz[], $5::int4[], $6::text[], $7::text[],
             $8::text[], $9::text[], $10::text[], $11::bool[])
           AS t(signature, ix_path, slot, block_time, tx_index, kind, model, actor, usdc_amount, token_amount, success)
         ON CONFLICT (signature, ix_path) DO UPDATE SET
             slot = EXCLUDED.slot, block_time = EXCLUDED.block_time, tx_index = EXCLUDED.tx_index,
             status = 'confirmed', ingested_from = EXCLUDED.ingested_from
         WHERE ledger.vault_events.status = 'rolled_back'",
    )
    .bind(rows.iter().map(|r| r.signature.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.ix_path.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.slot as i64).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.block_time).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.tx_index as i32).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.kind.as_ref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.model.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.actor.clone()).collect::<Vec<_>>())
    .bind(amount(|r| r.usdc_amount))
    .bind(amount(|r| r.token_amount))
    .bind(rows.iter().map(|r| r.success).collect::<Vec<_>>())
    .bind(batch.source.as_ref())
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected())
}

async fn insert_discrepancies(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Batch,
) -> Result<(), LedgerError> {
    if batch.discrepancies.is_empty() {
        return Ok(());
    }
    let rows = first_of_each(&batch.discrepancies, |r| (&r.tx, &r.account));
    sqlx::query(
        "INSERT INTO ledger.discrepancies (chain, tx, account, mint, block, balance_change, decoded_change)
         SELECT $1, t.tx, t.account, t.mint, t.block, t.balance_change::numeric, t.decoded_change::numeric
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::text[])
           AS t(tx, account, mint, block, balance_change, decoded_change)
         ON CONFLICT (chain, tx, account) DO UPDATE SET block = EXCLUDED.block, status = 'confirmed'
         WHERE ledger.discrepancies.status = 'rolled_back'",
    )
    .bind(batch.chain)
    .bind(rows.iter().map(|r| r.tx.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.account.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.mint.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.block as i64).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.balance_change.to_string()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.decoded_change.to_string()).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A block number seen again with another hash replaces the old entry (the caller rolled
/// its rows back first).
async fn upsert_blocks(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Batch,
) -> Result<(), LedgerError> {
    if batch.blocks.is_empty() {
        return Ok(());
    }
    // The last word on a block number wins.
    let mut latest = std::collections::BTreeMap::new();
    for b in &batch.blocks {
        latest.insert(b.number, b);
    }
    let rows: Vec<_> = latest.into_values().collect();
    sqlx::query(
        "INSERT INTO ledger.blocks (chain, number, hash, parent_hash, block_time)
         SELECT $1, t.number, t.hash, t.parent_hash, t.block_time
         FROM UNNEST($2::int8[], $3::text[], $4::text[], $5::timestamptz[]) AS t(number, hash, parent_hash, block_time)
         ON CONFLICT (chain, number) DO UPDATE SET hash = EXCLUDED.hash, parent_hash = EXCLUDED.parent_hash,
             block_time = EXCLUDED.block_time, status = 'confirmed'
         WHERE ledger.blocks.hash <> EXCLUDED.hash OR ledger.blocks.status = 'rolled_back'",
    )
    .bind(batch.chain)
    .bind(rows.iter().map(|r| r.number as i64).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.hash.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.parent_hash.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.block_time).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_tracked(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Batch,
) -> Result<(), LedgerError> {
    if batch.tracked.is_empty() {
        return Ok(());
    }
    let rows = first_of_each(&batch.tracked, |r| &r.address);
    sqlx::query(
        "INSERT INTO ledger.tracked_accounts (chain, address, since_block, reason, tx)
         SELECT $1, t.address, t.since_block, t.reason, t.tx
         FROM UNNEST($2::text[], $3::int8[], $4::text[], $5::text[]) AS t(address, since_block, reason, tx)
         ON CONFLICT (chain, address) DO NOTHING",
    )
    .bind(batch.chain)
    .bind(rows.iter().map(|r| r.address.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.since_block as i64).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.reason.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.tx.clone()).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The first reading of each account stands: a follower restarted from scratch reads later.
async fn insert_openings(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Batch,
) -> Result<(), LedgerError> {
    for opening in &batch.openings {
        sqlx::query(
            "INSERT INTO ledger.opening_balances (chain, owner, mint, block, amount)
             VALUES ($1, $2, $3, $4, $5::numeric) ON CONFLICT (chain, owner, mint) DO NOTHING",
        )
        .bind(batch.chain)
        .bind(&opening.owner)
        .bind(&opening.mint)
        .bind(opening.block as i64)
        .bind(opening.amount.to_string())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
