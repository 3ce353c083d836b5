//! The indexer as one service: the Solana side (backfill to the tip, then live) and the Base
//! side, side by side, writing into one ledger.

use ledger::{Batch, Chain, Cursor, Ledger};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;

use crate::{
    base::BaseFollower,
    config::{IndexerConfig, SolanaSection},
    solana::{backfill, follower},
    IndexerError, Metrics,
};

/// Runs every configured follower until one fails for good, reporting to `metrics` (serve
/// them with [`Metrics::router`]).
pub async fn run(
    config: &IndexerConfig,
    ledger: Ledger,
    metrics: &Metrics,
    progress: impl Fn(&str),
) -> Result<(), IndexerError> {
    if config.solana.is_none() && config.base.is_none() {
        return Err(IndexerError::Config(
            "nothing to follow: add a [solana] or [base] section".into(),
        ));
    }
    // Dropping the set (when this future is dropped or aborted) stops every follower.
    let mut followers = tokio::task::JoinSet::new();
    if let Some(section) = &config.base {
        let follower = BaseFollower::new(section.follower(metrics), ledger.clone())?;
        progress(&format!(
            "following USDC on Base at {} (treasury {})",
            section.rpc_url, section.treasury
        ));
        followers.spawn(follower.run());
    }
    if let Some(section) = &config.solana {
        let read = catch_up_solana(section, &ledger, metrics).await?;
        progress(&format!(
            "Solana backfill read {read} transactions; following {} live",
            section.grpc_url
        ));
        followers.spawn(follower::run(section.follower(metrics), ledger.clone()));
    }
    match followers.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(IndexerError::Source(format!("a follower stopped: {e}"))),
        None => unreachable!("at least one follower runs"),
    }
}

/// Backfills the Solana side from its cursor (or `start_slot`) to the confirmed tip.
pub async fn catch_up_solana(
    section: &SolanaSection,
    ledger: &Ledger,
    metrics: &Metrics,
) -> Result<usize, IndexerError> {
    let follower = section.follower(metrics);
    if let (None, Some(start)) = (ledger.cursor(&follower.cursor).await?, section.start_slot) {
        let mut start_at = Batch::new(Chain::Solana, ledger::Ingest::RpcBackfill);
        start_at.cursor = Some(Cursor {
            name: follower.cursor.clone(),
            position: start.saturating_sub(1),
        });
        metrics.write(ledger, &start_at).await?;
    }
    let rpc =
        RpcClient::new_with_commitment(section.rpc_url.clone(), CommitmentConfig::confirmed());
    let mut tracked = follower::tracked_set(&follower, ledger).await?;
    backfill::run(&rpc, ledger, metrics, &mut tracked, &follower.cursor, None).await
}
