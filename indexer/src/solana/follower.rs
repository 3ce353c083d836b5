//! The live Solana follower: a Yellowstone subscription at `confirmed` on the tracked
//! accounts, written to the ledger one slot at a time with the cursor, resumed from the
//! cursor (`from_slot`) after any disconnect or restart, promoting rows on `finalized`.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use ledger::{Batch, BlockRow, Chain, Cursor, Ledger};
use yellowstone_grpc_client::GeyserGrpcClient;
use yellowstone_grpc_proto::geyser::{
    subscribe_update::UpdateOneof, CommitmentLevel, SlotStatus, SubscribeRequest,
    SubscribeRequestFilterBlocksMeta, SubscribeRequestFilterSlots,
    SubscribeRequestFilterTransactions, SubscribeRequestPing,
};

use super::yellowstone;
use crate::{decode, IndexerError};

#[derive(Clone, Debug)]
pub struct FollowerConfig {
    pub grpc_url: String,
    /// Accounts whose transactions are ingested (program, vaults, pools, treasury).
    pub tracked: Vec<String>,
    /// Name of the cursor row in the ledger.
    pub cursor: String,
    /// Where to start while the ledger has no cursor yet (`None`: live, from now on).
    pub start_slot: Option<u64>,
}

/// Follows until the stream fails, then resumes from the cursor after a short pause; returns
/// only on a ledger error (the database is the one thing it cannot work without).
pub async fn run(config: FollowerConfig, ledger: Ledger) -> Result<(), IndexerError> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match follow(&config, &ledger).await {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(IndexerError::Ledger(e)) => return Err(IndexerError::Ledger(e)),
            Err(e) => {
                eprintln!("solana follower: {e}; resuming from the cursor in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// One subscription, from the slot after the cursor, until the stream ends.
async fn follow(config: &FollowerConfig, ledger: &Ledger) -> Result<(), IndexerError> {
    let from_slot = match ledger.cursor(&config.cursor).await? {
        Some(slot) => Some(slot + 1),
        None => config.start_slot,
    };
    let mut client = GeyserGrpcClient::build_from_shared(config.grpc_url.clone())
        .map_err(|e| IndexerError::Stream(e.to_string()))?
        .connect()
        .await
        .map_err(|e| IndexerError::Stream(e.to_string()))?;
    let request = SubscribeRequest {
        transactions: [(
            "tracked".to_string(),
            SubscribeRequestFilterTransactions {
                account_include: config.tracked.clone(),
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
    };
    let (mut sink, mut stream) = client
        .subscribe_with_request(Some(request))
        .await
        .map_err(|e| IndexerError::Stream(e.to_string()))?;

    // Transactions of slots whose block meta has not arrived yet.
    let mut pending: BTreeMap<
        u64,
        Vec<yellowstone_grpc_proto::geyser::SubscribeUpdateTransaction>,
    > = BTreeMap::new();
    while let Some(update) = stream.next().await {
        let update = update.map_err(|e| IndexerError::Stream(e.to_string()))?;
        match update.update_oneof {
            Some(UpdateOneof::Ping(_)) => {
                sink.send(SubscribeRequest {
                    ping: Some(SubscribeRequestPing { id: 1 }),
                    ..Default::default()
                })
                .await
                .map_err(|e| IndexerError::Stream(e.to_string()))?;
            }
            Some(UpdateOneof::Transaction(tx)) => pending.entry(tx.slot).or_default().push(tx),
            Some(UpdateOneof::BlockMeta(meta)) => {
                // The slot is complete at `confirmed`: write its rows and move the cursor in
                // one transaction.
                let block_time = meta
                    .block_time
                    .as_ref()
                    .and_then(|t| DateTime::<Utc>::from_timestamp(t.timestamp, 0));
                let mut batch = Batch::new(Chain::Solana, "grpc");
                for tx in pending.remove(&meta.slot).unwrap_or_default() {
                    if let Some(raw) = yellowstone::raw_tx(&tx, block_time) {
                        let decoded = decode::decode(&raw);
                        batch.transfers.extend(decoded.transfers);
                        batch.vault_events.extend(decoded.vault_events);
                        batch
                            .discrepancies
                            .extend(decoded.discrepancies.into_iter().map(|d| d.row(raw.slot)));
                    }
                }
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
                ledger.write(&batch).await?;
            }
            Some(UpdateOneof::Slot(slot)) if slot.status == SlotStatus::SlotFinalized as i32 => {
                ledger.finalize(Chain::Solana, slot.slot).await?;
            }
            _ => {}
        }
    }
    Ok(())
}
