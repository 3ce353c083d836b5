//! Upstream faults after settlement: failover, every provider down (the whole charge
//! credited), a stream that dies midway (what was delivered charged, the rest credited).

use serde_json::Value;
use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_failing_provider_cools_down_and_is_tried_last(pool: PgPool) {
    let w = world(pool, "ok").await;
    let body = chat("alpha", false);
    for _ in 0..2 {
        let offer = offer(&offers(&w, &body).await, "solana:");
        let response =
            expect_status(pay(&w, &body, &solana_header(&w, &offer).await).await, 200).await;
        assert_eq!(response.headers()["x-paywire-provider"], "steady");
    }
    assert_eq!(
        *w.calls.lock().unwrap(),
        ["fail-500", "ok", "ok"],
        "the broken provider sat out its cooldown"
    );
    let metrics = metrics(&w).await;
    assert!(
        metrics.contains("paywire_provider_cooldown_seconds{provider=\"cheap-but-broken\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("paywire_payments_settled_total 2"),
        "{metrics}"
    );
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn when_every_provider_fails_after_settlement_the_charge_is_credited(pool: PgPool) {
    let w = world(pool, "fail-429").await;
    let body = chat("beta", false);
    let offer = offer(&offers(&w, &body).await, "solana:");
    let response = expect_status(pay(&w, &body, &solana_header(&w, &offer).await).await, 502).await;
    assert!(
        response.headers().contains_key("payment-response"),
        "the receipt of the settled payment"
    );
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("credited"),
        "{answer}"
    );
    assert_eq!(answer["receipt"]["credit"], "0.002090");
    let c = &charges(&w.pool).await[0];
    assert_eq!(
        (
            c.status.as_str(),
            c.credit.as_str(),
            c.actual_cost.as_deref()
        ),
        ("completed", "2090", Some("0"))
    );
    let reason: String = sqlx::query_scalar("SELECT kind FROM ledger.balance_entries")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!(reason, "upstream_failed");
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_stream_that_dies_midway_still_ends_with_a_receipt(pool: PgPool) {
    let w = world(pool, "dies").await;
    let body = chat("beta", true);
    let offer = offer(&offers(&w, &body).await, "solana:");
    let response = expect_status(pay(&w, &body, &solana_header(&w, &offer).await).await, 200).await;
    let text = response.text().await.unwrap();
    assert!(
        text.contains("Hello") && text.contains(" world"),
        "what was generated reached the client: {text}"
    );
    let receipt = text
        .split("event: paywire.receipt\ndata: ")
        .nth(1)
        .expect("a receipt event");
    let receipt: Value = serde_json::from_str(receipt.trim()).unwrap();
    assert_eq!(receipt["interrupted"], true);
    // 9 prompt tokens counted + 2 delivered tokens, under the floor: the floor is charged
    assert_eq!(receipt["completion_tokens"], 2);
    assert_eq!(receipt["actual_cost"], "0.001000");
    assert_eq!(receipt["credit"], "0.001090");
    assert_eq!(receipt["credit_reason"], "stream_interrupted");
    let c = &charges(&w.pool).await[0];
    assert_eq!(
        (c.status.as_str(), c.credit.as_str()),
        ("completed", "1090")
    );
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_client_that_goes_away_mid_stream_stops_the_upstream_call_and_is_credited(pool: PgPool) {
    let w = world(pool, "slow").await;
    let body = chat("beta", true);
    let offer = offer(&offers(&w, &body).await, "solana:");
    let mut response =
        expect_status(pay(&w, &body, &solana_header(&w, &offer).await).await, 200).await;
    let first = response.chunk().await.unwrap().expect("a first event");
    assert!(String::from_utf8_lossy(&first).contains("Hello"));
    drop(response);
    let started = std::time::Instant::now();
    let reason = loop {
        let reason: Option<String> = sqlx::query_scalar("SELECT kind FROM ledger.balance_entries")
            .fetch_optional(&w.pool)
            .await
            .unwrap();
        if let Some(reason) = reason {
            break reason;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the charge was never completed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(reason, "client_disconnected");
    let c = &charges(&w.pool).await[0];
    assert_eq!(
        (c.status.as_str(), c.credit.as_str()),
        ("completed", "1090"),
        "what was generated is charged, at least the floor"
    );
}
