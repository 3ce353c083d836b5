//! Blockhashes live 150 slots, as on a cluster, whatever the traffic.

use std::time::Duration;

use localnet::solana::{Chain, Commitment, SolanaConfig, SolanaNode};
use serde_json::json;
use solana_client::{nonblocking::rpc_client::RpcClient, rpc_config::RpcSendTransactionConfig};
use solana_commitment_config::CommitmentConfig;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::{versioned::VersionedTransaction, Transaction};
use solana_transaction_error::TransactionError;

use crate::rpc::{funded, raw};

fn transfer(payer: &Keypair, lamports: u64, blockhash: Hash) -> Transaction {
    let ix = solana_system_interface::instruction::transfer(
        &payer.pubkey(),
        &Pubkey::new_unique(),
        lamports,
    );
    Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[payer], blockhash)
}

/// The slot clock driven by hand: a blockhash is accepted through exactly its
/// `lastValidBlockHeight` (150 blocks on) and refused one block later, by the bank and by
/// simulation alike, however many transactions went in between.
#[tokio::test(flavor = "multi_thread")]
async fn a_blockhash_is_accepted_through_its_last_valid_height_and_refused_after() {
    localnet::quiet_runtime_logs();
    let chain = Chain::start(&Default::default()).await.unwrap();
    let payer = Keypair::new();
    chain
        .airdrop(&payer.pubkey(), 10_000_000_000)
        .await
        .unwrap();
    let (hash, last_valid) = chain.latest_blockhash().await;
    let height = chain.block_height(Commitment::Confirmed).await;
    assert_eq!(last_valid, height + 150, "150 blocks, as on a cluster");

    let mut lamports = 1_000_000;
    while chain.block_height(Commitment::Confirmed).await < last_valid {
        // traffic in every slot, with fresh blockhashes: it must not age the old one
        for _ in 0..3 {
            lamports += 1;
            let (fresh, _) = chain.latest_blockhash().await;
            let tx = transfer(&payer, lamports, fresh);
            chain.process(VersionedTransaction::from(tx)).await.unwrap();
        }
        chain.advance_slot().await.unwrap();
    }
    assert!(chain.is_blockhash_valid(&hash).await);
    let at_the_edge = chain
        .process(VersionedTransaction::from(transfer(
            &payer, 2_000_000, hash,
        )))
        .await
        .expect("accepted at its last valid height");
    assert!(at_the_edge.meta.err.is_none());

    chain.advance_slot().await.unwrap();
    assert!(!chain.is_blockhash_valid(&hash).await);
    let late = VersionedTransaction::from(transfer(&payer, 2_000_001, hash));
    let simulated = chain.simulate(late.clone()).await.unwrap();
    assert_eq!(simulated.err, Some(TransactionError::BlockhashNotFound));
    match chain.process(late).await {
        Err(localnet::LocalnetError::Rejected(TransactionError::BlockhashNotFound)) => {}
        other => panic!("a blockhash past its last valid height must be refused: {other:?}"),
    }
}

/// The case: a payment signed with a blockhash fetched 30 s earlier lands (a cluster
/// keeps one 60–90 s); once the chain is past its last valid height it is refused, with and
/// without preflight, in the shape nodes answer (`-32002` with the simulation as `data`).
#[tokio::test(flavor = "multi_thread")]
async fn a_transfer_signed_with_a_30_second_old_blockhash_lands() {
    localnet::quiet_runtime_logs();
    let node = SolanaNode::start(SolanaConfig {
        rpc_addr: "127.0.0.1:0".parse().unwrap(),
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        slot_time: Duration::from_millis(250),
        program: Default::default(),
    })
    .await
    .expect("start local solana");
    let client = RpcClient::new_with_commitment(node.rpc_url(), CommitmentConfig::confirmed());
    let payer = funded(&client).await;
    let (old, last_valid) = client
        .get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
        .await
        .unwrap();
    let signed_early = transfer(&payer, 3_000_000, old);
    let started = std::time::Instant::now();
    let mut lamports = 1_000_000;
    while started.elapsed() < Duration::from_secs(30) {
        lamports += 1;
        let fresh = client.get_latest_blockhash().await.unwrap();
        client
            .send_transaction(&transfer(&payer, lamports, fresh))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(client
        .is_blockhash_valid(&old, CommitmentConfig::processed())
        .await
        .unwrap());
    client
        .send_and_confirm_transaction(&signed_early)
        .await
        .expect("a transfer signed 30 s ago lands");

    while client.get_block_height().await.unwrap() <= last_valid {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(!client
        .is_blockhash_valid(&old, CommitmentConfig::processed())
        .await
        .unwrap());
    let late = transfer(&payer, 3_000_001, old);
    let err = client.send_transaction(&late).await.unwrap_err();
    assert!(err.to_string().contains("Blockhash not found"), "{err}");
    let err = client
        .send_transaction_with_config(
            &late,
            RpcSendTransactionConfig {
                skip_preflight: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Blockhash not found"), "{err}");
    let wire = {
        use base64::Engine;
        base64::prelude::BASE64_STANDARD.encode(bincode::serialize(&late).unwrap())
    };
    let answer = raw(
        &node.rpc_url(),
        &json!({"jsonrpc": "2.0", "id": 1, "method": "sendTransaction",
                "params": [wire, {"encoding": "base64", "skipPreflight": true}]})
        .to_string(),
    )
    .await;
    assert_eq!(answer["error"]["code"], -32002, "{answer}");
    assert_eq!(
        answer["error"]["data"]["err"], "BlockhashNotFound",
        "a refusal without preflight carries data, as nodes send it: {answer}"
    );
}
