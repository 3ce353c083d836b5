//! The live Solana follower: a Yellowstone subscription at `confirmed` on the tracked
//! accounts, written to the ledger one slot at a time with the cursor, resumed from the
//! cursor (`from_slot`) after any disconnect or restart, promoting rows on `finalized` and
//! rolling back dead slots. A block whose parent is past the cursor reveals a gap, which is
//! backfilled over RPC before the block is written: the cursor never passes a gap.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use ledger::{Batch, BlockRow, Chain, Cursor, Ledger};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use yellowstone_grpc_client::GeyserGrpcClient;
use yellowstone_grpc_proto::geyser::{
    subscribe_update::UpdateOneof, CommitmentLevel, SlotStatus, SubscribeRequest,
    SubscribeRequestFilterBlocksMeta, SubscribeRequestFilterSlots,
    SubscribeRequestFilterTransactions, SubscribeRequestPing, SubscribeUpdateTransaction,
};

use super::{backfill, yellowstone};
use crate::{decode, retry::Retry, IndexerError, Metrics};

#[derive(Clone, Debug)]
pub struct FollowerConfig {
    pub grpc_url: String,
    /// JSON-RPC, for backfilling gaps.
    pub rpc_url: String,
    /// Accounts whose transactions are ingested (program, treasury); the vaults and pools of
    /// tokenized models are added as the chain reveals them.
    pub tracked: Vec<String>,
    /// Name of the cursor row in the ledger.
    pub cursor: String,
    /// Where to start while the ledger has no cursor yet (`None`: live, from now on).
    pub start_slot: Option<u64>,
    /// Where the rows written, the cursor and the chain's head are reported.
    pub metrics: Metrics,
}

/// Why one subscription ended without an error.
enum Resume {
    /// The stream ended: resume from the cursor.
    FromCursor,
    /// The tracked set grew at this slot: subscribe again from it with the new filter.
    FromSlot(u64),
}

fn stream_error(e: impl std::fmt::Display) -> IndexerError {
    IndexerError::Stream(e.to_string())
}

/// The configured accounts and those the ledger learned from the chain.
pub(crate) async fn tracked_set(
    config: &FollowerConfig,
    ledger: &Ledger,
) -> Result<BTreeSet<String>, IndexerError> {
    let mut tracked: BTreeSet<String> = config.tracked.iter().cloned().collect();
    tracked.extend(
        ledger
            .tracked(Chain::Solana)
            .await?
            .into_iter()
            .map(|(a, _)| a),
    );
    Ok(tracked)
}

/// Follows for ever: after a stream failure it resumes from the cursor, and after a failure to
/// subscribe (or a database outage) it first backfills to the tip. Errors are logged (a
/// `tracing` warning) with what happens next; nothing is lost while it waits.
pub async fn run(config: FollowerConfig, ledger: Ledger) -> Result<(), IndexerError> {
    let rpc = RpcClient::new_with_commitment(config.rpc_url.clone(), CommitmentConfig::confirmed());
    let mut tracked = BTreeSet::new();
    let mut retry = Retry::default();
    let mut resume_at = None;
    let mut needs_backfill = false;
    loop {
        let attempt = async {
            tracked.extend(tracked_set(&config, &ledger).await?);
            if needs_backfill && ledger.cursor(&config.cursor).await?.is_some() {
                backfill::run(
                    &rpc,
                    &ledger,
                    &config.metrics,
                    &mut tracked,
                    &config.cursor,
                    None,
                )
                .await?;
            }
            follow(&config, &ledger, &rpc, &mut tracked, resume_at.take()).await
        };
        match attempt.await {
            Ok(Resume::FromSlot(slot)) => resume_at = Some(slot),
            Ok(Resume::FromCursor) => retry.reset(),
            Err(e) => {
                needs_backfill = !matches!(e, IndexerError::Stream(_));
                config.metrics.follower_error(Chain::Solana);
                let wait = retry.next_wait();
                tracing::warn!(chain = "solana", error = %e, retry_in = ?wait, "follower failed; resuming from the cursor");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// One subscription, from `resume_at` or the slot after the cursor, until the stream ends.
async fn follow(
    config: &FollowerConfig,
    ledger: &Ledger,
    rpc: &RpcClient,
    tracked: &mut BTreeSet<String>,
    resume_at: Option<u64>,
) -> Result<Resume, IndexerError> {
    let mut cursor = ledger.cursor(&config.cursor).await?;
    let from_slot = resume_at.or(cursor.map(|c| c + 1)).or(config.start_slot);
    if cursor.is_none() {
        // Starting fresh at `start_slot`: what comes before it is not ours to check.
        cursor = config.start_slot.map(|s| s.saturating_sub(1));
    }
    let mut client = GeyserGrpcClient::build_from_shared(config.grpc_url.clone())
        .map_err(stream_error)?
        .connect()
        .await
        .map_err(stream_error)?;
    let (mut sink, mut stream) = client
        .subscribe_with_request(Some(request(tracked, from_slot)))
        .await
        .map_err(|e| IndexerError::Source(format!("subscribing: {e}")))?;

    // Transactions of slots whose block meta has not arrived yet.
    let mut pending: BTreeMap<u64, Vec<SubscribeUpdateTransaction>> = BTreeMap::new();
    while let Some(update) = stream.next().await {
        match update.map_err(stream_error)?.update_oneof {
            Some(UpdateOneof::Ping(_)) => {
                sink.send(SubscribeRequest {
                    ping: Some(SubscribeRequestPing { id: 1 }),
                    ..Default::default()
                })
                .await
                .map_err(stream_error)?;
            }
            Some(UpdateOneof::Transaction(tx)) => pending.entry(tx.slot).or_default().push(tx),
            Some(UpdateOneof::BlockMeta(meta)) => {
                if cursor.is_some_and(|c| meta.parent_slot > c && meta.slot > c) {
                    // Blocks between the cursor and this one's parent never reached us.
                    let grew = tracked.len();
                    backfill::run(
                        rpc,
                        ledger,
                        &config.metrics,
                        tracked,
                        &config.cursor,
                        Some(meta.parent_slot),
                    )
                    .await?;
                    if tracked.len() > grew {
                        return Ok(Resume::FromSlot(meta.slot));
                    }
                }
                // The slot is complete at `confirmed`: its rows and the cursor in one write.
                let block_time = meta
                    .block_time
                    .as_ref()
                    .and_then(|t| DateTime::<Utc>::from_timestamp(t.timestamp, 0));
                let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
                let txs = pending.remove(&meta.slot).unwrap_or_default();
                // Anything older never got its block meta: a skipped or dead slot.
                pending.retain(|slot, _| *slot > meta.slot);
                for tx in txs {
                    if let Some(raw) = yellowstone::raw_tx(&tx, block_time) {
                        decode::decode(&raw).add_to(&mut batch, raw.slot);
                    }
                }
                batch.tracked.retain(|t| !tracked.contains(&t.address));
                batch.blocks.push(BlockRow {
                    number: meta.slot,
                    hash: meta.blockhash.clone(),
                    parent_hash: Some(meta.parent_blockhash.clone()),
                    block_time,
                });
                batch.cursor = Some(Cursor {
                    name: config.cursor.clone(),
                    position: meta.slot,
                });
                config.metrics.write(ledger, &batch).await?;
                cursor = Some(cursor.map_or(meta.slot, |c| c.max(meta.slot)));
                if !batch.tracked.is_empty() {
                    tracked.extend(batch.tracked.into_iter().map(|t| t.address));
                    // Later transactions of this very slot may pay the new accounts.
                    return Ok(Resume::FromSlot(meta.slot));
                }
            }
            Some(UpdateOneof::Slot(slot)) if slot.status == SlotStatus::SlotFinalized as i32 => {
                ledger.finalize(Chain::Solana, slot.slot).await?;
            }
            Some(UpdateOneof::Slot(slot)) if slot.status != SlotStatus::SlotDead as i32 => {
                config.metrics.head(Chain::Solana, slot.slot);
            }
            Some(UpdateOneof::Slot(slot)) => {
                ledger
                    .roll_back(Chain::Solana, slot.slot, slot.slot, None)
                    .await?;
            }
            _ => {}
        }
    }
    Ok(Resume::FromCursor)
}

fn request(tracked: &BTreeSet<String>, from_slot: Option<u64>) -> SubscribeRequest {
    SubscribeRequest {
        transactions: [(
            "tracked".to_string(),
            SubscribeRequestFilterTransactions {
                account_include: tracked.iter().cloned().collect(),
                ..Default::default()
            },
        )]
        .into(),
        slots: [("slots".to_string(), SubscribeRequestFilterSlots::default())].into(),
        blocks_meta: [(
            "meta".to_string(),
            SubscribeRequestFilterBlocksMeta::default(),
        )]
        .into(),
        commitment: Some(CommitmentLevel::Confirmed as i32),
        from_slot,
        ..Default::default()
    }
}
