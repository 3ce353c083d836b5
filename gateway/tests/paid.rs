//! Paid calls end to end on both chains, streamed and not.

use serde_json::Value;
use solana_pubkey::Pubkey;
use sqlx::PgPool;
use x402::wire;

use crate::support::*;

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn an_unpaid_call_gets_a_402_offering_both_chains_at_the_quoted_price(pool: PgPool) {
    let w = world(pool, "ok").await;
    let body = chat("beta", false);
    let offers = offers(&w, &body).await;
    let s = &w.net.state.solana;
    let solana = offer(&offers, "solana:");
    let base = offer(&offers, "eip155:");
    assert_eq!(
        solana.pay_to,
        s.treasury.to_string(),
        "an untokenized model's USDC goes to the treasury"
    );
    assert_eq!(solana.asset, s.usdc_mint.to_string());
    assert_eq!(
        solana.extra_str("feePayer"),
        Some(s.facilitator.to_string().as_str())
    );
    assert!(solana
        .extra_str("memo")
        .is_some_and(|m| m.split('.').count() == 3));
    assert_eq!(
        base.pay_to,
        w.net.state.base.as_ref().unwrap().treasury.to_string()
    );
    assert_eq!(base.extra_str("name"), Some("USD Coin"));
    // "Say hello": 9 prompt tokens × 10 + 100 max tokens × 20 per million, in base units
    assert_eq!(solana.amount, "2090");
    assert_eq!(base.amount, solana.amount);

    let quote: Value = w
        .http
        .post(format!("{}/v1/quote", w.gateway))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(quote["amount"], "2090", "the free quote is the 402's price");
    assert_eq!(quote["prompt_tokens"], 9);
    assert!(
        w.calls.lock().unwrap().is_empty(),
        "no upstream call before payment"
    );

    // The body says why in OpenAI's shape (SDKs show it); the header keeps x402's string.
    let unpaid = w
        .http
        .post(format!("{}/v1/chat/completions", w.gateway))
        .json(&body)
        .send()
        .await
        .unwrap();
    let header: wire::PaymentRequired =
        wire::decode_header(unpaid.headers()[wire::PAYMENT_REQUIRED].to_str().unwrap()).unwrap();
    let answer: Value = unpaid.json().await.unwrap();
    let message = answer["error"]["message"].as_str().unwrap();
    assert_eq!(Some(message), header.error.as_deref());
    assert!(
        message.starts_with(
            "payment_required: this call costs at most 0.002090 USDC (the surplus over actual usage is credited"
        ),
        "{message}"
    );
    assert_eq!(answer["error"]["code"], "payment_required");
}

/// `/v1/models` in OpenAI's shape, and the truth about the networks behind its ids: localnet's
/// Solana carries devnet's id with a genesis hash of its own, its anvil Base Sepolia's chain id.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn the_models_list_says_which_chains_the_network_ids_stand_for(pool: PgPool) {
    let w = world(pool, "ok").await;
    let models = get_json(&w, format!("{}/v1/models", w.gateway)).await;
    assert_eq!(models["object"], "list");
    for model in models["data"].as_array().unwrap() {
        assert_eq!(model["object"], "model", "{model}");
        assert!(
            model["id"].is_string() && model["owned_by"].is_string(),
            "{model}"
        );
        assert!(
            model["created"].as_i64().is_some_and(|t| t > 1_700_000_000),
            "{model}"
        );
    }
    let networks = models["networks"].as_array().unwrap();
    let solana = &networks[0];
    assert_eq!(solana["network"], "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1");
    let genesis = w.rpc.get_genesis_hash().await.unwrap().to_string();
    assert_eq!(solana["node"], genesis.as_str());
    assert_eq!(solana["is_the_named_chain"], false, "{solana}");
    assert!(
        solana["note"]
            .as_str()
            .unwrap()
            .starts_with("not Solana devnet: a chain of its own"),
        "{solana}"
    );
    let base = &networks[1];
    assert_eq!(base["network"], "eip155:84532");
    assert!(
        base["node"]
            .as_str()
            .unwrap()
            .starts_with("eip155:84532 (anvil"),
        "{base}"
    );
    assert_eq!(base["is_the_named_chain"], false, "{base}");
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_paid_solana_call_to_a_tokenized_model_pays_its_vault_and_fails_over(pool: PgPool) {
    let w = world(pool, "ok").await;
    let keys = tokenize(&w, "alpha").await;
    let body = chat("alpha", false);
    let offer = offer(&offers(&w, &body).await, "solana:");
    assert_eq!(
        offer.pay_to,
        keys.vault_authority.to_string(),
        "a tokenized model's USDC goes to its vault"
    );
    let before = usdc_balance(&w, &keys.vault).await;

    let response = expect_status(pay(&w, &body, &solana_header(&w, &offer).await).await, 200).await;
    let headers = response.headers().clone();
    assert_eq!(
        headers["x-paywire-provider"], "steady",
        "the cheaper provider failed; the next answered"
    );
    let settlement: wire::SettlementResponse =
        wire::decode_header(headers[wire::PAYMENT_RESPONSE].to_str().unwrap()).unwrap();
    assert!(settlement.success);
    assert_eq!(
        settlement.payer.as_deref(),
        Some(w.net.state.solana.payer.to_string().as_str())
    );
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "Hello world");
    assert_eq!(answer["model"], "alpha");
    assert_eq!(*w.calls.lock().unwrap(), ["fail-500", "ok"]);

    assert_eq!(
        usdc_balance(&w, &keys.vault).await,
        before + 2090,
        "the charge landed in the vault"
    );
    let charges = charges(&w.pool).await;
    assert_eq!(charges.len(), 1);
    let c = &charges[0];
    assert_eq!(
        (c.status.as_str(), c.amount.as_str(), c.pay_to.as_str()),
        (
            "completed",
            "2090",
            keys.vault_authority.to_string().as_str()
        )
    );
    assert_eq!(
        c.settlement_tx.as_deref(),
        Some(settlement.transaction.as_str())
    );
    assert_eq!(c.provider.as_deref(), Some("steady"));
    // 12 prompt × 10 + 2 completion × 20 = 160 units, under the 1000-unit floor
    assert_eq!(c.actual_cost.as_deref(), Some("1000"));
    assert_eq!(c.credit, "1090");
    assert_eq!(headers["x-paywire-credit"], "0.001090");
    let credited: String =
        sqlx::query_scalar("SELECT sum(amount)::text FROM ledger.balance_entries WHERE payer = $1")
            .bind(&c.payer)
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(credited, "1090");
    let signature: solana_signature::Signature = settlement.transaction.parse().unwrap();
    assert_eq!(
        w.rpc.get_signature_status(&signature).await.unwrap(),
        Some(Ok(())),
        "the settlement is on chain"
    );
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_streamed_solana_call_passes_events_through_and_ends_with_the_receipt(pool: PgPool) {
    let w = world(pool, "ok").await;
    let body = chat("beta", true);
    let offer = offer(&offers(&w, &body).await, "solana:");
    let treasury: Pubkey = w.net.state.solana.treasury_usdc;
    let before = usdc_balance(&w, &treasury).await;
    let response = expect_status(pay(&w, &body, &solana_header(&w, &offer).await).await, 200).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().contains_key(wire::PAYMENT_RESPONSE));
    let text = response.text().await.unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 7, "{text}");
    let data = |i: usize| -> Value {
        serde_json::from_str(events[i].strip_prefix("data: ").expect("a data event")).unwrap()
    };
    // The upstream's chunks pass through as they are, in OpenAI's shape.
    let first = data(0);
    assert_eq!(first["choices"][0]["delta"]["content"], "Hello");
    assert!(
        first["id"].is_string() && first["created"].is_i64(),
        "{first}"
    );
    assert_eq!(data(1)["choices"][0]["delta"]["content"], " world");
    assert_eq!(data(2)["choices"][0]["finish_reason"], "stop");
    assert_eq!(data(3)["usage"]["total_tokens"], 14);
    // Before [DONE], where OpenAI SDKs still read: a chunk with no choices carrying the
    // receipt as an extra field, with the stream's id and time (strict clients want them).
    let chunk = data(4);
    assert_eq!(chunk["object"], "chat.completion.chunk");
    assert_eq!(chunk["choices"], serde_json::json!([]));
    assert_eq!(
        (&chunk["id"], &chunk["created"]),
        (&first["id"], &first["created"])
    );
    assert_eq!(events[5], "data: [DONE]");
    let receipt: Value = serde_json::from_str(
        events[6]
            .strip_prefix("event: paywire.receipt\ndata: ")
            .expect("the receipt comes last"),
    )
    .unwrap();
    assert_eq!(chunk["paywire_receipt"], receipt, "the same receipt twice");
    assert_eq!(receipt["charged"], "0.002090");
    assert_eq!(receipt["actual_cost"], "0.001000");
    assert_eq!(receipt["credit"], "0.001090");
    assert_eq!(receipt["interrupted"], false);
    assert_eq!(
        usdc_balance(&w, &treasury).await,
        before + 2090,
        "an untokenized model's charge lands in the treasury"
    );
    let c = &charges(&w.pool).await[0];
    assert_eq!(
        (c.status.as_str(), c.credit.as_str()),
        ("completed", "1090")
    );
    assert_eq!(receipt["transaction"].as_str(), c.settlement_tx.as_deref());
    let metrics = metrics(&w).await;
    assert!(
        metrics.contains("paywire_credited_usdc_units_total 1090"),
        "a streamed call's credit is counted like a JSON call's:\n{metrics}"
    );
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_paid_base_call_settles_an_eip3009_authorization_to_the_treasury(pool: PgPool) {
    let w = world(pool, "ok").await;
    let body = chat("beta", false);
    let offer = offer(&offers(&w, &body).await, "eip155:");
    let response = expect_status(pay(&w, &body, &base_header(&w, &offer).await).await, 200).await;
    let settlement: wire::SettlementResponse =
        wire::decode_header(response.headers()[wire::PAYMENT_RESPONSE].to_str().unwrap()).unwrap();
    assert_eq!(settlement.network, "eip155:84532");
    let c = &charges(&w.pool).await[0];
    assert_eq!(
        c.settlement_tx.as_deref(),
        Some(settlement.transaction.as_str())
    );
    assert_eq!(c.status, "completed");
    assert_eq!(c.payer, w.base_payer.address().to_string());
    assert_eq!(
        c.pay_to,
        w.net.state.base.as_ref().unwrap().treasury.to_string()
    );
    let tx: alloy::primitives::B256 = c.settlement_tx.as_deref().unwrap().parse().unwrap();
    use alloy::providers::Provider;
    let provider = alloy::providers::ProviderBuilder::new()
        .connect_http(w.net.state.base.as_ref().unwrap().rpc_url.parse().unwrap());
    let receipt = provider
        .get_transaction_receipt(tx)
        .await
        .unwrap()
        .expect("mined");
    assert!(receipt.status());
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn an_x402_v1_payment_is_accepted_and_answered_in_v1_headers(pool: PgPool) {
    let w = world(pool, "ok").await;
    let body = chat("beta", false);
    let offer = offer(&offers(&w, &body).await, "eip155:");
    let v2 = x402::client::base_payment(&offer, &w.base_payer)
        .await
        .unwrap();
    let response = pay_v1(&w, &w.gateway, &body, "base-sepolia", &v2.payload).await;
    let response = expect_status(response, 200).await;
    let settlement: wire::SettlementResponse = wire::decode_header(
        response.headers()[wire::X_PAYMENT_RESPONSE]
            .to_str()
            .unwrap(),
    )
    .unwrap();
    assert!(settlement.success);
    assert_eq!(charges(&w.pool).await[0].status, "completed");
}

/// v1 clients bind nothing to a quote: they add a random nonce memo of their own.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn an_x402_v1_solana_payment_with_its_own_nonce_memo_is_accepted(pool: PgPool) {
    let w = world(pool, "ok").await;
    let body = chat("beta", false);
    for _ in 0..2 {
        expect_status(pay_v1_solana(&w, &w.gateway, &body).await, 200).await;
    }
    let charges = charges(&w.pool).await;
    assert_eq!(charges.len(), 2, "each v1 payment is its own charge");
    assert_ne!(charges[0].quote_id, charges[1].quote_id);
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_payer_over_its_rate_limit_is_refused_before_paying(pool: PgPool) {
    let w = world(pool.clone(), "ok").await;
    let (upstream, _) = mock_upstream().await;
    let mut limited = config(&w.net, &upstream, "ok");
    limited.rate_limit_per_minute = 1;
    let (gateway, _) = serve(&limited, &pool).await;
    let body = chat("beta", false);
    let payer_usdc: Pubkey = w.net.state.solana.payer_usdc;
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let offer = offer(&offers(&w, &body).await, "solana:");
        let header = solana_header(&w, &offer).await;
        let before = usdc_balance(&w, &payer_usdc).await;
        let response = w
            .http
            .post(format!("{gateway}/v1/chat/completions"))
            .header(wire::PAYMENT_SIGNATURE, header)
            .json(&body)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            assert_eq!(usdc_balance(&w, &payer_usdc).await, before, "nothing paid");
        }
    }
    assert_eq!(statuses, [200, 429]);
}
