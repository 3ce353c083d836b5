//! RPC backfill of what happened before the follower ran, then live following from there:
//! every payment once, in order.

use indexer::{
    solana::{backfill, follower},
    Metrics,
};
use ledger::Ledger;
use sqlx::PgPool;

/// Signatures of the movements into `vault`, in chain order.
async fn into_vault(pool: &PgPool, vault: &solana_pubkey::Pubkey) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tx FROM ledger.transfers WHERE destination = $1 ORDER BY block, tx_index",
    )
    .bind(vault.to_string())
    .fetch_all(pool)
    .await
    .unwrap()
}

use crate::{
    follower::{pay_vault, transfer_signatures, wait_for_rows},
    usdc_chain,
};

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn backfill_then_live_leaves_no_gap_and_no_duplicate(pool: PgPool) {
    let (node, client, u) = usdc_chain::start().await;
    let ledger = Ledger::from_pool(pool.clone());
    let mut sent = pay_vault(&client, &u, [1_000_000, 1_000_001, 1_000_002]).await;

    let mut tracked = [u.vault.to_string()].into();
    let read = backfill::run(
        &client,
        &ledger,
        &Metrics::default(),
        &mut tracked,
        "solana",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        read, 4,
        "the setup that created the vault, and the three payments"
    );
    let expected: Vec<String> = sent.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        into_vault(&pool, &u.vault).await,
        expected,
        "the payments, in chain order"
    );
    // the setup transaction also minted the agent's USDC: recorded as well
    assert_eq!(transfer_signatures(&pool).await.len(), 4);
    let sources: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT ingested_from FROM ledger.transfers")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(sources, ["rpc_backfill"]);
    let last_slot = client
        .get_signature_statuses(&[sent[2]])
        .await
        .unwrap()
        .value[0]
        .clone()
        .unwrap()
        .slot;
    assert!(
        ledger.cursor("solana").await.unwrap().unwrap() >= last_slot,
        "cursor at the tip"
    );
    assert_eq!(
        backfill::run(
            &client,
            &ledger,
            &Metrics::default(),
            &mut tracked,
            "solana",
            None
        )
        .await
        .unwrap(),
        0,
        "nothing new"
    );

    let config = follower::FollowerConfig {
        grpc_url: node.grpc_url(),
        rpc_url: node.rpc_url(),
        tracked: vec![u.vault.to_string()],
        cursor: "solana".into(),
        start_slot: None,
        metrics: Default::default(),
    };
    let task = tokio::spawn(follower::run(config, ledger.clone()));
    sent.extend(pay_vault(&client, &u, [2_000_000]).await);
    wait_for_rows(&pool, 5).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    task.abort();

    let sent: Vec<String> = sent.iter().map(|s| s.to_string()).collect();
    assert_eq!(into_vault(&pool, &u.vault).await, sent);
    assert_eq!(transfer_signatures(&pool).await.len(), 5, "nothing twice");
}
