//! The live follower against localnet: killed mid-stream and restarted, its stream ended by
//! the server, or blocks lost by the server without a word, it loses no row and doubles none.

use std::time::{Duration, Instant};

use indexer::solana::follower::{self, FollowerConfig};
use ledger::Ledger;
use sqlx::PgPool;

use crate::usdc_chain;

pub async fn transfer_signatures(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT tx FROM ledger.transfers ORDER BY block, tx_index")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// One payment into the vault per amount, in order.
pub async fn pay_vault(
    client: &solana_client::nonblocking::rpc_client::RpcClient,
    u: &usdc_chain::Usdc,
    amounts: impl IntoIterator<Item = u64>,
) -> Vec<solana_signature::Signature> {
    let mut sent = Vec::new();
    for amount in amounts {
        sent.push(usdc_chain::pay(client, &u.agent, &u.agent_ata, &u.usdc, &u.vault, amount).await);
    }
    sent
}

/// Follows `u`'s vault from the slot after the setup: no race between the follower
/// subscribing and the payments.
async fn follow_the_vault(
    node: &localnet::solana::SolanaNode,
    client: &solana_client::nonblocking::rpc_client::RpcClient,
    u: &usdc_chain::Usdc,
) -> FollowerConfig {
    FollowerConfig {
        grpc_url: node.grpc_url(),
        rpc_url: node.rpc_url(),
        tracked: vec![u.vault.to_string()],
        cursor: "solana".into(),
        start_slot: Some(client.get_slot().await.unwrap() + 1),
        metrics: Default::default(),
    }
}

pub async fn wait_for_rows(pool: &PgPool, n: usize) {
    let started = Instant::now();
    while transfer_signatures(pool).await.len() < n {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "ledger did not reach {n} rows"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_killed_follower_resumes_from_its_cursor_without_loss_or_duplicates(pool: PgPool) {
    let (node, client, u) = usdc_chain::start().await;
    let config = follow_the_vault(&node, &client, &u).await;
    let ledger = Ledger::from_pool(pool.clone());
    let mut sent = Vec::new();

    let task = tokio::spawn(follower::run(config.clone(), ledger.clone()));
    sent.extend(pay_vault(&client, &u, [1_000_000, 1_000_001, 1_000_002]).await);
    wait_for_rows(&pool, 3).await;
    task.abort();
    let _ = task.await;
    let cursor_at_kill = ledger
        .cursor("solana")
        .await
        .unwrap()
        .expect("cursor written");

    // payments while the follower is down
    sent.extend(pay_vault(&client, &u, [2_000_000, 2_000_001, 2_000_002]).await);
    let task = tokio::spawn(follower::run(config, ledger.clone()));
    sent.push(
        usdc_chain::pay(
            &client,
            &u.agent,
            &u.agent_ata,
            &u.usdc,
            &u.vault,
            3_000_000,
        )
        .await,
    );
    wait_for_rows(&pool, 7).await;
    // a few more slots: nothing else may arrive
    tokio::time::sleep(Duration::from_millis(500)).await;
    task.abort();

    let got = transfer_signatures(&pool).await;
    let sent: Vec<String> = sent.iter().map(|s| s.to_string()).collect();
    assert_eq!(got, sent, "every payment once, in chain order");
    assert!(ledger.cursor("solana").await.unwrap().unwrap() > cursor_at_kill);
    let finalized: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ledger.transfers WHERE status = 'finalized'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(finalized >= 3, "rows of finalized slots are promoted");
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_dropped_grpc_stream_resumes_from_the_cursor_without_a_gap(pool: PgPool) {
    let (node, client, u) = usdc_chain::start().await;
    let config = follow_the_vault(&node, &client, &u).await;
    let task = tokio::spawn(follower::run(config, Ledger::from_pool(pool.clone())));
    let mut sent = pay_vault(&client, &u, [1_000_000, 1_000_001]).await;
    wait_for_rows(&pool, 2).await;
    let opened = node.grpc_streams().opened();

    node.grpc_streams().disconnect();
    // paid while the follower is between streams
    sent.extend(pay_vault(&client, &u, [2_000_000, 2_000_001]).await);
    wait_for_rows(&pool, 4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    task.abort();

    assert!(
        node.grpc_streams().opened() > opened,
        "the follower subscribed again"
    );
    let sent: Vec<String> = sent.iter().map(|s| s.to_string()).collect();
    assert_eq!(transfer_signatures(&pool).await, sent, "every payment once");
    let sources: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT ingested_from FROM ledger.transfers")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        sources,
        ["grpc"],
        "resumed by from_slot replay, not by an RPC backfill"
    );
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn blocks_the_stream_lost_are_backfilled_from_rpc_before_the_cursor_passes_them(
    pool: PgPool,
) {
    let (node, client, u) = usdc_chain::start().await;
    let config = follow_the_vault(&node, &client, &u).await;
    let ledger = Ledger::from_pool(pool.clone());
    let task = tokio::spawn(follower::run(config, ledger.clone()));
    let mut sent = pay_vault(&client, &u, [1_000_000]).await;
    wait_for_rows(&pool, 1).await;

    // The server loses every block from here until the next payment's.
    let from = client.get_slot().await.unwrap();
    node.grpc_streams().lose_blocks(from..=u64::MAX);
    sent.extend(pay_vault(&client, &u, [2_000_000]).await);
    let landed = client
        .get_signature_statuses(&sent[1..])
        .await
        .unwrap()
        .value[0]
        .as_ref()
        .expect("confirmed")
        .slot;
    let cursor_before = ledger.cursor("solana").await.unwrap().unwrap();
    assert!(
        cursor_before < landed,
        "the lost block has not been written"
    );
    // Up to the payment's block only: the next payment, sent after this, lands later.
    node.grpc_streams().lose_blocks(from..=landed);

    sent.extend(pay_vault(&client, &u, [3_000_000]).await);
    wait_for_rows(&pool, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    task.abort();

    let sent: Vec<String> = sent.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        transfer_signatures(&pool).await,
        sent,
        "every payment once, in order"
    );
    let sources: Vec<(String, String)> =
        sqlx::query_as("SELECT tx, ingested_from FROM ledger.transfers ORDER BY block")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        sources.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
        ["grpc", "rpc_backfill", "grpc"],
        "the lost block's payment came from the RPC backfill the gap triggered: {sources:?}"
    );
    assert!(ledger.cursor("solana").await.unwrap().unwrap() > landed);
}
