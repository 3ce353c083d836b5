//! localnet's Yellowstone stream → decoder → ledger: a USDC payment into a vault-like account
//! lands in Postgres once, with the fields the chain reports.

use std::{collections::HashMap, time::Duration};

use futures::StreamExt;
use indexer::{decode, solana::yellowstone};
use ledger::{Batch, Chain, Ledger};
use solana_signer::Signer;
use sqlx::{PgPool, Row};
use yellowstone_grpc_client::GeyserGrpcClient;
use yellowstone_grpc_proto::geyser::{
    subscribe_update::UpdateOneof, CommitmentLevel, SubscribeRequest,
    SubscribeRequestFilterTransactions,
};

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_streamed_usdc_payment_lands_in_the_ledger_once(pool: PgPool) {
    let (node, client, usdc_env) = crate::usdc_chain::start().await;
    let crate::usdc_chain::Usdc {
        agent,
        usdc,
        vault_owner,
        agent_ata,
        vault,
    } = usdc_env;
    let mut geyser = GeyserGrpcClient::build_from_shared(node.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let request = SubscribeRequest {
        transactions: HashMap::from([(
            "vault".into(),
            SubscribeRequestFilterTransactions {
                account_include: vec![vault.to_string()],
                ..Default::default()
            },
        )]),
        commitment: Some(CommitmentLevel::Confirmed as i32),
        ..Default::default()
    };
    let (_sink, mut stream) = geyser.subscribe_with_request(Some(request)).await.unwrap();

    let sig = crate::usdc_chain::pay(&client, &agent, &agent_ata, &usdc, &vault, 1_250_000).await;

    let update = loop {
        let update = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(UpdateOneof::Transaction(tx)) = update.update_oneof {
            break tx;
        }
    };
    let raw = yellowstone::raw_tx(&update, None).expect("a transaction with meta");
    assert_eq!(raw.signature, sig.to_string());
    let decoded = decode::decode(&raw);
    assert!(
        decoded.discrepancies.is_empty(),
        "{:?}",
        decoded.discrepancies
    );

    let ledger = Ledger::from_pool(pool.clone());
    let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
    batch.transfers = decoded.transfers;
    assert_eq!(ledger.write(&batch).await.unwrap().transfers, 1);
    assert_eq!(
        ledger.write(&batch).await.unwrap().transfers,
        0,
        "a re-delivered update adds nothing"
    );

    let row = sqlx::query("SELECT tx, leg, block, kind, mint, source_owner, destination, destination_owner, amount::text AS amount FROM ledger.transfers")
        .fetch_one(&pool)
        .await
        .unwrap();
    let status = client.get_signature_statuses(&[sig]).await.unwrap().value[0]
        .clone()
        .unwrap();
    assert_eq!(row.get::<String, _>("tx"), sig.to_string());
    assert_eq!(row.get::<String, _>("leg"), "0");
    assert_eq!(row.get::<i64, _>("block") as u64, status.slot);
    assert_eq!(row.get::<String, _>("kind"), "transfer_checked");
    assert_eq!(row.get::<String, _>("mint"), usdc.pubkey().to_string());
    assert_eq!(
        row.get::<String, _>("source_owner"),
        agent.pubkey().to_string()
    );
    assert_eq!(row.get::<String, _>("destination"), vault.to_string());
    assert_eq!(
        row.get::<String, _>("destination_owner"),
        vault_owner.to_string()
    );
    assert_eq!(row.get::<String, _>("amount"), "1250000");
}
