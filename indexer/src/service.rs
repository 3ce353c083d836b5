//! The indexer as one service: the Solana side (backfill to the tip, then live) and the Base
//! side, side by side, writing into one ledger — each while it holds its cursor's lease, so
//! several indexers can run on one ledger, one active per chain and the others standing by.

use std::time::Duration;

use futures::{future::BoxFuture, stream::FuturesUnordered, StreamExt};
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
/// them with [`Metrics::router`]). Each follower writes only while it holds its cursor's lease:
/// a second indexer on the same ledger stands by, and takes over from the cursor when the
/// first stops or dies.
pub async fn run(
    config: &IndexerConfig,
    ledger: Ledger,
    metrics: &Metrics,
    progress: impl Fn(&str) + Sync,
) -> Result<(), IndexerError> {
    if config.solana.is_none() && config.base.is_none() {
        return Err(IndexerError::Config(
            "nothing to follow: add a [solana] or [base] section".into(),
        ));
    }
    let progress = &progress;
    let ledger = &ledger;
    // Dropping the set (when this future is dropped) stops every follower.
    let mut followers: FuturesUnordered<BoxFuture<'_, Result<(), IndexerError>>> =
        FuturesUnordered::new();
    if let Some(section) = &config.base {
        let follower = section.follower(metrics);
        let cursor = follower.cursor.clone();
        followers.push(Box::pin(leading(
            ledger,
            metrics,
            cursor,
            progress,
            move |ledger| {
                let follower = BaseFollower::new(follower.clone(), ledger);
                progress(&format!(
                    "following USDC on Base at {} (treasury {})",
                    section.rpc_url, section.treasury
                ));
                async move { follower?.run().await }
            },
        )));
    }
    if let Some(section) = &config.solana {
        let cursor = section.cursor.clone();
        followers.push(Box::pin(leading(
            ledger,
            metrics,
            cursor,
            progress,
            move |ledger| async move {
                // A source or database that fails now is waited for, as the follower waits.
                let mut retry = crate::retry::Retry::default();
                let read = loop {
                    match catch_up_solana(section, &ledger, metrics).await {
                        Ok(read) => break read,
                        Err(e @ IndexerError::Ledger(ledger::LedgerError::LeaseLost(_))) => {
                            return Err(e)
                        }
                        Err(e) => {
                            let wait = retry.next_wait();
                            tracing::warn!(chain = "solana", error = %e, retry_in = ?wait, "backfill failed; retrying");
                            tokio::time::sleep(wait).await;
                        }
                    }
                };
                progress(&format!(
                    "Solana backfill read {read} transactions; following {} live",
                    section.grpc_url
                ));
                follower::run(section.follower(metrics), ledger).await
            },
        )));
    }
    match followers.next().await {
        Some(result) => result,
        None => unreachable!("at least one follower runs"),
    }
}

/// How often a standby asks for the lease.
const STANDBY_POLL: Duration = Duration::from_millis(500);

/// Runs `follow` with a ledger fenced by the lease on `cursor`: stands by while another
/// process holds it, and stands by again if the lease is lost (this process's connection to
/// Postgres broke, and another took over).
async fn leading<Fut>(
    ledger: &Ledger,
    metrics: &Metrics,
    cursor: String,
    progress: &(impl Fn(&str) + Sync),
    follow: impl Fn(Ledger) -> Fut,
) -> Result<(), IndexerError>
where
    Fut: std::future::Future<Output = Result<(), IndexerError>>,
{
    let holder = format!(
        "pid {} on {}",
        std::process::id(),
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map_or_else(|_| "this host".into(), |h| h.trim().to_string())
    );
    let mut standing_by = false;
    loop {
        let mut lease = match ledger.try_lease(&cursor, &holder).await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                metrics.lease(&cursor, false);
                if !standing_by {
                    let by = match ledger.lease_holder(&cursor).await {
                        Ok(Some((holder, ..))) => holder,
                        _ => "another indexer".into(),
                    };
                    progress(&format!(
                        "standing by: {by} follows {cursor}; taking over from the cursor when it stops"
                    ));
                    standing_by = true;
                }
                tokio::time::sleep(STANDBY_POLL).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(cursor, error = %e, retry_in = ?STANDBY_POLL, "could not ask for the lease; retrying");
                tokio::time::sleep(STANDBY_POLL).await;
                continue;
            }
        };
        metrics.lease(&cursor, true);
        if standing_by {
            progress(&format!(
                "took over {cursor} (lease epoch {}): resuming from the cursor",
                lease.epoch()
            ));
            standing_by = false;
        }
        tokio::select! {
            result = follow(ledger.fenced(&lease)) => match result {
                Err(IndexerError::Ledger(ledger::LedgerError::LeaseLost(_))) => {
                    tracing::warn!(cursor, "another indexer took over; standing by");
                }
                result => return result,
            },
            () = lease.lost() => {
                tracing::warn!(cursor, "lost the lease (the connection holding it broke); standing by");
            }
        }
        metrics.lease(&cursor, false);
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
