//! The balance rail: a per-call payment's surplus lands in the payer's balance, a wallet signed
//! in with sign-in-with-x (SIWS on Solana, SIWE on Base) spends it with no chain transaction,
//! holds never exceed it however many calls arrive at once on however many gateways, and a
//! refused sign-in moves nothing.

use chrono::Utc;
use ledger::{Chain, Ledger};
use serde_json::{json, Value};
use solana_signer::Signer;
use sqlx::PgPool;
use x402::{
    siwx::{self, Challenge},
    wire,
};

use crate::support::*;

/// The sign-in challenge and chains of a 402 for `body`.
async fn challenge(w: &World, body: &Value) -> (Challenge, Vec<siwx::SupportedChain>) {
    let response = w
        .http
        .post(format!("{}/v1/chat/completions", w.gateway))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 402);
    let required: wire::PaymentRequired = response.json().await.unwrap();
    let extension = &required.extensions.expect("extensions")[siwx::EXTENSION];
    (
        serde_json::from_value(extension["info"].clone()).expect("a challenge"),
        serde_json::from_value(extension["supportedChains"].clone()).expect("chains"),
    )
}

fn network(chains: &[siwx::SupportedChain], prefix: &str) -> String {
    chains
        .iter()
        .find(|c| c.chain_id.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} chain in {chains:?}"))
        .chain_id
        .clone()
}

/// A Solana sign-in for `body`, answering the challenge of a fresh 402.
async fn solana_sign_in(w: &World, body: &Value) -> String {
    let (challenge, chains) = challenge(w, body).await;
    challenge.sign_solana(&network(&chains, "solana:"), &w.payer)
}

async fn signed_in_at(w: &World, gateway: &str, body: &Value, sign_in: &str) -> reqwest::Response {
    w.http
        .post(format!("{gateway}/v1/chat/completions"))
        .header(siwx::HEADER, sign_in)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn signed_in(w: &World, body: &Value, sign_in: &str) -> reqwest::Response {
    signed_in_at(w, &w.gateway, body, sign_in).await
}

async fn available(w: &World, payer: &str, chain: Chain) -> u64 {
    Ledger::from_pool(w.pool.clone())
        .balance(payer, chain)
        .await
        .unwrap()
        .available
}

fn with_max_tokens(model: &str, stream: bool, max_tokens: u32) -> Value {
    let mut body = chat(model, stream);
    body["max_tokens"] = json!(max_tokens);
    body
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_surplus_is_spent_by_the_next_call_signed_in_with_solana_and_no_transaction(
    pool: PgPool,
) {
    let w = world(pool, "ok").await;
    let payer = w.payer.pubkey().to_string();
    // Paid per call: 2090 for at most 100 tokens, 1000 (the floor) actually: 1090 surplus.
    let body = chat("beta", false);
    let offer = offer(&offers(&w, &body).await, "solana:");
    expect_status(pay(&w, &body, &solana_header(&w, &offer).await).await, 200).await;
    assert_eq!(available(&w, &payer, Chain::Solana).await, 1_090);

    // The balance, read signed in.
    let balance: Value = w
        .http
        .get(format!("{}/v1/balance", w.gateway))
        .header(siwx::HEADER, route_sign_in(&w, "/v1/balance"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(balance["available"], "0.001090", "{balance}");
    assert_eq!(balance["entries"][0]["kind"], "surplus");

    // A call of at most 1000 is served from it: no payment, no chain.
    let small = with_max_tokens("beta", false, 40);
    let payer_usdc = w.net.state.solana.payer_usdc;
    let usdc_before = usdc_balance(&w, &payer_usdc).await;
    let response = expect_status(
        signed_in(&w, &small, &solana_sign_in(&w, &small).await).await,
        200,
    )
    .await;
    let headers = response.headers().clone();
    assert!(
        !headers.contains_key(wire::PAYMENT_RESPONSE),
        "no settlement"
    );
    assert_eq!(headers["x-paywire-charge"], "0.001000");
    assert_eq!(headers["x-paywire-balance"], "0.000090");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "Hello world");
    assert_eq!(answer["paywire_receipt"]["balance"], "0.000090");
    assert_eq!(available(&w, &payer, Chain::Solana).await, 90);
    assert_eq!(usdc_balance(&w, &payer_usdc).await, usdc_before);
    assert_eq!(charges(&w.pool).await.len(), 1, "no charge: a hold");

    // The next one it no longer covers: the usual 402, with both chains and a new challenge.
    let sign_in = solana_sign_in(&w, &small).await;
    let short = expect_status(signed_in(&w, &small, &sign_in).await, 402).await;
    let required: wire::PaymentRequired = short.json().await.unwrap();
    let error = required.error.clone().unwrap();
    assert!(
        error.starts_with("balance_insufficient:") && error.contains("0.000090"),
        "{error}"
    );
    assert_eq!(required.accepts.len(), 2);
    assert!(required.extensions.unwrap()[siwx::EXTENSION]["info"]["nonce"].is_string());
    assert_eq!(available(&w, &payer, Chain::Solana).await, 90);

    let metrics = metrics(&w).await;
    for line in [
        "paywire_held_usdc_units_total 1000",
        "paywire_charged_usdc_units_total 1000",
        "paywire_balance_short_total 1",
    ] {
        assert!(metrics.contains(line), "{line}:\n{metrics}");
    }
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_base_wallet_signs_in_with_siwe_and_streams_from_its_balance(pool: PgPool) {
    let w = world(pool, "ok").await;
    let payer = w.base_payer.address().to_string();
    let body = chat("beta", false);
    let offer = offer(&offers(&w, &body).await, "eip155:");
    expect_status(pay(&w, &body, &base_header(&w, &offer).await).await, 200).await;
    assert_eq!(available(&w, &payer, Chain::Base).await, 1_090);
    assert_eq!(available(&w, &payer, Chain::Solana).await, 0);

    let small = with_max_tokens("beta", true, 40);
    let (challenge, chains) = challenge(&w, &small).await;
    let sign_in = challenge
        .sign_evm(&network(&chains, "eip155:"), &w.base_payer)
        .unwrap();
    let response = expect_status(signed_in(&w, &small, &sign_in).await, 200).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-paywire-held"], "0.001000");
    let text = response.text().await.unwrap();
    let receipt: Value = serde_json::from_str(
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .last()
            .and_then(|e| e.strip_prefix("event: paywire.receipt\ndata: "))
            .unwrap_or_else(|| panic!("the receipt comes last: {text}")),
    )
    .unwrap();
    assert_eq!(receipt["charged"], "0.001000");
    assert_eq!(receipt["balance"], "0.000090");
    assert_eq!(receipt["payer"], payer);
    assert_eq!(available(&w, &payer, Chain::Base).await, 90);
}

/// Twenty calls at once, half on a second gateway sharing the database, against a balance
/// that covers ten of them at their maximum: exactly ten are served, the others answered 402,
/// and the balance ends at what was put in less ten actual costs. The provider takes 1.5 s to
/// answer, so every hold is asked for while the first ten are still held (an answered call
/// gives back what it did not cost, which later calls may spend).
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn concurrent_calls_never_spend_more_than_the_balance_across_gateways(pool: PgPool) {
    let w = world(pool, "slow-start").await;
    let payer = w.payer.pubkey().to_string();
    let ledger = Ledger::from_pool(w.pool.clone());
    ledger::fixtures::credited(&ledger, &payer, Chain::Solana, "funding", 10 * 2_090).await;
    let (upstream, _) = mock_upstream().await;
    let (second, _) = serve(&config(&w.net, &upstream, "slow-start"), &w.pool).await;

    let body = chat("beta", false);
    let network = network(&gateway::sign_in::chains(&w.app), "solana:");
    let calls = (0..20).map(|i| {
        let sign_in = gateway::sign_in::challenge(&w.app, "/v1/chat/completions")
            .sign_solana(&network, &w.payer);
        let gateway = if i % 2 == 0 {
            w.gateway.clone()
        } else {
            second.clone()
        };
        let (http, body) = (w.http.clone(), body.clone());
        tokio::spawn(async move {
            let response = http
                .post(format!("{gateway}/v1/chat/completions"))
                .header(siwx::HEADER, sign_in)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let charged = response
                .headers()
                .get("x-paywire-charge")
                .map(|v| v.to_str().unwrap().to_string());
            (status, charged, response.text().await.unwrap())
        })
    });
    let answers: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let served: Vec<_> = answers.iter().filter(|(s, ..)| *s == 200).collect();
    let short = answers
        .iter()
        .filter(|(s, _, text)| *s == 402 && text.contains("balance_insufficient"))
        .count();
    assert_eq!((served.len(), short), (10, 10), "{answers:?}");
    assert!(served
        .iter()
        .all(|(_, charged, _)| charged.as_deref() == Some("0.001000")));
    assert_eq!(
        ledger.balance(&payer, Chain::Solana).await.unwrap(),
        ledger::Balance {
            available: 10 * 2_090 - 10 * 1_000,
            held: 0
        }
    );
}

/// Forged, replayed, stale, foreign and misdirected sign-ins are refused with their reason and
/// move nothing.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn refused_sign_ins_say_why_and_move_nothing(pool: PgPool) {
    let w = world(pool, "ok").await;
    let payer = w.payer.pubkey().to_string();
    let ledger = Ledger::from_pool(w.pool.clone());
    ledger::fixtures::credited(&ledger, &payer, Chain::Solana, "funding", 100_000).await;
    let body = chat("beta", false);
    let (challenge, chains) = challenge(&w, &body).await;
    let solana = network(&chains, "solana:");

    let thief = solana_keypair::Keypair::new();
    let mut forged = x402::siwx::Proof::decode(&challenge.sign_solana(&solana, &thief)).unwrap();
    forged.address = payer.clone();
    let mut stale = gateway::sign_in::challenge(&w.app, "/v1/chat/completions");
    stale.issued_at = (Utc::now() - chrono::Duration::minutes(10)).to_rfc3339();
    let mut elsewhere = gateway::sign_in::challenge(&w.app, "/v1/chat/completions");
    elsewhere.domain = "evil.example".into();
    let mut unissued = gateway::sign_in::challenge(&w.app, "/v1/chat/completions");
    unissued.nonce = "a1b2c3d4e5f67890a1b2c3d4e5f67890".into();
    let used = challenge.sign_solana(&solana, &w.payer);
    expect_status(signed_in(&w, &body, &used).await, 200).await;
    let left = available(&w, &payer, Chain::Solana).await;

    for (header, code) in [
        (forged.encode(), "invalid_siwx_signature"),
        (used, "invalid_siwx_nonce"),
        (
            stale.sign_solana(&solana, &w.payer),
            "invalid_siwx_issued_at_too_old",
        ),
        (
            elsewhere.sign_solana(&solana, &w.payer),
            "invalid_siwx_domain_mismatch",
        ),
        (
            unissued.sign_solana(&solana, &w.payer),
            "invalid_siwx_nonce",
        ),
        ("bm90IGEgcHJvb2Y=".to_string(), "invalid_siwx_header"),
    ] {
        let response = expect_status(signed_in(&w, &body, &header).await, 402).await;
        let required: wire::PaymentRequired = response.json().await.unwrap();
        let error = required.error.unwrap_or_default();
        assert!(error.starts_with(code), "{code}: {error}");
        assert_eq!(
            required.accepts.len(),
            2,
            "per-call payment is still offered"
        );
    }
    assert_eq!(available(&w, &payer, Chain::Solana).await, left);
    assert_eq!(
        available(&w, &thief.pubkey().to_string(), Chain::Solana).await,
        0
    );
    assert_eq!(
        w.calls.lock().unwrap().len(),
        1,
        "only the good sign-in reached upstream"
    );
}

async fn top_up(w: &World, body: &Value, payment: Option<&str>) -> reqwest::Response {
    let mut request = w
        .http
        .post(format!("{}/v1/balance/top-up", w.gateway))
        .json(body);
    if let Some(payment) = payment {
        request = request.header(wire::PAYMENT_SIGNATURE, payment);
    }
    request.send().await.unwrap()
}

/// A top-up is paid like a call, into the treasury, on either chain; it credits the balance once
/// (the same payment again is refused), and the balance then pays for calls.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_top_up_paid_on_either_chain_credits_the_balance_once(pool: PgPool) {
    let w = world(pool, "ok").await;
    let payer = w.payer.pubkey().to_string();
    let request = json!({ "amount": "0.05" });
    let required: wire::PaymentRequired = json_of(top_up(&w, &request, None).await, 402).await;
    assert!(required.resource.url.ends_with("/v1/balance/top-up"));
    let s = &w.net.state.solana;
    let solana = offer(&required.accepts, "solana:");
    assert_eq!(solana.amount, "50000");
    assert_eq!(
        solana.pay_to,
        s.treasury.to_string(),
        "top-ups go to the treasury"
    );
    let base = offer(&required.accepts, "eip155:");
    assert_eq!(
        base.pay_to,
        w.net.state.base.as_ref().unwrap().treasury.to_string()
    );

    let treasury_before = usdc_balance(&w, &s.treasury_usdc).await;
    let header = solana_header(&w, &solana).await;
    let response = expect_status(top_up(&w, &request, Some(&header)).await, 200).await;
    assert!(response.headers().contains_key(wire::PAYMENT_RESPONSE));
    let topped: Value = response.json().await.unwrap();
    assert_eq!(topped["credited"], "0.050000", "{topped}");
    assert_eq!(topped["available"], "0.050000");
    assert_eq!(
        usdc_balance(&w, &s.treasury_usdc).await,
        treasury_before + 50_000
    );
    // The same payment again tops up nothing.
    expect_status(top_up(&w, &request, Some(&header)).await, 402).await;
    assert_eq!(available(&w, &payer, Chain::Solana).await, 50_000);
    let c = &charges(&w.pool).await[0];
    assert_eq!(
        (c.model.as_str(), c.status.as_str()),
        ("top_up", "completed")
    );

    // On Base, into the Base balance, under a payment id: a retry of it (the answer lost) is
    // answered as the first time and credits nothing more.
    let base_payer = w.base_payer.address().to_string();
    let base = offer(&offers_for_top_up(&w, &request).await, "eip155:");
    let payment = x402::client::base_payment(&base, &w.base_payer)
        .await
        .unwrap();
    let identified = wire::encode_header(&x402::client::with_payment_id(
        payment,
        "top-up-0123456789abcdef",
    ));
    let first: Value = json_of(top_up(&w, &request, Some(&identified)).await, 200).await;
    let retry = expect_status(top_up(&w, &request, Some(&identified)).await, 200).await;
    assert_eq!(retry.headers()["x-paywire-replayed"], "true");
    let replayed: Value = retry.json().await.unwrap();
    assert_eq!(replayed["transaction"], first["transaction"]);
    assert_eq!(available(&w, &base_payer, Chain::Base).await, 50_000);

    // Spent by a signed-in call.
    let body = chat("beta", false);
    expect_status(
        signed_in(&w, &body, &solana_sign_in(&w, &body).await).await,
        200,
    )
    .await;
    assert_eq!(available(&w, &payer, Chain::Solana).await, 49_000);

    // What is not a top-up is refused before anything is offered.
    for bad in [
        json!({ "amount": "0" }),
        json!({ "amount": "ten" }),
        json!({ "amount": "20000" }),
        json!({}),
    ] {
        let response = top_up(&w, &bad, None).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
}

async fn offers_for_top_up(w: &World, request: &Value) -> Vec<wire::PaymentRequirements> {
    let required: wire::PaymentRequired = json_of(top_up(w, request, None).await, 402).await;
    required.accepts
}

async fn withdraw(
    w: &World,
    sign_in: Option<String>,
    key: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = w
        .http
        .post(format!("{}/v1/balance/withdraw", w.gateway))
        .json(&body);
    if let Some(sign_in) = sign_in {
        request = request.header(siwx::HEADER, sign_in);
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.unwrap()
}

fn solana_wallet(w: &World) -> Option<String> {
    Some(route_sign_in(w, "/v1/balance/withdraw"))
}

/// The demo payer's Solana sign-in for the route at `path`.
fn route_sign_in(w: &World, path: &str) -> String {
    let network = network(&gateway::sign_in::chains(&w.app), "solana:");
    gateway::sign_in::challenge(&w.app, path).sign_solana(&network, &w.payer)
}

async fn base_usdc(w: &World, owner: alloy::primitives::Address) -> u64 {
    let b = w.net.state.base.as_ref().unwrap();
    let provider =
        alloy::providers::ProviderBuilder::new().connect_http(b.rpc_url.parse().unwrap());
    localnet::evm::TestUSDC::new(b.usdc, &provider)
        .balanceOf(owner)
        .call()
        .await
        .unwrap()
        .to::<u64>()
}

/// The unspent balance goes back on chain from the treasury, once per idempotency key, never
/// more than is available; a transfer that cannot land is credited back.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_withdrawal_sends_the_balance_back_once_per_key(pool: PgPool) {
    let w = world(pool, "ok").await;
    let payer = w.payer.pubkey().to_string();
    let s = &w.net.state.solana;
    // 0.05 topped up on Solana: into the treasury, onto the balance.
    let request = json!({ "amount": "0.05" });
    let solana = offer(&offers_for_top_up(&w, &request).await, "solana:");
    expect_status(
        top_up(&w, &request, Some(&solana_header(&w, &solana).await)).await,
        200,
    )
    .await;
    let wallet_before = usdc_balance(&w, &s.payer_usdc).await;
    let treasury_before = usdc_balance(&w, &s.treasury_usdc).await;

    // Asked twice under one key: the second answer is the first withdrawal.
    let withdraw_30 = || async {
        let response = withdraw(
            &w,
            solana_wallet(&w),
            Some("withdraw-0001"),
            json!({ "amount": "0.03" }),
        )
        .await;
        json_of::<Value>(response, 200).await
    };
    let sent = withdraw_30().await;
    assert_eq!(
        (sent["status"].as_str(), sent["amount"].as_str()),
        (Some("sent"), Some("0.030000")),
        "{sent}"
    );
    assert!(sent["transaction"].is_string());
    assert_eq!(
        usdc_balance(&w, &s.payer_usdc).await,
        wallet_before + 30_000
    );
    assert_eq!(
        usdc_balance(&w, &s.treasury_usdc).await,
        treasury_before - 30_000
    );
    assert_eq!(available(&w, &payer, Chain::Solana).await, 20_000);

    // The same key again: that withdrawal, not another.
    let again = withdraw_30().await;
    assert_eq!(
        (again["id"].clone(), again["replayed"].clone()),
        (sent["id"].clone(), json!(true))
    );
    assert_eq!(
        usdc_balance(&w, &s.payer_usdc).await,
        wallet_before + 30_000
    );

    // More than is left, no key, no sign-in: refused, nothing moves.
    let over = withdraw(
        &w,
        solana_wallet(&w),
        Some("withdraw-0002"),
        json!({ "amount": "0.03" }),
    )
    .await;
    let message: Value = json_of(over, 400).await;
    assert!(
        message["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("insufficient_balance"),
        "{message}"
    );
    expect_status(withdraw(&w, solana_wallet(&w), None, json!({})).await, 400).await;
    expect_status(
        withdraw(&w, None, Some("withdraw-0003"), json!({})).await,
        402,
    )
    .await;
    assert_eq!(available(&w, &payer, Chain::Solana).await, 20_000);

    // Everything that is left.
    let rest: Value = json_of(
        withdraw(&w, solana_wallet(&w), Some("withdraw-0004"), json!({})).await,
        200,
    )
    .await;
    assert_eq!(rest["amount"], "0.020000");
    assert_eq!(available(&w, &payer, Chain::Solana).await, 0);

    // A balance the treasury does not hold in USDC (credited, never paid in; more than all the
    // treasury's working capital): the transfer is refused on chain, and the amount is back in
    // the balance.
    let ledger = Ledger::from_pool(w.pool.clone());
    let beyond = localnet::TREASURY_FLOAT + 1_000_000;
    ledger::fixtures::credited(&ledger, &payer, Chain::Solana, "credit-only", beyond).await;
    let failed: Value = json_of(
        withdraw(&w, solana_wallet(&w), Some("withdraw-0005"), json!({})).await,
        502,
    )
    .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(available(&w, &payer, Chain::Solana).await, beyond);

    // On Base, from the Base treasury to the Base wallet.
    let base_payer = w.base_payer.address();
    let base = offer(&offers_for_top_up(&w, &request).await, "eip155:");
    expect_status(
        top_up(&w, &request, Some(&base_header(&w, &base).await)).await,
        200,
    )
    .await;
    let before = base_usdc(&w, base_payer).await;
    let chains = gateway::sign_in::chains(&w.app);
    let sign_in = gateway::sign_in::challenge(&w.app, "/v1/balance/withdraw")
        .sign_evm(&network(&chains, "eip155:"), &w.base_payer)
        .unwrap();
    let sent: Value = json_of(
        withdraw(&w, Some(sign_in), Some("base-withdraw-1"), json!({})).await,
        200,
    )
    .await;
    assert_eq!(sent["amount"], "0.050000", "{sent}");
    assert_eq!(base_usdc(&w, base_payer).await, before + 50_000);
    assert_eq!(available(&w, &base_payer.to_string(), Chain::Base).await, 0);
}

/// A gateway that stops between hold and charge leaves its hold open; past its expiry any
/// gateway's reconciler pass gives it back, and says so in its metrics.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_hold_its_gateway_never_closed_is_given_back_by_the_reconciler(pool: PgPool) {
    let w = world(pool, "ok").await;
    let payer = w.payer.pubkey().to_string();
    let ledger = Ledger::from_pool(w.pool.clone());
    ledger::fixtures::credited(&ledger, &payer, Chain::Solana, "funding", 5_000).await;
    // What a gateway killed mid-call leaves behind: a hold, never charged.
    let held = ledger
        .hold(&ledger::NewHold {
            payer: &payer,
            chain: Chain::Solana,
            model: "beta",
            amount: 2_090,
            ttl: std::time::Duration::ZERO,
            api_key: None,
        })
        .await
        .unwrap();
    assert!(matches!(
        held,
        ledger::Held::Held {
            available: 2_910,
            ..
        }
    ));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // This pass, or the gateway's own one running beside it: the hold is given back once.
    gateway::reconcile::reconcile(
        &w.app,
        gateway::reconcile::SETTLING_SECS,
        gateway::reconcile::SETTLED_SECS,
    )
    .await
    .unwrap();
    assert_eq!(
        ledger.balance(&payer, Chain::Solana).await.unwrap(),
        ledger::Balance {
            available: 5_000,
            held: 0
        }
    );
    assert!(metrics(&w).await.contains("paywire_holds_expired_total 1"));
}

/// A withdrawal whose answer was lost (still `sending` long after) is settled from the chain
/// by the reconciler: the one that landed is sent, the one that never did is credited back.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_withdrawal_left_sending_is_settled_from_the_chain(pool: PgPool) {
    let w = world(pool, "ok").await;
    let payer = w.payer.pubkey().to_string();
    let request = json!({ "amount": "0.05" });
    let solana = offer(&offers_for_top_up(&w, &request).await, "solana:");
    expect_status(
        top_up(&w, &request, Some(&solana_header(&w, &solana).await)).await,
        200,
    )
    .await;
    let landed: Value = json_of(
        withdraw(
            &w,
            solana_wallet(&w),
            Some("lost-answer-1"),
            json!({ "amount": "0.01" }),
        )
        .await,
        200,
    )
    .await;
    // As if the gateway had stopped before recording it sent, and another that never left.
    let ledger = Ledger::from_pool(w.pool.clone());
    let ledger::Requested::New(never) = ledger
        .request_withdrawal(&payer, Chain::Solana, "lost-answer-2", Some(10_000))
        .await
        .unwrap()
    else {
        panic!("covered")
    };
    ledger
        .withdrawal_signed(
            never.id,
            &solana_signature::Signature::from([7; 64]).to_string(),
        )
        .await
        .unwrap();
    // And one the chain's RPC no longer knows but the indexer saw land.
    let ledger::Requested::New(seen) = ledger
        .request_withdrawal(&payer, Chain::Solana, "lost-answer-3", Some(5_000))
        .await
        .unwrap()
    else {
        panic!("covered")
    };
    let seen_tx = solana_signature::Signature::from([9; 64]).to_string();
    ledger.withdrawal_signed(seen.id, &seen_tx).await.unwrap();
    let mut batch = ledger::Batch::new(Chain::Solana, ledger::Ingest::Grpc);
    batch.transfers = vec![ledger::fixtures::usdc_leg(&seen_tx, &payer, 5_000)];
    ledger.write(&batch).await.unwrap();
    sqlx::query(
        "UPDATE ledger.withdrawals SET status = 'sending', created_at = now() - interval '10 minutes'",
    )
    .execute(&w.pool)
    .await
    .unwrap();
    assert_eq!(available(&w, &payer, Chain::Solana).await, 25_000);

    // This pass, or the gateway's own one running beside it, settles them once.
    gateway::reconcile::reconcile(
        &w.app,
        gateway::reconcile::SETTLING_SECS,
        gateway::reconcile::SETTLED_SECS,
    )
    .await
    .unwrap();
    let status = |key: &'static str| {
        let ledger = ledger.clone();
        let payer = payer.clone();
        async move {
            ledger
                .withdrawal(&payer, Chain::Solana, key)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let first = status("lost-answer-1").await;
    assert_eq!(first.status, ledger::PayoutStatus::Sent);
    assert_eq!(first.tx.as_deref(), landed["transaction"].as_str());
    assert_eq!(
        status("lost-answer-2").await.status,
        ledger::PayoutStatus::Failed
    );
    assert_eq!(
        status("lost-answer-3").await.status,
        ledger::PayoutStatus::Sent,
        "the indexer saw it land"
    );
    assert_eq!(
        available(&w, &payer, Chain::Solana).await,
        35_000,
        "the one that never landed is back in the balance"
    );
}
