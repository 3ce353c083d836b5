//! localnet's Yellowstone stream → decoder → ledger: a USDC payment into a vault-like account
//! lands in Postgres once, with the fields the chain reports.

use std::{collections::HashMap, time::Duration};

use futures::StreamExt;
use indexer::{decode, solana::yellowstone};
use ledger::{Batch, Chain, Ledger};
use localnet::solana::{SolanaConfig, SolanaNode};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;
use spl_associated_token_account_interface::{
    address::get_associated_token_address, instruction::create_associated_token_account_idempotent,
};
use sqlx::{PgPool, Row};
use yellowstone_grpc_client::GeyserGrpcClient;
use yellowstone_grpc_proto::geyser::{
    subscribe_update::UpdateOneof, CommitmentLevel, SubscribeRequest,
    SubscribeRequestFilterTransactions,
};

async fn send(
    client: &RpcClient,
    ixs: &[solana_instruction::Instruction],
    payer: &Keypair,
    signers: &[&Keypair],
) -> solana_signature::Signature {
    let mut all = vec![payer];
    all.extend_from_slice(signers);
    let tx = Transaction::new_signed_with_payer(
        ixs,
        Some(&payer.pubkey()),
        &all,
        client.get_latest_blockhash().await.unwrap(),
    );
    client
        .send_and_confirm_transaction(&tx)
        .await
        .expect("send")
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_streamed_usdc_payment_lands_in_the_ledger_once(pool: PgPool) {
    let node = SolanaNode::start(SolanaConfig {
        rpc_addr: "127.0.0.1:0".parse().unwrap(),
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        slot_time: Duration::from_millis(50),
    })
    .await
    .unwrap();
    let client = RpcClient::new_with_commitment(
        node.rpc_url(),
        solana_commitment_config::CommitmentConfig::confirmed(),
    );
    let agent = Keypair::new();
    node.chain
        .airdrop(&agent.pubkey(), 10_000_000_000)
        .await
        .unwrap();

    // USDC, the agent's account and a vault owner's account
    let usdc = Keypair::new();
    let vault_owner = Keypair::new().pubkey();
    let token = spl_token_interface::ID;
    let len = <spl_token_interface::state::Mint as solana_program_pack::Pack>::LEN;
    let rent = client
        .get_minimum_balance_for_rent_exemption(len)
        .await
        .unwrap();
    let agent_ata = get_associated_token_address(&agent.pubkey(), &usdc.pubkey());
    let vault = get_associated_token_address(&vault_owner, &usdc.pubkey());
    send(
        &client,
        &[
            solana_system_interface::instruction::create_account(
                &agent.pubkey(),
                &usdc.pubkey(),
                rent,
                len as u64,
                &token,
            ),
            spl_token_interface::instruction::initialize_mint2(
                &token,
                &usdc.pubkey(),
                &agent.pubkey(),
                None,
                6,
            )
            .unwrap(),
            create_associated_token_account_idempotent(
                &agent.pubkey(),
                &agent.pubkey(),
                &usdc.pubkey(),
                &token,
            ),
            create_associated_token_account_idempotent(
                &agent.pubkey(),
                &vault_owner,
                &usdc.pubkey(),
                &token,
            ),
            spl_token_interface::instruction::mint_to(
                &token,
                &usdc.pubkey(),
                &agent_ata,
                &agent.pubkey(),
                &[],
                50_000_000,
            )
            .unwrap(),
        ],
        &agent,
        &[&usdc],
    )
    .await;

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

    let pay = spl_token_interface::instruction::transfer_checked(
        &token,
        &agent_ata,
        &usdc.pubkey(),
        &vault,
        &agent.pubkey(),
        &[],
        1_250_000,
        6,
    )
    .unwrap();
    let sig = send(&client, &[pay], &agent, &[]).await;

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
    let mut batch = Batch::new(Chain::Solana, "grpc");
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
