//! Bad payments: each refused with a clear 4xx naming what is wrong, and no money moved.

use serde_json::{json, Value};
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;
use x402::{client, wire};

use crate::support::*;

/// Sends `header`, expects `status` with `code` in the error, and checks nothing was paid.
async fn refused(w: &World, body: &Value, header: &str, status: u16, code: &str) {
    let payer_usdc: Pubkey = w.net.state.solana.payer_usdc;
    let before = usdc_balance(w, &payer_usdc).await;
    let response = expect_status(pay(w, body, header).await, status).await;
    // The x402 transport's failed settlement answer rides along with the reason.
    let settlement: wire::SettlementResponse =
        wire::decode_header(response.headers()[wire::PAYMENT_RESPONSE].to_str().unwrap()).unwrap();
    assert!(!settlement.success);
    let reason = settlement.error_reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with(code), "{code}: {settlement:?}");
    // The body's error in OpenAI's shape, its code the reason's.
    let answer: Value = response.json().await.unwrap();
    let error = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(error.starts_with(code), "expected {code}, got {answer}");
    assert!(
        answer["error"]["code"]
            .as_str()
            .is_some_and(|c| c.starts_with(code)),
        "{answer}"
    );
    assert_eq!(
        usdc_balance(w, &payer_usdc).await,
        before,
        "{code}: no USDC moved"
    );
    let settled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ledger.charges WHERE status <> 'failed'")
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(settled, 0, "{code}: no charge");
}

/// `offer`'s payment instructions with `edit` applied, signed by the payer.
async fn tampered(
    w: &World,
    offer: &wire::PaymentRequirements,
    edit: impl FnOnce(&mut Vec<solana_instruction::Instruction>),
) -> String {
    let mut ixs =
        client::solana_instructions(offer, &w.payer.pubkey(), &spl_token_interface::ID, 1).unwrap();
    edit(&mut ixs);
    signed_header(w, offer, &ixs).await
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn malformed_and_mismatched_solana_payments_are_refused(pool: PgPool) {
    let w = world(pool, "ok").await;
    let body = chat("beta", false);
    let offer = offer(&offers(&w, &body).await, "solana:");

    refused(&w, &body, "%%% not base64 %%%", 400, "invalid_payload").await;
    refused(
        &w,
        &body,
        &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "{\"hello\":1}"),
        400,
        "invalid_x402_version",
    )
    .await;
    refused(
        &w,
        &body,
        &wire::encode_header(&json!({"x402Version": 2, "payload": {}})),
        400,
        "invalid_payload",
    )
    .await;

    // What the client claims to accept differs from what was offered.
    type Edit = fn(&mut wire::PaymentRequirements);
    let claims: [(Edit, &str); 4] = [
        (
            |o| o.network = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp".into(),
            "invalid_network",
        ),
        (
            |o| o.pay_to = Pubkey::new_unique().to_string(),
            "invalid_payment_requirements",
        ),
        (|o| o.amount = "1".into(), "invalid_payment_requirements"),
        (
            |o| o.extra.as_mut().unwrap()["memo"] = json!("abc.zzzzzz.1111111111"),
            "invalid_quote",
        ),
    ];
    for (edit, code) in claims {
        let mut claimed = offer.clone();
        edit(&mut claimed);
        refused(&w, &body, &solana_header(&w, &claimed).await, 402, code).await;
    }

    // The transaction disagrees with what it claims to accept.
    type Tamper = fn(&mut Vec<solana_instruction::Instruction>);
    let tampers: [(Tamper, &str); 3] = [
        (
            |ixs| ixs[2].accounts[1].pubkey = Pubkey::new_unique(),
            "invalid_exact_svm_payload_mint_mismatch",
        ),
        (
            |ixs| ixs[2].accounts[2].pubkey = Pubkey::new_unique(),
            "invalid_exact_svm_payload_recipient_mismatch",
        ),
        (
            |ixs| ixs[2].data[1..9].copy_from_slice(&2089u64.to_le_bytes()),
            "invalid_exact_svm_payload_amount_mismatch",
        ),
    ];
    for (tamper, code) in tampers {
        refused(&w, &body, &tampered(&w, &offer, tamper).await, 402, code).await;
    }
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn unsafe_or_stale_solana_transactions_are_refused(pool: PgPool) {
    let w = world(pool, "ok").await;
    let body = chat("beta", false);
    let offer = offer(&offers(&w, &body).await, "solana:");
    let fee_payer: Pubkey = offer.extra_str("feePayer").unwrap().parse().unwrap();

    let payer = w.payer.pubkey();
    let header = tampered(&w, &offer, |ixs| {
        ixs.push(solana_system_interface::instruction::transfer(
            &payer,
            &Pubkey::new_unique(),
            1,
        ))
    })
    .await;
    refused(
        &w,
        &body,
        &header,
        402,
        "invalid_exact_svm_payload_unknown_fourth_instruction",
    )
    .await;
    let header = tampered(&w, &offer, |ixs| ixs.swap(0, 1)).await;
    refused(
        &w,
        &body,
        &header,
        402,
        "invalid_exact_svm_payload_transaction_instructions_compute_limit",
    )
    .await;
    let header = tampered(&w, &offer, |ixs| {
        ixs[1] = solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_price(
            50_001,
        )
    })
    .await;
    refused(
        &w,
        &body,
        &header,
        402,
        "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction_too_high",
    )
    .await;
    // M1: 400k units at the price cap would cost us ~300× a floor payment in fees.
    let header = tampered(&w, &offer, |ixs| {
        ixs[0] = solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(
            400_000,
        )
    })
    .await;
    refused(
        &w,
        &body,
        &header,
        402,
        "invalid_exact_svm_payload_transaction_instructions_compute_limit_instruction",
    )
    .await;
    // A wallet's payment (Phantom: the memo and three Lighthouse assertions) is 7
    // instructions: past the count check, it fails only because localnet has no Lighthouse.
    let header = tampered(&w, &offer, |ixs| {
        for _ in 0..3 {
            ixs.push(solana_instruction::Instruction {
                program_id: Pubkey::from_str_const("L2TExMFKdjpN9kozasaurPirfHy9P8sbXoAN1qA3S95"),
                accounts: vec![],
                data: vec![0],
            });
        }
    })
    .await;
    refused(&w, &body, &header, 402, "transaction_simulation_failed").await;
    // The fee payer as the transfer's source and authority: our key would pay. (The payer
    // still signs, through the memo.)
    let fee_payer_usdc =
        spl_associated_token_account_interface::address::get_associated_token_address(
            &fee_payer,
            &w.protocol.usdc_mint,
        );
    let header = tampered(&w, &offer, |ixs| {
        ixs[2].accounts[0].pubkey = fee_payer_usdc;
        ixs[2].accounts[3].pubkey = fee_payer;
        ixs[3]
            .accounts
            .push(solana_instruction::AccountMeta::new_readonly(payer, true));
    })
    .await;
    refused(
        &w,
        &body,
        &header,
        402,
        "invalid_exact_svm_payload_transaction_fee_payer_transferring_funds",
    )
    .await;

    // A forged signature.
    let header = solana_header(&w, &offer).await;
    let mut payment: wire::PaymentPayload = wire::decode_header(&header).unwrap();
    let engine = base64::engine::general_purpose::STANDARD;
    let mut tx: solana_transaction::versioned::VersionedTransaction = bincode::deserialize(
        &base64::Engine::decode(&engine, payment.payload["transaction"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let mut forged = tx.signatures[1].as_ref().to_vec();
    forged[0] ^= 1;
    tx.signatures[1] = solana_signature::Signature::try_from(forged.as_slice()).unwrap();
    payment.payload["transaction"] = json!(base64::Engine::encode(
        &engine,
        bincode::serialize(&tx).unwrap()
    ));
    refused(
        &w,
        &body,
        &wire::encode_header(&payment),
        402,
        "invalid_exact_svm_payload_signature",
    )
    .await;

    // Signed long enough ago that its blockhash expired (150 slots, as on a cluster).
    let stale = solana_header(&w, &offer).await;
    let payment: wire::PaymentPayload = wire::decode_header(&stale).unwrap();
    let tx: solana_transaction::versioned::VersionedTransaction = bincode::deserialize(
        &base64::Engine::decode(&engine, payment.payload["transaction"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let blockhash = *tx.message.recent_blockhash();
    while w
        .rpc
        .is_blockhash_valid(
            &blockhash,
            solana_commitment_config::CommitmentConfig::processed(),
        )
        .await
        .unwrap()
    {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    refused(
        &w,
        &body,
        &stale,
        402,
        "invalid_exact_svm_payload_blockhash_expired",
    )
    .await;
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn bad_base_authorizations_are_refused(pool: PgPool) {
    let w = world(pool, "ok").await;
    let body = chat("beta", false);
    let offer = offer(&offers(&w, &body).await, "eip155:");

    let mut expiring = offer.clone();
    expiring.max_timeout_seconds = 0;
    let header = base_header(&w, &expiring).await;
    refused(
        &w,
        &body,
        &header,
        402,
        "invalid_exact_evm_payload_authorization_valid_before",
    )
    .await;

    // Signed authorizations altered after signing.
    let alterations = [
        (
            "nonce",
            json!(format!("0x{}", "11".repeat(32))),
            "invalid_exact_evm_payload_signature",
        ),
        (
            "value",
            json!("1"),
            "invalid_exact_evm_payload_authorization_value_mismatch",
        ),
        (
            "to",
            json!(alloy::primitives::Address::repeat_byte(7).to_string()),
            "invalid_exact_evm_payload_recipient_mismatch",
        ),
    ];
    for (field, value, code) in alterations {
        let mut payment: wire::PaymentPayload =
            wire::decode_header(&base_header(&w, &offer).await).unwrap();
        payment.payload["authorization"][field] = value;
        refused(&w, &body, &wire::encode_header(&payment), 402, code).await;
    }
}
