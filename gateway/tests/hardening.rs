//! The security review's findings against the gateway, each as the attack or failure it
//! describes: the facilitator paying strangers' fees, bodies too big to price, answers worth
//! more than their price, payers who make us pay for failed transactions, paid calls the
//! client stops waiting for, and error texts that leak what they should not.

use serde_json::{json, Value};
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;
use x402::{
    client,
    wire::{self, FacilitatorRequest, SettlementResponse},
};

use crate::support::*;

async fn lamports(w: &World, who: &Pubkey) -> u64 {
    w.rpc.get_balance(who).await.unwrap()
}

/// A Solana payment for `body` at `gateway` under payment id `id`: its offer and header.
async fn identified_payment(
    w: &World,
    gateway: &str,
    body: &Value,
    id: &str,
) -> (wire::PaymentRequirements, String) {
    let offer = offer(&offers_from(w, gateway, body).await, "solana:");
    let payment = client::with_payment_id(
        wire::decode_header(&solana_header(w, &offer).await).unwrap(),
        id,
    );
    (offer, wire::encode_header(&payment))
}

/// Sends the same payment again until it is answered (202: not yet); the answer.
async fn retry_until_answered(
    w: &World,
    gateway: &str,
    body: &Value,
    header: &str,
) -> reqwest::Response {
    testkit::eventually("the payment to be answered", async || {
        let retry = pay_at(w, gateway, body, header).await;
        match retry.status().as_u16() {
            202 => None,
            200 => Some(retry),
            other => panic!("retry answered {other}: {}", retry.text().await.unwrap()),
        }
    })
    .await
}

/// H1: a 1-unit self-transfer described by the caller, settled on our fee payer, in a loop,
/// drains it. The API needs the operator's key, and pays only for the operator's payTo.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn the_facilitator_api_pays_fees_only_for_the_operators_own_destinations(pool: PgPool) {
    let w = world(pool, "ok").await;
    let fee_payer: Pubkey = w.net.state.solana.facilitator;
    let mut theirs = offer(&offers(&w, &chat("beta", false)).await, "solana:");
    theirs.pay_to = w.payer.pubkey().to_string();
    theirs.amount = "1".into();
    let blockhash = w.rpc.get_latest_blockhash().await.unwrap();
    let request = FacilitatorRequest {
        x402_version: 2,
        payment_payload: client::solana_exact(&theirs, &w.payer, blockhash).unwrap(),
        payment_requirements: theirs.clone(),
    };
    let settle = |key: Option<&'static str>| {
        let call = w
            .http
            .post(format!("{}/facilitator/settle", w.gateway))
            .json(&request);
        match key {
            Some(key) => call.bearer_auth(key),
            None => call,
        }
        .send()
    };

    let before = lamports(&w, &fee_payer).await;
    assert_eq!(settle(None).await.unwrap().status(), 401, "no key, no API");
    assert_eq!(settle(Some("guess")).await.unwrap().status(), 401);
    for _ in 0..3 {
        let refused = settle(Some(FACILITATOR_KEY)).await.unwrap();
        assert_eq!(refused.status(), 400);
        let refused: SettlementResponse = refused.json().await.unwrap();
        assert!(!refused.success);
        let reason = refused.error_reason.unwrap();
        assert!(
            reason.contains("invalid_payment_requirements") && reason.contains("payTo"),
            "{reason}"
        );
    }
    assert_eq!(lamports(&w, &fee_payer).await, before, "no fee was paid");

    // On Base too: an authorization from the payer to the payer.
    let mut theirs = offer(&offers(&w, &chat("beta", false)).await, "eip155:");
    theirs.pay_to = w.base_payer.address().to_string();
    theirs.amount = "1".into();
    let request = FacilitatorRequest {
        x402_version: 2,
        payment_payload: client::base_payment(&theirs, &w.base_payer).await.unwrap(),
        payment_requirements: theirs,
    };
    let refused: SettlementResponse = w
        .http
        .post(format!("{}/facilitator/settle", w.gateway))
        .bearer_auth(FACILITATOR_KEY)
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!refused.success, "{refused:?}");

    // Without a key configured, the API is not served at all.
    let (upstream, _) = mock_upstream().await;
    let mut keyless = config(&w.net, &upstream, "ok");
    keyless.facilitator_key = None;
    let (gateway, _) = serve(&keyless, &w.pool).await;
    let absent = w
        .http
        .post(format!("{gateway}/facilitator/settle"))
        .bearer_auth(FACILITATOR_KEY)
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(absent.status(), 404);
}

/// H3: the body is bounded before anything reads it, and a long run of one character (the
/// tokenizer's quadratic case) is priced.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn bodies_are_bounded_and_long_runs_are_priced(pool: PgPool) {
    let w = world(pool, "ok").await;
    let quote = |text: String| {
        w.http
            .post(format!("{}/v1/quote", w.gateway))
            .json(&json!({ "model": "beta", "messages": [{ "role": "user", "content": text }] }))
            .send()
    };
    let too_big = quote("a".repeat(600 * 1024)).await.unwrap();
    assert_eq!(too_big.status(), 413);
    let error: Value = too_big.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("bytes"), "{message}");

    let run = expect_status(quote("a".repeat(400 * 1024)).await.unwrap(), 200).await;
    let run: Value = run.json().await.unwrap();
    assert!(run["prompt_tokens"].as_u64().unwrap() > 400, "{run}");
}

/// H4: only what is priced is forwarded, what is forwarded is priced, the rest is refused.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn only_what_is_priced_is_forwarded(pool: PgPool) {
    let w = world(pool, "echo-fields").await;
    let post = |path: &'static str, body: Value| {
        w.http
            .post(format!("{}{path}", w.gateway))
            .json(&body)
            .send()
    };
    let user = json!([{ "role": "user", "content": "hi" }]);
    for (body, names) in [
        (
            json!({ "model": "beta", "messages": user, "n": 128 }),
            "n must be",
        ),
        (
            json!({ "model": "beta", "messages": [{ "role": "user", "content": [{ "type": "image_url", "image_url": { "url": "https://x.test/a.png", "detail": "high" } }] }] }),
            "image_url",
        ),
        (
            json!({ "model": "beta", "messages": user, "web_search_options": {} }),
            "web_search_options",
        ),
        (
            json!({ "model": "beta", "messages": user, "service_tier": "priority" }),
            "service_tier",
        ),
        (
            json!({ "model": "beta", "messages": user, "audio": { "voice": "alloy" } }),
            "audio",
        ),
    ] {
        let refused = expect_status(post("/v1/chat/completions", body).await.unwrap(), 400).await;
        let error: Value = refused.json().await.unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{message}");
    }

    let amount = |quote: Value| quote["amount"].as_str().unwrap().parse::<u64>().unwrap();
    let one = |extra: Value| {
        let mut body = json!({ "model": "beta", "messages": user, "max_tokens": 100 });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        post("/v1/quote", body)
    };
    let plain = amount(one(json!({})).await.unwrap().json().await.unwrap());
    let four = amount(one(json!({ "n": 4 })).await.unwrap().json().await.unwrap());
    let tools = json!([{ "type": "function", "function": { "name": "f", "description": "word ".repeat(1_000) } }]);
    let with_tools = amount(
        one(json!({ "tools": tools }))
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    // beta: 10 USDC per M input, 20 per M output; 100 completion tokens cost 2,000 units.
    assert_eq!(four - plain, 3 * 2_000, "n choices pay n completions");
    assert!(
        with_tools >= plain + 10_000,
        "1,000 tool tokens are priced: {plain} → {with_tools}"
    );

    // A paid call: the provider sees only the allowlisted fields.
    let body = json!({ "model": "beta", "messages": user, "max_tokens": 50, "temperature": 0.2, "max_completion_tokens": 50, "stream_options": { "include_usage": true } });
    let offer = offer(&offers(&w, &body).await, "solana:");
    let answer = expect_status(pay(&w, &body, &solana_header(&w, &offer).await).await, 200).await;
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "max_tokens,messages,model,temperature"
    );
}

/// H4: a provider that streams past the ceiling paid for is cut there.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_stream_past_the_paid_ceiling_is_cut(pool: PgPool) {
    let w = world(pool, "rambles").await;
    let body = json!({ "model": "beta", "messages": [{ "role": "user", "content": "hi" }], "max_tokens": 20, "stream": true });
    let offer = offer(&offers(&w, &body).await, "solana:");
    let response = expect_status(pay(&w, &body, &solana_header(&w, &offer).await).await, 200).await;
    let text = response.text().await.unwrap();
    let hellos = text.matches("\" hello\"").count();
    assert!(
        hellos < 100,
        "the 2,000-word ramble was cut, {hellos} words passed"
    );
    assert!(text.contains("event: paywire.error"), "{text}");
    let receipt = text.split("event: paywire.receipt\ndata: ").nth(1).unwrap();
    let receipt: Value = serde_json::from_str(receipt.trim()).unwrap();
    assert_eq!(receipt["interrupted"], true);
    assert_eq!(receipt["credit"], "0.000000", "what was paid was delivered");
    let metrics = metrics(&w).await;
    assert!(metrics.contains("paywire_streams_cut_total 1"), "{metrics}");
}

/// M2: payments that pass verification and then fail on chain cost us the fee; a payer with
/// several is refused before anything is sent.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_payer_whose_payments_keep_failing_on_chain_is_refused(pool: PgPool) {
    let w = world(pool, "ok").await;
    let payer = w.payer.pubkey().to_string();
    for i in 0..3 {
        sqlx::query("INSERT INTO ledger.settlements (chain, payment, payer, amount, status, error) VALUES ('solana', $1, $2, 1000, 'reverted', 'transaction_failed')")
            .bind(format!("reverted-{i}"))
            .bind(&payer)
            .execute(&w.pool)
            .await
            .unwrap();
    }
    let body = chat("beta", false);
    let offer = offer(&offers(&w, &body).await, "solana:");
    let refused = expect_status(pay(&w, &body, &solana_header(&w, &offer).await).await, 402).await;
    let answer: Value = refused.json().await.unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("payer_refused"),
        "{answer}"
    );
    assert_eq!(answer["error"]["code"], "payer_refused", "{answer}");
}

/// M3: a client that stops waiting for confirmation (here at once) is told to come back; the
/// settlement goes on, and the same payment gets the answer — paid once, answered once.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_payment_the_client_stopped_waiting_for_is_answered_on_retry(pool: PgPool) {
    let w = world(pool.clone(), "ok").await;
    let (upstream, calls) = mock_upstream().await;
    let mut impatient = config(&w.net, &upstream, "ok");
    impatient.solana.as_mut().unwrap().confirm_timeout_secs = 0;
    let (gateway, _) = serve(&impatient, &pool).await;
    let body = chat("beta", true);
    let (offer, header) = identified_payment(&w, &gateway, &body, "impatient-0123456789").await;
    let payer_usdc: Pubkey = w.net.state.solana.payer_usdc;
    let before = usdc_balance(&w, &payer_usdc).await;

    let first = expect_status(pay_at(&w, &gateway, &body, &header).await, 202).await;
    assert!(first.headers().contains_key("retry-after"));
    let retry = retry_until_answered(&w, &gateway, &body, &header).await;
    assert_eq!(retry.headers()["x-paywire-replayed"], "true");
    let answer: Value = retry.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "Hello world");
    assert_eq!(answer["paywire_receipt"]["interrupted"], false);
    let charged = offer.amount.parse::<u64>().unwrap();
    assert_eq!(usdc_balance(&w, &payer_usdc).await, before - charged);
    // The stream started with the settlement had nobody to go to: it was dropped (counted)
    // and the answer asked again, whole, for the retry.
    assert_eq!(*calls.lock().unwrap(), ["ok", "ok"]);
    let metrics = metrics_at(&w, &gateway).await;
    assert_eq!(counter(&metrics, "paywire_upstream_abandoned_total"), 1);
    let charges = charges(&w.pool).await;
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].status, "completed");
}

/// L5: an RPC URL carries its API key; a database error its internals. Neither reaches a
/// client, both reach the log.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn error_answers_never_show_rpc_urls(pool: PgPool) {
    let w = world(pool.clone(), "ok").await;
    let (upstream, _) = mock_upstream().await;
    let mut broken = config(&w.net, &upstream, "ok");
    broken.base.as_mut().unwrap().rpc_url = "http://127.0.0.1:9/?api-key=SECRET123".into();
    let (gateway, _) = serve(&broken, &pool).await;
    let body = chat("beta", false);
    let base = offer(&offers_from(&w, &gateway, &body).await, "eip155:");
    let response = pay_at(&w, &gateway, &body, &base_header(&w, &base).await).await;
    assert_eq!(response.status(), 502);
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("SECRET123") && !text.contains("127.0.0.1:9"),
        "{text}"
    );
    assert!(text.contains("retry"), "{text}");

    // A provider's URL (an account in its path, say) stays out of the paid call's 502 too.
    let mut unreachable = config(&w.net, &upstream, "ok");
    unreachable.models[1].providers[0].base_url = "http://127.0.0.1:9/acct-SECRET456/v1".into();
    let (gateway, _) = serve(&unreachable, &pool).await;
    let solana = offer(&offers_from(&w, &gateway, &body).await, "solana:");
    let failed = pay_at(&w, &gateway, &body, &solana_header(&w, &solana).await).await;
    assert_eq!(failed.status(), 502);
    let text = failed.text().await.unwrap();
    assert!(
        !text.contains("SECRET456") && !text.contains("127.0.0.1:9"),
        "{text}"
    );
    assert!(
        text.contains("could not be reached") && text.contains("credited"),
        "{text}"
    );
}

/// L4: every route but health and metrics is limited per client, before any work, by every
/// gateway process on the ledger together.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn requests_are_limited_per_client_and_carry_a_request_id(pool: PgPool) {
    let w = world(pool.clone(), "ok").await;
    let (upstream, _) = mock_upstream().await;
    let mut limited = config(&w.net, &upstream, "ok");
    limited.client_rate_limit_per_minute = 2;
    let (gateway, _) = serve(&limited, &pool).await;
    let models = || w.http.get(format!("{gateway}/v1/models")).send();
    assert_eq!(models().await.unwrap().status(), 200);
    assert_eq!(models().await.unwrap().status(), 200);
    let third = models().await.unwrap();
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    let quote = w
        .http
        .post(format!("{gateway}/v1/quote"))
        .json(&chat("beta", false))
        .send()
        .await
        .unwrap();
    assert_eq!(
        quote.status(),
        429,
        "the limit is per client, not per route"
    );
    // Another gateway process on the same ledger: the client's allowance is the same one.
    let (other, _) = serve(&limited, &pool).await;
    let elsewhere = w
        .http
        .get(format!("{other}/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        elsewhere.status(),
        429,
        "limits are shared by every process"
    );
    let health = w
        .http
        .get(format!("{gateway}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let id = health.headers()["x-request-id"].to_str().unwrap();
    assert!(id.len() >= 32, "a generated id: {id}");
    let echoed = w
        .http
        .get(format!("{gateway}/healthz"))
        .header("x-request-id", "client-chosen-7")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "client-chosen-7");
}

/// H2: anyone can register and tokenize a catalog slug on chain; its revenue must not follow.
/// Only the creator the catalog names gets the vault payments.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_squatted_slug_is_paid_to_the_treasury_not_the_squatters_vault(pool: PgPool) {
    let w = world(pool, "ok").await;
    let squatter = solana_keypair::Keypair::new();
    let keys = tokenize_as(&w, "beta", &squatter).await;
    let body = chat("beta", false);
    let solana = offer(&offers(&w, &body).await, "solana:");
    assert_eq!(
        solana.pay_to,
        w.net.state.solana.treasury.to_string(),
        "the treasury holds it"
    );
    assert_ne!(solana.pay_to, keys.vault_authority.to_string());
    assert_eq!(solana.extra.as_ref().unwrap()["tokenized"], false);

    let models = get_json(&w, format!("{}/v1/models", w.gateway)).await;
    let beta = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "beta")
        .unwrap();
    assert_eq!(beta["revenue_to"], "treasury");
    assert_eq!(
        beta["unexpected_on_chain_creator"],
        squatter.pubkey().to_string()
    );
    assert_eq!(beta["creator"], creator().pubkey().to_string());

    // The catalog's own creator gets the vault.
    tokenize(&w, "alpha").await;
    let alpha = offer(&offers(&w, &chat("alpha", false)).await, "solana:");
    assert_eq!(
        alpha.pay_to,
        w.protocol.model("alpha").vault_authority.to_string()
    );
}

/// L3: a gateway whose USDC mint or treasury differs from the program's Config would pay
/// vaults that no instruction can empty: it refuses to start.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_gateway_configured_against_another_treasury_refuses_to_start(pool: PgPool) {
    let w = world(pool.clone(), "ok").await;
    let (upstream, _) = mock_upstream().await;
    let mut wrong = config(&w.net, &upstream, "ok");
    wrong.solana.as_mut().unwrap().treasury = Pubkey::new_unique();
    let refused = gateway::App::new(&wrong, ledger::Ledger::from_pool(pool))
        .await
        .err()
        .expect("a mismatched treasury is refused");
    let message = refused.to_string();
    assert!(
        message.contains("treasury") && message.contains("Config"),
        "{message}"
    );
}

/// L8: gateway processes sharing one Base key take turns to send, reading each nonce from
/// the node: concurrent settlements through two of them never collide.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn two_gateways_sharing_a_base_key_settle_concurrently(pool: PgPool) {
    let w = world(pool.clone(), "ok").await;
    let (upstream, _) = mock_upstream().await;
    let (second, _) = serve(&config(&w.net, &upstream, "ok"), &pool).await;
    let body = chat("beta", false);
    // In turn (each process's view of the nonce goes stale after the other one sends)...
    for i in 0..4 {
        let gateway = if i % 2 == 0 { &w.gateway } else { &second };
        let offer = offer(&offers_from(&w, gateway, &body).await, "eip155:");
        let header = base_header(&w, &offer).await;
        expect_status(pay_at(&w, gateway, &body, &header).await, 200).await;
    }
    // ...and all at once.
    let mut payments = Vec::new();
    for i in 0..6 {
        let gateway = if i % 2 == 0 {
            w.gateway.clone()
        } else {
            second.clone()
        };
        let offer = offer(&offers_from(&w, &gateway, &body).await, "eip155:");
        payments.push((gateway, base_header(&w, &offer).await));
    }
    let answers = futures::future::join_all(
        payments
            .iter()
            .map(|(gateway, header)| pay_at(&w, gateway, &body, header)),
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    assert_eq!(statuses, [200; 6]);
    let charges = charges(&w.pool).await;
    assert!(
        charges.iter().all(|c| c.status == "completed"),
        "{charges:?}"
    );
}

/// L8: an authorization someone else submitted first (the payer itself, a mempool watcher)
/// paid the treasury all the same: settlement reports that transaction, not a failure.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn an_authorization_used_by_someone_else_is_paid(pool: PgPool) {
    use x402::evm::{EvmConfig, EvmExact};
    let w = world(pool.clone(), "ok").await;
    let b = w.net.state.base.as_ref().unwrap();
    let config = |key: &str| EvmConfig {
        network: "eip155:84532".into(),
        chain_id: 84532,
        usdc: b.usdc,
        usdc_name: "USD Coin".into(),
        usdc_version: "2".into(),
        facilitator: key.parse().unwrap(),
        rpc_url: b.rpc_url.clone(),
    };
    let ours = EvmExact::new(config(&b.facilitator_private_key)).unwrap();
    let theirs = EvmExact::new(config(&b.payer_private_key)).unwrap();
    let required = offer(&offers(&w, &chat("beta", false)).await, "eip155:");
    let payment = client::base_payment(&required, &w.base_payer)
        .await
        .unwrap();
    let verified = ours.verify(&payment, &required).await.unwrap();

    let ledger = ledger::Ledger::from_pool(pool);
    let front_run = theirs
        .sender(ledger.clone())
        .submit(theirs.settlement(&verified), None)
        .await
        .expect("the payer sends it first");
    // Ours is refused at estimation (the authorization is used): nothing sent, and still paid.
    let ours_sent = ours
        .sender(ledger)
        .submit(ours.settlement(&verified), None)
        .await;
    assert!(
        matches!(ours_sent, Err(x402::sender::NotSent::Refused(_))),
        "{ours_sent:?}"
    );
    let settled = ours.confirm(&verified, None).await.unwrap();
    assert_eq!(settled, front_run.to_string());
}

/// L6: v1 Solana payments through a remote facilitator: the gateway cannot know the
/// transaction id before settling, and each payment still gets a quote id of its own.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn v1_solana_payments_through_a_remote_facilitator_are_each_accepted(pool: PgPool) {
    let w = world(pool.clone(), "ok").await;
    let (upstream, _) = mock_upstream().await;
    let mut remote = config(&w.net, &upstream, "ok");
    remote.facilitator_url = Some(format!("{}/facilitator", w.gateway));
    remote.solana.as_mut().unwrap().fee_payer_keypair = None;
    remote.base.as_mut().unwrap().facilitator_private_key = None;
    let (gateway, _) = serve(&remote, &pool).await;
    let body = chat("beta", false);
    for _ in 0..2 {
        expect_status(pay_v1_solana(&w, &gateway, &body).await, 200).await;
    }
    let charges = charges(&w.pool).await;
    assert_eq!(charges.len(), 2);
    assert_ne!(charges[0].quote_id, charges[1].quote_id);
}

/// M3: a gateway process that stops between claiming a payment and answering it leaves the
/// charge half-way. Once no process can still be working on it, the chain decides: landed and
/// unanswered is credited whole, never landed is failed — once, however many gateways run it.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn charges_left_half_way_are_settled_from_the_chain(pool: PgPool) {
    use gateway::reconcile::{reconcile, Reconciled, SETTLED_SECS, SETTLING_SECS};
    let w = world(pool, "ok").await;
    // A payment that landed (settled through the facilitator API, to the treasury).
    let required = offer(&offers(&w, &chat("beta", false)).await, "solana:");
    let blockhash = w.rpc.get_latest_blockhash().await.unwrap();
    let landed: SettlementResponse = w
        .http
        .post(format!("{}/facilitator/settle", w.gateway))
        .bearer_auth(FACILITATOR_KEY)
        .json(&FacilitatorRequest {
            x402_version: 2,
            payment_payload: client::solana_exact(&required, &w.payer, blockhash).unwrap(),
            payment_requirements: required.clone(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(landed.success, "{landed:?}");
    let never = solana_signature::Signature::from([9u8; 64]).to_string();
    let payer = w.payer.pubkey().to_string();
    for (quote, tx, status, age) in [
        (
            "landed-unanswered",
            landed.transaction.as_str(),
            "settling",
            "2 hours",
        ),
        ("never-landed", never.as_str(), "settling", "2 hours"),
        ("settled-unanswered", "settled-tx", "settled", "2 hours"),
        ("still-in-flight", "in-flight-tx", "settling", "1 second"),
    ] {
        sqlx::query(
            "INSERT INTO ledger.charges (quote_id, model, payer, chain, pay_to, amount, settlement_tx, status, created_at)
             VALUES ($1, 'beta', $2, 'solana', $3, 2090, $4, $5, now() - $6::interval)",
        )
        .bind(quote)
        .bind(&payer)
        .bind(&required.pay_to)
        .bind(tx)
        .bind(status)
        .bind(age)
        .execute(&w.pool)
        .await
        .unwrap();
    }
    let first = reconcile(&w.app, SETTLING_SECS, SETTLED_SECS)
        .await
        .unwrap();
    assert_eq!(
        first,
        Reconciled {
            credited: 2,
            failed: 1,
            left: 0,
            expired_holds: 0,
            withdrawals: 0,
        }
    );
    let again = reconcile(&w.app, SETTLING_SECS, SETTLED_SECS)
        .await
        .unwrap();
    assert_eq!(again, Reconciled::default(), "each charge is settled once");

    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT c.quote_id, c.status, cr.amount::text FROM ledger.charges c
         LEFT JOIN ledger.balance_entries cr ON cr.charge_id = c.id AND cr.kind = 'unserved' ORDER BY c.id",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            (
                "landed-unanswered".into(),
                "completed".into(),
                Some("2090".into())
            ),
            ("never-landed".into(), "failed".into(), None),
            (
                "settled-unanswered".into(),
                "completed".into(),
                Some("2090".into())
            ),
            ("still-in-flight".into(), "settling".into(), None),
        ]
    );
}

/// M3: a client that disconnects while its payment settles does not stop the settlement;
/// the same payment then gets the answer, paid once.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_client_that_disconnects_while_its_payment_settles_gets_the_answer_later(pool: PgPool) {
    let w = world(pool, "ok").await;
    let body = chat("beta", true);
    let (offer, header) =
        identified_payment(&w, &w.gateway, &body, "leaves-early-0123456789").await;
    let payer_usdc: Pubkey = w.net.state.solana.payer_usdc;
    let before = usdc_balance(&w, &payer_usdc).await;
    // Gone a moment after sending: before localnet can confirm anything.
    let gone = w
        .http
        .post(format!("{}/v1/chat/completions", w.gateway))
        .header(wire::PAYMENT_SIGNATURE, &header)
        .timeout(std::time::Duration::from_millis(30))
        .json(&body)
        .send()
        .await;
    assert!(gone.is_err_and(|e| e.is_timeout()));
    // Kept whole if the client left after the claim; streamed afresh if it left before
    // (then nothing had been taken).
    let answer = retry_until_answered(&w, &w.gateway, &body, &header)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        answer.contains("Hello world") || answer.contains("\" world\""),
        "{answer}"
    );
    let charged = offer.amount.parse::<u64>().unwrap();
    assert_eq!(
        usdc_balance(&w, &payer_usdc).await,
        before - charged,
        "paid once"
    );
    // Answered once to the payer; if it left after the claim, the stream started with the
    // settlement had nobody to go to and was dropped (counted), the answer asked whole.
    let calls = w.calls.lock().unwrap().len() as u64;
    let abandoned = counter(&metrics(&w).await, "paywire_upstream_abandoned_total");
    assert_eq!(
        calls,
        1 + abandoned,
        "{calls} upstream calls, {abandoned} dropped"
    );
}

/// M3 (review): the client's wait covers settlement, not the provider's first byte: a call
/// settled in time is answered to the client that waits, however slow the provider, never
/// streamed to nobody after a 202.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_slow_provider_after_a_quick_settlement_answers_the_waiting_client(pool: PgPool) {
    let w = world(pool.clone(), "ok").await;
    let (upstream, _) = mock_upstream().await;
    let mut patient = config(&w.net, &upstream, "slow-start");
    patient.solana.as_mut().unwrap().confirm_timeout_secs = 1;
    let (gateway, _) = serve(&patient, &pool).await;
    let body = chat("beta", true);
    let (_, header) = identified_payment(&w, &gateway, &body, "slow-start-0123456789").await;
    let answer = expect_status(pay_at(&w, &gateway, &body, &header).await, 200).await;
    let text = answer.text().await.unwrap();
    assert!(
        text.contains("\" world\"") && text.contains("paywire.receipt"),
        "{text}"
    );
}
