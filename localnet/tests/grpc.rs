//! `yellowstone-grpc-client` against our Geyser service.

use std::{collections::HashMap, time::Duration};

use futures::{SinkExt, StreamExt};
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;
use yellowstone_grpc_client::{GeyserGrpcClient, GeyserStream};
use yellowstone_grpc_proto::geyser::{
    subscribe_update::UpdateOneof, CommitmentLevel, SubscribeRequest, SubscribeRequestFilterSlots,
    SubscribeRequestFilterTransactions, SubscribeRequestPing,
};

use crate::rpc::{funded, node, send};

fn watch(account: &Pubkey, from_slot: Option<u64>) -> SubscribeRequest {
    SubscribeRequest {
        transactions: HashMap::from([(
            "watched".to_string(),
            SubscribeRequestFilterTransactions {
                account_include: vec![account.to_string()],
                failed: Some(false),
                ..Default::default()
            },
        )]),
        slots: HashMap::from([("slots".to_string(), SubscribeRequestFilterSlots::default())]),
        commitment: Some(CommitmentLevel::Processed as i32),
        from_slot,
        ..Default::default()
    }
}

/// Transactions (signature, slot, filter names) from `stream` until confirmed slot `until`
/// has been announced.
async fn transactions_until_slot(
    stream: &mut GeyserStream,
    until: u64,
) -> Vec<(Signature, u64, Vec<String>)> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let update = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("timed out waiting for updates")
            .expect("stream ended")
            .expect("stream error");
        match update.update_oneof {
            Some(UpdateOneof::Transaction(tx)) => {
                let info = tx.transaction.unwrap();
                let signature = Signature::try_from(info.signature.as_slice()).unwrap();
                assert_eq!(info.meta.as_ref().unwrap().fee, 5_000);
                seen.push((signature, tx.slot, update.filters));
            }
            Some(UpdateOneof::Slot(slot)) if slot.slot >= until && slot.status == 1 => return seen,
            _ => {}
        }
    }
}

/// The first update `pick` accepts (others are skipped); fails after 20 s.
async fn next_matching<T>(stream: &mut GeyserStream, pick: impl Fn(UpdateOneof) -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let update = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("timed out waiting for an update")
            .expect("stream ended")
            .expect("stream error");
        if let Some(found) = update.update_oneof.and_then(&pick) {
            return found;
        }
    }
}

async fn next_transaction(
    stream: &mut GeyserStream,
) -> yellowstone_grpc_proto::geyser::SubscribeUpdateTransactionInfo {
    next_matching(stream, |u| match u {
        UpdateOneof::Transaction(tx) => tx.transaction,
        _ => None,
    })
    .await
}

async fn connect(node: &localnet::solana::SolanaNode) -> GeyserGrpcClient {
    GeyserGrpcClient::build_from_shared(node.grpc_url())
        .unwrap()
        .connect()
        .await
        .expect("connect to the Geyser service")
}

async fn transfer(
    client: &solana_client::nonblocking::rpc_client::RpcClient,
    payer: &solana_keypair::Keypair,
    to: &Pubkey,
    lamports: u64,
) -> (Signature, u64) {
    let ix = solana_system_interface::instruction::transfer(&payer.pubkey(), to, lamports);
    let sig = send(client, &[ix], payer, &[]).await;
    let status = client.get_signature_statuses(&[sig]).await.unwrap().value[0]
        .clone()
        .unwrap();
    (sig, status.slot)
}

#[tokio::test(flavor = "multi_thread")]
async fn subscription_delivers_exactly_the_matching_transactions_and_answers_pings() {
    let (node, client) = node().await;
    let payer = funded(&client).await;
    let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
    let mut geyser = connect(&node).await;
    let (mut sink, mut stream) = geyser
        .subscribe_with_request(Some(watch(&a, None)))
        .await
        .unwrap();

    let mut expected = Vec::new();
    for i in 0..3 {
        expected.push(transfer(&client, &payer, &a, 1_000_000 + i).await);
        transfer(&client, &payer, &b, 1_000_000 + i).await;
    }
    let last_slot = expected.last().unwrap().1;
    let seen = transactions_until_slot(&mut stream, last_slot + 1).await;
    let got: Vec<(Signature, u64)> = seen.iter().map(|(s, slot, _)| (*s, *slot)).collect();
    assert_eq!(
        got, expected,
        "exactly the transactions touching A, in order, with their slots"
    );
    assert!(seen
        .iter()
        .all(|(_, _, f)| f == &vec!["watched".to_string()]));

    sink.send(SubscribeRequest {
        ping: Some(SubscribeRequestPing { id: 42 }),
        ..Default::default()
    })
    .await
    .unwrap();
    let pong = next_matching(&mut stream, |u| match u {
        UpdateOneof::Pong(p) => Some(p),
        _ => None,
    })
    .await;
    assert_eq!(pong.id, 42);

    assert_eq!(geyser.ping(7).await.unwrap().count, 7);
    let slot = geyser
        .get_slot(Some(CommitmentLevel::Confirmed))
        .await
        .unwrap()
        .slot;
    assert!(slot >= last_slot);
    assert!(geyser
        .get_version()
        .await
        .unwrap()
        .version
        .contains("paywire-localnet"));
}

#[tokio::test(flavor = "multi_thread")]
async fn resuming_from_a_slot_after_a_disconnect_leaves_no_gap() {
    let (node, client) = node().await;
    let payer = funded(&client).await;
    let a = Pubkey::new_unique();
    let mut geyser = connect(&node).await;
    let (_sink, mut stream) = geyser
        .subscribe_with_request(Some(watch(&a, None)))
        .await
        .unwrap();
    let first = transfer(&client, &payer, &a, 1_000_000).await;
    let seen = transactions_until_slot(&mut stream, first.1).await;
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), vec![first.0]);
    drop(stream);
    drop(_sink);

    // while nobody listens
    let mut missed = Vec::new();
    for i in 0..3 {
        missed.push(transfer(&client, &payer, &a, 2_000_000 + i).await);
    }

    // resume from the last slot we fully saw: that slot again, then everything after it
    let mut geyser = connect(&node).await;
    let (_sink, mut stream) = geyser
        .subscribe_with_request(Some(watch(&a, Some(first.1))))
        .await
        .unwrap();
    let after = transfer(&client, &payer, &a, 3_000_000).await;
    let seen = transactions_until_slot(&mut stream, after.1).await;
    let got: Vec<(Signature, u64)> = seen.iter().map(|(s, slot, _)| (*s, *slot)).collect();
    let mut expected = vec![first];
    expected.extend(missed);
    expected.push(after);
    assert_eq!(
        got, expected,
        "the replay repeats the resume slot and misses nothing after it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transaction_updates_carry_inner_instructions_and_token_balances() {
    use anchor_lang::{InstructionData, ToAccountMetas};
    let (node, client) = node().await;
    let admin = funded(&client).await;
    node.chain
        .set_program_upgrade_authority(&admin.pubkey())
        .await;
    let usdc = crate::rpc::create_usdc(&client, &admin).await;
    let mut geyser = connect(&node).await;
    let program = model_vault::ID;
    let (_sink, mut stream) = geyser
        .subscribe_with_request(Some(watch(&program, None)))
        .await
        .unwrap();

    // initialize creates the config account through a CPI into the system program
    let config = Pubkey::find_program_address(&[model_vault::constants::CONFIG_SEED], &program).0;
    let ix = solana_instruction::Instruction {
        program_id: program,
        accounts: model_vault::accounts::Initialize {
            admin: admin.pubkey(),
            config,
            program_data: model_vault_client::program_data_pda(),
            usdc_mint: usdc,
            usdc_token_program: spl_token_interface::ID,
            system_program: solana_system_interface::program::ID,
        }
        .to_account_metas(None),
        data: model_vault::instruction::Initialize {
            treasury: admin.pubkey(),
            params: model_vault_client::default_params(),
        }
        .data(),
    };
    let sig = send(&client, &[ix], &admin, &[]).await;
    let info = next_transaction(&mut stream).await;
    assert_eq!(info.signature, sig.as_ref().to_vec());
    let meta = info.meta.unwrap();
    let keys: Vec<Vec<u8>> = {
        let config = solana_client::rpc_config::RpcTransactionConfig {
            encoding: Some(solana_transaction_status_client_types::UiTransactionEncoding::Base64),
            commitment: Some(solana_commitment_config::CommitmentConfig::confirmed()),
            max_supported_transaction_version: Some(0),
        };
        let tx = client
            .get_transaction_with_config(&sig, config)
            .await
            .unwrap();
        tx.transaction
            .transaction
            .decode()
            .unwrap()
            .message
            .static_account_keys()
            .iter()
            .map(|k| k.to_bytes().to_vec())
            .collect()
    };
    let system = solana_system_interface::program::ID.to_bytes().to_vec();
    let inner = &meta.inner_instructions;
    assert_eq!(inner.len(), 1, "one top-level instruction made CPIs");
    let cpi = &inner[0].instructions[0];
    assert_eq!(
        keys[cpi.program_id_index as usize], system,
        "the CPI went to the system program"
    );
    assert_eq!(cpi.stack_height, Some(2));

    // a USDC transfer: the update's token balances show both sides
    let mut geyser = connect(&node).await;
    let watcher = Pubkey::new_unique();
    let payer_ata = spl_associated_token_account_interface::address::get_associated_token_address(
        &admin.pubkey(),
        &usdc,
    );
    let dest_ata = spl_associated_token_account_interface::address::get_associated_token_address(
        &watcher, &usdc,
    );
    let (_sink2, mut stream) = geyser
        .subscribe_with_request(Some(watch(&dest_ata, None)))
        .await
        .unwrap();
    let token = spl_token_interface::ID;
    send(&client, &[
        spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(&admin.pubkey(), &admin.pubkey(), &usdc, &token),
        spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(&admin.pubkey(), &watcher, &usdc, &token),
        spl_token_interface::instruction::mint_to(&token, &usdc, &payer_ata, &admin.pubkey(), &[], 5_000_000).unwrap(),
        spl_token_interface::instruction::transfer_checked(&token, &payer_ata, &usdc, &dest_ata, &admin.pubkey(), &[], 2_000_000, 6).unwrap(),
    ], &admin, &[]).await;
    let meta = next_transaction(&mut stream).await.meta.unwrap();
    let post: HashMap<String, String> = meta
        .post_token_balances
        .iter()
        .map(|b| {
            (
                b.owner.clone(),
                b.ui_token_amount.as_ref().unwrap().amount.clone(),
            )
        })
        .collect();
    assert_eq!(
        post.get(&watcher.to_string()).map(String::as_str),
        Some("2000000")
    );
    assert_eq!(
        post.get(&admin.pubkey().to_string()).map(String::as_str),
        Some("3000000")
    );
    assert!(meta
        .pre_token_balances
        .iter()
        .all(|b| b.mint == usdc.to_string()));
}
