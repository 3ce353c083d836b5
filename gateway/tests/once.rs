//! Never pay twice: a replayed payment (sequential, concurrent, or sent to a second gateway
//! process) is refused and moves no more money; a retry under the same payment id returns
//! the first answer instead of charging again.

use serde_json::Value;
use solana_pubkey::Pubkey;
use sqlx::PgPool;
use x402::{client, wire};

use crate::support::*;

async fn payer_usdc(w: &World) -> u64 {
    let account: Pubkey = w.net.state.solana.payer_usdc;
    usdc_balance(w, &account).await
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    let error = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (status, error)
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_payment_replayed_in_sequence_is_refused(pool: PgPool) {
    let w = world(pool, "ok").await;
    let body = chat("beta", false);
    let offer = offer(&offers(&w, &body).await, "solana:");
    let header = solana_header(&w, &offer).await;
    let before = payer_usdc(&w).await;
    expect_status(pay(&w, &body, &header).await, 200).await;
    let (status, error) = error_of(pay(&w, &body, &header).await).await;
    assert_eq!(status, 402);
    assert!(error.starts_with("duplicate_settlement"), "{error}");
    assert_eq!(payer_usdc(&w).await, before - 2090, "paid once");
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_payment_sent_concurrently_to_two_gateway_processes_settles_once(pool: PgPool) {
    let w = world(pool.clone(), "ok").await;
    // A second process on the same database, as behind a load balancer.
    let config = config(&w.net, "http://127.0.0.1:9/v1", "ok");
    let (second, _) = serve(&config, &pool).await;
    let body = chat("alpha", false);
    for chain in ["solana:", "eip155:"] {
        let offer = offer(&offers(&w, &body).await, chain);
        let header = if chain == "solana:" {
            solana_header(&w, &offer).await
        } else {
            base_header(&w, &offer).await
        };
        let before = payer_usdc(&w).await;
        let send = |url: String| {
            let (http, body, header) = (w.http.clone(), body.clone(), header.clone());
            async move {
                http.post(format!("{url}/v1/chat/completions"))
                    .header(wire::PAYMENT_SIGNATURE, header)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let (a, b, c) = tokio::join!(
            send(w.gateway.clone()),
            send(second.clone()),
            send(w.gateway.clone())
        );
        let statuses: Vec<u16> = [&a, &b, &c].iter().map(|r| r.status().as_u16()).collect();
        let served: Vec<&u16> = statuses
            .iter()
            .filter(|s| **s < 300 || **s == 502)
            .collect();
        assert_eq!(
            served.len(),
            1,
            "{chain}: exactly one request is served: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| [200, 402, 409, 502].contains(s)),
            "{statuses:?}"
        );
        if chain == "solana:" {
            assert_eq!(
                payer_usdc(&w).await,
                before - offer.amount.parse::<u64>().unwrap(),
                "paid once"
            );
        }
    }
    let settled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ledger.settlements WHERE status = 'settled'")
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(settled, 2, "one settlement per chain");
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_retry_with_the_same_payment_id_returns_the_first_answer(pool: PgPool) {
    let w = world(pool, "ok").await;
    let body = chat("beta", false);
    let offer = offer(&offers(&w, &body).await, "solana:");
    let id = "retry-0123456789abcdef";
    let first_payment = client::with_payment_id(
        wire::decode_header(&solana_header(&w, &offer).await).unwrap(),
        id,
    );
    let before = payer_usdc(&w).await;
    let first = expect_status(
        pay(&w, &body, &wire::encode_header(&first_payment)).await,
        200,
    )
    .await;
    let first_receipt = first.headers()[wire::PAYMENT_RESPONSE].clone();
    let first_answer: Value = first.json().await.unwrap();

    // The client lost the answer and retries with a freshly signed payment, same id.
    let offer = offer_again(&w, &body).await;
    let retry_payment = client::with_payment_id(
        wire::decode_header(&solana_header(&w, &offer).await).unwrap(),
        id,
    );
    let retry = expect_status(
        pay(&w, &body, &wire::encode_header(&retry_payment)).await,
        200,
    )
    .await;
    assert_eq!(retry.headers()["x-paywire-replayed"], "true");
    assert_eq!(retry.headers()[wire::PAYMENT_RESPONSE], first_receipt);
    let retry_answer: Value = retry.json().await.unwrap();
    assert_eq!(retry_answer, first_answer);
    // and the very same header again
    let again = expect_status(
        pay(&w, &body, &wire::encode_header(&first_payment)).await,
        200,
    )
    .await;
    assert_eq!(again.headers()["x-paywire-replayed"], "true");

    assert_eq!(payer_usdc(&w).await, before - 2090, "charged once");
    assert_eq!(charges(&w.pool).await.len(), 1);
    assert_eq!(
        w.calls.lock().unwrap().len(),
        1,
        "the upstream was called once"
    );
}

async fn offer_again(w: &World, body: &Value) -> wire::PaymentRequirements {
    offer(&offers(w, body).await, "solana:")
}
