//! API keys: made, listed and revoked by the wallet signed in; spent by a plain OpenAI client
//! (the official one, unmodified) within the key's limits; refused at once everywhere once
//! revoked.

use ledger::{Chain, Ledger};
use serde_json::{json, Value};
use solana_signer::Signer;
use sqlx::PgPool;
use x402::{siwx, wire};

use crate::{
    interop::{node, python},
    support::*,
};

/// A Solana sign-in of the demo payer for `path`.
fn sign_in(w: &World, path: &str) -> String {
    let network = gateway::sign_in::chains(&w.app)
        .into_iter()
        .find(|c| c.chain_id.starts_with("solana:"))
        .unwrap()
        .chain_id;
    gateway::sign_in::challenge(&w.app, path).sign_solana(&network, &w.payer)
}

async fn make_key(w: &World, request: Value) -> Value {
    let response = w
        .http
        .post(format!("{}/v1/keys", w.gateway))
        .header(siwx::HEADER, sign_in(w, "/v1/keys"))
        .json(&request)
        .send()
        .await
        .unwrap();
    json_of(response, 201).await
}

async fn with_key(w: &World, gateway: &str, key: &str, body: &Value) -> reqwest::Response {
    w.http
        .post(format!("{gateway}/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn error_of(response: reqwest::Response, status: u16) -> String {
    let body: Value = json_of(response, status).await;
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_key_spends_the_wallets_balance_from_the_official_openai_client(pool: PgPool) {
    let w = world(pool, "ok").await;
    let payer = w.payer.pubkey().to_string();
    let ledger = Ledger::from_pool(w.pool.clone());
    ledger::fixtures::credited(&ledger, &payer, Chain::Solana, "funding", 100_000).await;

    // Keys are the wallet's business: without a sign-in, a 402 with the challenge to sign.
    let unsigned = w
        .http
        .post(format!("{}/v1/keys", w.gateway))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let required: wire::PaymentRequired = json_of(unsigned, 402).await;
    assert!(required.error.unwrap().starts_with("sign_in_required"));
    assert!(required.extensions.unwrap()[siwx::EXTENSION]["info"]["nonce"].is_string());

    // A sign-in answers one route's challenge: one made to read the balance makes no key.
    let elsewhere = w
        .http
        .post(format!("{}/v1/keys", w.gateway))
        .header(siwx::HEADER, sign_in(&w, "/v1/balance"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let refused: wire::PaymentRequired = json_of(elsewhere, 402).await;
    assert!(
        refused
            .error
            .unwrap()
            .starts_with("invalid_siwx_uri_mismatch"),
        "a proof for another route"
    );

    let made = make_key(&w, json!({ "name": "agent", "models": ["beta"] })).await;
    let key = made["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("pw_") && key.len() > 40, "{made}");
    assert_eq!(made["payer"], payer);

    let sdk = node("openai.mjs", &[&format!("{}/v1", w.gateway), &key, "beta"]).await;
    assert_eq!(sdk["content"], "Hello world", "{sdk}");
    assert_eq!(sdk["streamed"], "Hello world", "{sdk}");
    assert_eq!(sdk["charge"], "0.001000");
    assert_eq!(sdk["balance"], "0.099000");
    // The streamed call's receipt, read by the SDK from the chunk before [DONE].
    assert_eq!(sdk["streamedReceipt"]["charged"], "0.001000", "{sdk}");
    assert_eq!(sdk["streamedReceipt"]["balance"], "0.098000", "{sdk}");
    assert_eq!(
        ledger.balance(&payer, Chain::Solana).await.unwrap(),
        ledger::Balance {
            available: 98_000,
            held: 0
        },
        "two calls at their actual cost, nothing left held"
    );
    assert_eq!(
        charges(&w.pool).await.len(),
        1,
        "no chain: only the funding charge"
    );

    // The key's model list, and the balance read with the key.
    let refused = error_of(
        with_key(&w, &w.gateway, &key, &chat("alpha", false)).await,
        403,
    )
    .await;
    assert!(refused.starts_with("model_not_allowed"), "{refused}");
    let balance: Value = w
        .http
        .get(format!("{}/v1/balance", w.gateway))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(balance["available"], "0.098000", "{balance}");

    // Listed without its secret; revoked, it is refused at once on every gateway.
    let listed: Value = w
        .http
        .get(format!("{}/v1/keys", w.gateway))
        .header(siwx::HEADER, sign_in(&w, "/v1/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["keys"][0]["id"], made["id"]);
    assert!(
        !listed.to_string().contains(&key),
        "the secret is shown once"
    );
    let (upstream, _) = mock_upstream().await;
    let (second, _) = serve(&config(&w.net, &upstream, "ok"), &w.pool).await;
    expect_status(with_key(&w, &second, &key, &chat("beta", false)).await, 200).await;
    let revoked = w
        .http
        .delete(format!("{}/v1/keys/{}", w.gateway, made["id"]))
        .header(siwx::HEADER, sign_in(&w, "/v1/keys"))
        .send()
        .await
        .unwrap();
    expect_status(revoked, 200).await;
    for gateway in [&w.gateway, &second] {
        let refused = error_of(with_key(&w, gateway, &key, &chat("beta", false)).await, 401).await;
        assert!(refused.starts_with("revoked_api_key"), "{refused}");
    }
    let base_url = format!("{}/v1", w.gateway);
    let sdk = node("openai.mjs", &[&base_url, &key, "beta"]).await;
    assert_eq!(sdk["status"], 401, "{sdk}");
    assert!(
        sdk["error"].as_str().unwrap().contains("revoked_api_key"),
        "the SDK shows why: {sdk}"
    );
    let sdk = python("openai_client.py", &[&base_url, &key, "beta"]).await;
    assert_eq!(sdk["status"], 401, "{sdk}");
    assert!(
        sdk["error"]
            .as_str()
            .unwrap()
            .starts_with("Error code: 401 - revoked_api_key"),
        "the Python SDK shows why: {sdk}"
    );
    let unknown = error_of(
        with_key(&w, &w.gateway, "pw_nothing", &chat("beta", false)).await,
        401,
    )
    .await;
    assert!(unknown.starts_with("invalid_api_key"), "{unknown}");
    assert_eq!(
        ledger
            .balance(&payer, Chain::Solana)
            .await
            .unwrap()
            .available,
        97_000,
        "refused calls moved nothing"
    );
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_keys_spend_limit_and_the_balance_refuse_with_their_reasons(pool: PgPool) {
    let w = world(pool, "ok").await;
    let payer = w.payer.pubkey().to_string();
    let ledger = Ledger::from_pool(w.pool.clone());
    ledger::fixtures::credited(&ledger, &payer, Chain::Solana, "funding", 5_000).await;
    // Each call holds 2,090 and costs 1,000: the limit of 0.004 per day admits two at once,
    // and after them (2,000 spent) not a third (2,000 + 2,090 > 4,000).
    let key = make_key(&w, json!({ "spend_limit": "0.004", "limit_period": "day" })).await;
    let key = key["key"].as_str().unwrap().to_string();
    for _ in 0..2 {
        expect_status(
            with_key(&w, &w.gateway, &key, &chat("beta", false)).await,
            200,
        )
        .await;
    }
    let limited = error_of(
        with_key(&w, &w.gateway, &key, &chat("beta", false)).await,
        403,
    )
    .await;
    assert!(limited.starts_with("key_limit_exceeded"), "{limited}");
    assert!(limited.contains("0.002000 of its 0.004000"), "{limited}");

    // Another key of the same wallet has its own limit but the same balance: 3,000 left covers
    // one call of 2,090, then the balance refuses (402, OpenAI-shaped for key clients).
    let other = make_key(&w, json!({})).await;
    let other = other["key"].as_str().unwrap().to_string();
    expect_status(
        with_key(&w, &w.gateway, &other, &chat("beta", false)).await,
        200,
    )
    .await;
    let short = error_of(
        with_key(&w, &w.gateway, &other, &chat("beta", false)).await,
        402,
    )
    .await;
    assert!(short.starts_with("balance_insufficient"), "{short}");
    assert_eq!(
        ledger.balance(&payer, Chain::Solana).await.unwrap(),
        ledger::Balance {
            available: 2_000,
            held: 0
        }
    );

    // A key's request never reaches a wallet's own sign-in routes.
    let keys = w
        .http
        .get(format!("{}/v1/keys", w.gateway))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    expect_status(keys, 402).await;
    let bad = w
        .http
        .post(format!("{}/v1/keys", w.gateway))
        .header(siwx::HEADER, sign_in(&w, "/v1/keys"))
        .json(&json!({ "limit_period": "day" }))
        .send()
        .await
        .unwrap();
    let message = error_of(bad, 400).await;
    assert!(
        message.contains("limit_period needs a spend_limit"),
        "{message}"
    );
}
