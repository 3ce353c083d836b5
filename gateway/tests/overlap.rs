//! A paid call's upstream request starts with its settlement: nothing reaches the client
//! before the settlement confirms, and a settlement that fails stops the call and charges
//! nothing.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{body::Bytes, http::HeaderMap, response::IntoResponse, Router};
use serde_json::json;
use solana_signer::Signer;
use sqlx::PgPool;

use crate::support::*;

/// Whether the upstream had been called when each settlement was asked for.
type Seen = Arc<Mutex<Vec<bool>>>;

/// A facilitator in front of `facilitator`: `/settle` first waits (up to 1 s — with the
/// overlap the upstream request starts within milliseconds of the claim; a blockhash outlives
/// that many times over) for `calls` to show the upstream called and
/// notes whether it was; then it settles through `facilitator`,
/// or, with `refuse`, answers that it did not.
async fn settling_facilitator(facilitator: String, calls: Calls, refuse: bool) -> (String, Seen) {
    let seen = Seen::default();
    let noted = seen.clone();
    let http = reqwest::Client::new();
    let proxy = Router::new().fallback(
        move |method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let (facilitator, calls, seen, http) =
                (facilitator.clone(), calls.clone(), noted.clone(), http.clone());
            async move {
                if uri.path().ends_with("/settle") {
                    let asked = Instant::now();
                    while calls.lock().unwrap().is_empty()
                        && asked.elapsed() < Duration::from_secs(1)
                    {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    seen.lock().unwrap().push(!calls.lock().unwrap().is_empty());
                    if refuse {
                        let refused = json!({"success": false, "errorReason": "unexpected_settle_error",
                            "transaction": "", "network": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"});
                        return axum::Json(refused).into_response();
                    }
                }
                let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
                let forwarded = http
                    .request(
                        method,
                        format!("{facilitator}{}", uri.path().trim_start_matches("/facilitator")),
                    )
                    .header("content-type", "application/json")
                    .header(
                        "authorization",
                        headers
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default(),
                    )
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = forwarded.status().as_u16();
                let bytes = forwarded.bytes().await.unwrap();
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    bytes,
                )
                    .into_response()
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/facilitator", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, proxy).await });
    (url, seen)
}

/// A gateway whose upstream is `upstream` and whose facilitator is `facilitator`.
async fn gateway(w: &World, upstream: &str, facilitator: &str, overlap: bool) -> String {
    let mut remote = config(&w.net, upstream, "ok");
    remote.facilitator_url = Some(facilitator.to_string());
    remote.solana.as_mut().unwrap().fee_payer_keypair = None;
    remote.base.as_mut().unwrap().facilitator_private_key = None;
    remote.settle_overlap = overlap;
    serve(&remote, &w.pool).await.0
}

async fn paid_stream(w: &World, gateway: &str) -> reqwest::Response {
    let body = chat("beta", true);
    let requirements = offer(&offers_from(w, gateway, &body).await, "solana:");
    pay_at(w, gateway, &body, &solana_header(w, &requirements).await).await
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn the_upstream_call_starts_with_the_settlement_and_is_read_once_it_confirms(pool: PgPool) {
    let w = world(pool, "ok").await;
    let (upstream, calls) = mock_upstream().await;
    let (facilitator, seen) =
        settling_facilitator(format!("{}/facilitator", w.gateway), calls.clone(), false).await;
    for overlap in [true, false] {
        calls.lock().unwrap().clear();
        let gateway = gateway(&w, &upstream, &facilitator, overlap).await;
        let answer = expect_status(paid_stream(&w, &gateway).await, 200).await;
        let text = answer.text().await.unwrap();
        assert!(
            text.contains("\"choices\"") && text.contains("paywire.receipt"),
            "{text}"
        );
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [true, false],
        "with the overlap the upstream was called while the payment settled; without, only after"
    );
    let charges = charges(&w.pool).await;
    assert!(
        charges.len() == 2 && charges.iter().all(|c| c.status == "completed"),
        "{charges:?}"
    );
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_settlement_that_fails_stops_the_upstream_call_and_charges_nothing(pool: PgPool) {
    let w = world(pool, "ok").await;
    let (upstream, calls) = mock_upstream().await;
    let (facilitator, seen) =
        settling_facilitator(format!("{}/facilitator", w.gateway), calls.clone(), true).await;
    let gateway = gateway(&w, &upstream, &facilitator, true).await;
    let payer_usdc = w.protocol.usdc_account(&w.payer.pubkey());
    let before = usdc_balance(&w, &payer_usdc).await;

    let refused = paid_stream(&w, &gateway).await;
    let status = refused.status().as_u16();
    let text = refused.text().await.unwrap();
    assert_eq!(status, 402, "{text}");
    assert!(
        !text.contains("\"choices\""),
        "no answer without a payment: {text}"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [true],
        "the upstream had been called"
    );
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(usdc_balance(&w, &payer_usdc).await, before, "nothing paid");
    let charges = charges(&w.pool).await;
    assert!(
        charges.len() == 1 && charges[0].status == "failed",
        "{charges:?}"
    );
    let metrics = metrics_at(&w, &gateway).await;
    assert_eq!(counter(&metrics, "paywire_upstream_abandoned_total"), 1);
    assert!(
        counter(&metrics, "paywire_absorbed_usdc_units_total") > 0,
        "its prompt is absorbed"
    );
}
