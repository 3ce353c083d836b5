//! `solana_client`'s RpcClient against our JSON-RPC, plus raw HTTP for malformed input.

use std::time::Duration;

use localnet::solana::{SolanaConfig, SolanaNode};
use serde_json::{json, Value};
use solana_account_decoder::{UiAccountData, UiAccountEncoding};
use solana_client::{
    nonblocking::rpc_client::RpcClient,
    rpc_client::GetConfirmedSignaturesForAddress2Config,
    rpc_config::{RpcAccountInfoConfig, RpcTransactionConfig},
    rpc_request::TokenAccountsFilter,
};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_status_client_types::{
    option_serializer::OptionSerializer, EncodedTransaction, UiMessage, UiTransactionEncoding,
};
use spl_associated_token_account_interface::{
    address::get_associated_token_address, instruction::create_associated_token_account_idempotent,
};

const TOKEN: Pubkey = spl_token_interface::ID;

pub async fn node() -> (SolanaNode, RpcClient) {
    localnet::quiet_runtime_logs();
    let node = SolanaNode::start(SolanaConfig {
        rpc_addr: "127.0.0.1:0".parse().unwrap(),
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        slot_time: Duration::from_millis(50),
        program: Default::default(),
    })
    .await
    .expect("start local solana");
    let client = RpcClient::new_with_commitment(node.rpc_url(), CommitmentConfig::confirmed());
    (node, client)
}

pub async fn funded(client: &RpcClient) -> Keypair {
    let k = Keypair::new();
    let sig = client
        .request_airdrop(&k.pubkey(), 10_000_000_000)
        .await
        .expect("airdrop");
    wait_confirmed(client, &sig).await;
    k
}

async fn wait_confirmed(client: &RpcClient, sig: &solana_signature::Signature) {
    for _ in 0..200 {
        if client.confirm_transaction(sig).await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{sig} not confirmed");
}

pub async fn send(
    client: &RpcClient,
    ixs: &[solana_instruction::Instruction],
    payer: &Keypair,
    signers: &[&Keypair],
) -> solana_signature::Signature {
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let mut all: Vec<&Keypair> = vec![payer];
    all.extend_from_slice(signers);
    let tx = Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), &all, blockhash);
    client
        .send_and_confirm_transaction(&tx)
        .await
        .expect("send and confirm")
}

/// A 6-decimal SPL Token mint whose authority is `authority`.
pub async fn create_usdc(client: &RpcClient, authority: &Keypair) -> Pubkey {
    let mint = Keypair::new();
    let len = <spl_token_interface::state::Mint as solana_program_pack::Pack>::LEN;
    let rent = client
        .get_minimum_balance_for_rent_exemption(len)
        .await
        .unwrap();
    let ixs = [
        solana_system_interface::instruction::create_account(
            &authority.pubkey(),
            &mint.pubkey(),
            rent,
            len as u64,
            &TOKEN,
        ),
        spl_token_interface::instruction::initialize_mint2(
            &TOKEN,
            &mint.pubkey(),
            &authority.pubkey(),
            None,
            6,
        )
        .unwrap(),
    ];
    send(client, &ixs, authority, &[&mint]).await;
    mint.pubkey()
}

#[tokio::test(flavor = "multi_thread")]
async fn usdc_transfer_round_trip_through_rpc_client() {
    let (_node, client) = node().await;
    assert_eq!(client.get_health().await.unwrap(), ());
    let alice = funded(&client).await;
    assert_eq!(
        client.get_balance(&alice.pubkey()).await.unwrap(),
        10_000_000_000
    );
    let bob = Keypair::new();
    let usdc = create_usdc(&client, &alice).await;
    let alice_ata = get_associated_token_address(&alice.pubkey(), &usdc);
    let bob_ata = get_associated_token_address(&bob.pubkey(), &usdc);
    send(
        &client,
        &[
            create_associated_token_account_idempotent(
                &alice.pubkey(),
                &alice.pubkey(),
                &usdc,
                &TOKEN,
            ),
            create_associated_token_account_idempotent(
                &alice.pubkey(),
                &bob.pubkey(),
                &usdc,
                &TOKEN,
            ),
            spl_token_interface::instruction::mint_to(
                &TOKEN,
                &usdc,
                &alice_ata,
                &alice.pubkey(),
                &[],
                10_000_000,
            )
            .unwrap(),
        ],
        &alice,
        &[],
    )
    .await;

    let transfer = spl_token_interface::instruction::transfer_checked(
        &TOKEN,
        &alice_ata,
        &usdc,
        &bob_ata,
        &alice.pubkey(),
        &[],
        1_500_000,
        6,
    )
    .unwrap();
    let sig = send(&client, &[transfer], &alice, &[]).await;

    let balance = client.get_token_account_balance(&bob_ata).await.unwrap();
    assert_eq!(balance.amount, "1500000");
    assert_eq!(balance.ui_amount_string, "1.5");
    assert_eq!(
        client
            .get_token_account_balance(&alice_ata)
            .await
            .unwrap()
            .amount,
        "8500000"
    );

    // the transaction comes back with the token balances an indexer needs
    let tx = client
        .get_transaction_with_config(
            &sig,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::Base64),
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .unwrap();
    let meta = tx.transaction.meta.unwrap();
    assert!(meta.err.is_none());
    assert_eq!(meta.fee, 5_000);
    let decoded = tx.transaction.transaction.decode().unwrap();
    assert_eq!(decoded.signatures[0], sig);
    let keys = decoded.message.static_account_keys();
    let (OptionSerializer::Some(pre), OptionSerializer::Some(post)) =
        (meta.pre_token_balances, meta.post_token_balances)
    else {
        panic!("token balances missing");
    };
    let amount_of =
        |list: &Vec<solana_transaction_status_client_types::UiTransactionTokenBalance>,
         account: &Pubkey| {
            list.iter()
                .find(|b| keys[b.account_index as usize] == *account)
                .map(|b| b.ui_token_amount.amount.clone())
        };
    assert_eq!(amount_of(&pre, &bob_ata).as_deref(), Some("0"));
    assert_eq!(amount_of(&post, &bob_ata).as_deref(), Some("1500000"));
    assert_eq!(amount_of(&post, &alice_ata).as_deref(), Some("8500000"));
    assert!(post.iter().all(|b| b.mint == usdc.to_string()));
    assert!(tx.block_time.is_some());

    // what wallets and SDKs read: token accounts by owner and delegate, parsed as nodes parse
    let carol = Keypair::new();
    let approve = spl_token_interface::instruction::approve(
        &TOKEN,
        &bob_ata,
        &carol.pubkey(),
        &bob.pubkey(),
        &[],
        700_000,
    )
    .unwrap();
    send(&client, &[approve], &alice, &[&bob]).await;
    let by_mint = client
        .get_token_accounts_by_owner(&bob.pubkey(), TokenAccountsFilter::Mint(usdc))
        .await
        .unwrap();
    let by_program = client
        .get_token_accounts_by_owner(&bob.pubkey(), TokenAccountsFilter::ProgramId(TOKEN))
        .await
        .unwrap();
    // RpcClient 3.1's get_token_accounts_by_delegate sends getTokenAccountsByOwner: by hand.
    let by_delegate: solana_rpc_client_api::response::Response<
        Vec<solana_client::rpc_response::RpcKeyedAccount>,
    > = client
        .send(
            solana_client::rpc_request::RpcRequest::GetTokenAccountsByDelegate,
            json!([carol.pubkey().to_string(), {"mint": usdc.to_string()}, {"encoding": "jsonParsed"}]),
        )
        .await
        .unwrap();
    let by_delegate = by_delegate.value;
    for (how, listed) in [
        ("by mint", &by_mint),
        ("by program", &by_program),
        ("by delegate", &by_delegate),
    ] {
        assert_eq!(listed.len(), 1, "{how}: {listed:?}");
        assert_eq!(listed[0].pubkey, bob_ata.to_string());
        let UiAccountData::Json(parsed) = &listed[0].account.data else {
            panic!("jsonParsed asked, {:?} answered", listed[0].account.data);
        };
        assert_eq!(parsed.program, "spl-token");
        let info = &parsed.parsed["info"];
        assert_eq!(info["tokenAmount"]["amount"], "1500000");
        assert_eq!(info["tokenAmount"]["uiAmountString"], "1.5");
        assert_eq!(info["delegate"], carol.pubkey().to_string());
        assert_eq!(info["delegatedAmount"]["amount"], "700000");
    }
    assert!(client
        .get_token_accounts_by_owner(&carol.pubkey(), TokenAccountsFilter::Mint(usdc))
        .await
        .unwrap()
        .is_empty());
    let err = client
        .get_token_accounts_by_owner(
            &bob.pubkey(),
            TokenAccountsFilter::Mint(Pubkey::new_unique()),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("could not find mint"), "{err}");
    let mint = client
        .get_ui_account_with_config(
            &usdc,
            RpcAccountInfoConfig {
                encoding: Some(UiAccountEncoding::JsonParsed),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .value
        .unwrap();
    let UiAccountData::Json(parsed) = mint.data else {
        panic!("the mint was not parsed: {:?}", mint.data);
    };
    assert_eq!(parsed.parsed["type"], "mint");
    assert_eq!(parsed.parsed["info"]["decimals"], 6);
    assert_eq!(parsed.parsed["info"]["supply"], "10000000");

    let before = client.get_block_height().await.unwrap();
    let epoch = client.get_epoch_info().await.unwrap();
    let after = client.get_block_height().await.unwrap();
    assert!((before..=after).contains(&epoch.block_height), "{epoch:?}");
    assert!(epoch.slot_index < epoch.slots_in_epoch);
    assert!(
        epoch.transaction_count.unwrap() >= 5,
        "airdrop, mint, accounts, transfer, approve"
    );

    // transactions in `json`, and `jsonParsed` refused rather than answered in base64
    let as_json = client
        .get_transaction_with_config(
            &sig,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::Json),
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .unwrap();
    let EncodedTransaction::Json(ui) = as_json.transaction.transaction else {
        panic!("json asked, another encoding answered");
    };
    assert_eq!(ui.signatures, vec![sig.to_string()]);
    let UiMessage::Raw(message) = ui.message else {
        panic!("json is the raw message");
    };
    assert_eq!(message.account_keys[0], alice.pubkey().to_string());
    assert_eq!(message.instructions.len(), 1);
    let err = client
        .get_transaction_with_config(
            &sig,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::JsonParsed),
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unsupported encoding"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_for_address_page_newest_first() {
    let (_node, client) = node().await;
    let payer = funded(&client).await;
    let target = Pubkey::new_unique();
    let mut sent = Vec::new();
    for i in 0..5u64 {
        let ix =
            solana_system_interface::instruction::transfer(&payer.pubkey(), &target, 1_000_000 + i);
        sent.push(send(&client, &[ix], &payer, &[]).await);
    }
    let first_page = client
        .get_signatures_for_address_with_config(
            &target,
            GetConfirmedSignaturesForAddress2Config {
                limit: Some(2),
                commitment: Some(CommitmentConfig::confirmed()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let page: Vec<String> = first_page.iter().map(|r| r.signature.clone()).collect();
    assert_eq!(page, vec![sent[4].to_string(), sent[3].to_string()]);
    let rest = client
        .get_signatures_for_address_with_config(
            &target,
            GetConfirmedSignaturesForAddress2Config {
                before: Some(sent[3]),
                until: Some(sent[0]),
                commitment: Some(CommitmentConfig::confirmed()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let rest: Vec<String> = rest.iter().map(|r| r.signature.clone()).collect();
    assert_eq!(rest, vec![sent[2].to_string(), sent[1].to_string()]);
    // and each slot's block lists what was in it
    let slot = first_page[0].slot;
    let block = client
        .get_block_with_config(
            slot,
            solana_client::rpc_config::RpcBlockConfig {
                encoding: Some(UiTransactionEncoding::Base64),
                transaction_details: Some(
                    solana_transaction_status_client_types::TransactionDetails::Signatures,
                ),
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: Some(0),
                rewards: Some(false),
            },
        )
        .await
        .unwrap();
    assert!(block.signatures.unwrap().contains(&sent[4].to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_vault_instruction_over_rpc_changes_program_state() {
    use anchor_lang::{InstructionData, ToAccountMetas};
    let (node, client) = node().await;
    let admin = funded(&client).await;
    node.chain
        .set_program_upgrade_authority(&admin.pubkey())
        .await;
    let usdc = create_usdc(&client, &admin).await;
    let config =
        Pubkey::find_program_address(&[model_vault::constants::CONFIG_SEED], &model_vault::ID).0;
    assert!(client
        .get_account_with_commitment(&config, CommitmentConfig::confirmed())
        .await
        .unwrap()
        .value
        .is_none());
    let params = model_vault_client::default_params();
    let ix = solana_instruction::Instruction {
        program_id: model_vault::ID,
        accounts: model_vault::accounts::Initialize {
            admin: admin.pubkey(),
            config,
            program_data: model_vault_client::program_data_pda(),
            usdc_mint: usdc,
            usdc_token_program: TOKEN,
            system_program: solana_system_interface::program::ID,
        }
        .to_account_metas(None),
        data: model_vault::instruction::Initialize {
            treasury: admin.pubkey(),
            params,
        }
        .data(),
    };
    send(&client, &[ix], &admin, &[]).await;
    let account = client.get_account(&config).await.unwrap();
    assert_eq!(account.owner, model_vault::ID);
    let state: model_vault::Config =
        anchor_lang::AccountDeserialize::try_deserialize(&mut account.data.as_slice()).unwrap();
    assert_eq!(state.admin, admin.pubkey());
    assert_eq!(state.usdc_mint, usdc);

    // The program's accounts are listed as a node lists them, filters applied.
    use anchor_lang::Discriminator;
    use solana_client::{
        rpc_config::{RpcAccountInfoConfig, RpcProgramAccountsConfig},
        rpc_filter::{Memcmp, RpcFilterType},
    };
    let listed = |filters| {
        client.get_program_ui_accounts_with_config(
            &model_vault::ID,
            RpcProgramAccountsConfig {
                filters: Some(filters),
                account_config: RpcAccountInfoConfig {
                    encoding: Some(solana_account_decoder_client_types::UiAccountEncoding::Base64),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
    };
    let configs = listed(vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
        0,
        model_vault::Config::DISCRIMINATOR.to_vec(),
    ))])
    .await
    .unwrap();
    assert_eq!(configs.len(), 1, "{configs:?}");
    assert_eq!(configs[0].0, config);
    assert_eq!(configs[0].1.data.decode().unwrap(), account.data);
    let models = listed(vec![RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
        0,
        model_vault::Model::DISCRIMINATOR,
    ))])
    .await
    .unwrap();
    assert!(models.is_empty(), "no model registered: {models:?}");
    let sized = listed(vec![RpcFilterType::DataSize(account.data.len() as u64 + 1)])
        .await
        .unwrap();
    assert!(sized.is_empty(), "{sized:?}");
}

pub async fn raw(url: &str, body: &str) -> Value {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_the_standard_errors() {
    let (node, client) = node().await;
    let url = node.rpc_url();
    let r = raw(&url, "{not json").await;
    assert_eq!(r["error"]["code"], -32700);
    let r = raw(&url, r#"{"jsonrpc":"2.0","id":1,"method":"getFoo"}"#).await;
    assert_eq!(r["error"]["code"], -32601);
    assert_eq!(r["id"], 1);
    let r = raw(&url, r#"{"id":1,"method":"getSlot"}"#).await;
    assert_eq!(r["error"]["code"], -32600);
    let r = raw(&url, &json!({"jsonrpc":"2.0","id":2,"method":"sendTransaction","params":["!!!", {"encoding":"base64"}]}).to_string()).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = raw(
        &url,
        &json!({"jsonrpc":"2.0","id":3,"method":"getBalance","params":["not-a-key"]}).to_string(),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602);
    // a batch answers each request in order
    let r = raw(&url, r#"[{"jsonrpc":"2.0","id":1,"method":"getHealth"},{"jsonrpc":"2.0","id":2,"method":"nope"}]"#).await;
    assert_eq!(r[0]["result"], "ok");
    assert_eq!(r[1]["error"]["code"], -32601);

    // an expired (never issued) blockhash is refused at preflight, and nothing lands
    let payer = funded(&client).await;
    let before = client.get_balance(&payer.pubkey()).await.unwrap();
    let ix = solana_system_interface::instruction::transfer(
        &payer.pubkey(),
        &Pubkey::new_unique(),
        1_000,
    );
    let tx = Transaction::new_signed_with_payer(
        &[ix],
        Some(&payer.pubkey()),
        &[&payer],
        solana_hash::Hash::new_unique(),
    );
    let err = client.send_transaction(&tx).await.unwrap_err();
    assert!(err.to_string().contains("Blockhash not found"), "{err}");
    assert_eq!(client.get_balance(&payer.pubkey()).await.unwrap(), before);

    // a transaction with a forged signature is refused before it runs
    let mut tx = Transaction::new_signed_with_payer(
        &[solana_system_interface::instruction::transfer(
            &payer.pubkey(),
            &Pubkey::new_unique(),
            1_000,
        )],
        Some(&payer.pubkey()),
        &[&payer],
        client.get_latest_blockhash().await.unwrap(),
    );
    tx.signatures[0] = solana_signature::Signature::from([7u8; 64]);
    let err = client.send_transaction(&tx).await.unwrap_err();
    assert!(err.to_string().contains("signature verification"), "{err}");
}
