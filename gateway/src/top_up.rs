//! `POST /v1/balance/top-up` with `{"amount": "5.00"}`: a 402 offering to pay that much into the
//! treasury on either chain; paid — through the same checkout as a call, so a payment (or a
//! payment id) tops up once — the payer's balance is credited and the answer says what it holds.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use ledger::{format_usdc, parse_usdc, Completion, CreditReason};
use serde::Deserialize;
use serde_json::json;

use crate::{
    app::App,
    bill::Bill,
    checkout::checkout,
    paywall::{answer, payment_required_at},
    receipt::Receipt,
    sale::{quoted, Sale},
    GatewayError,
};
use x402::wire;

/// The top-up route, the resource its payments are for.
pub const PATH: &str = "/v1/balance/top-up";
/// Smallest and largest top-up, in USDC base units: a cent (below it the fees dwarf it), and
/// 10,000 USDC (more is a treasury transfer, not a wallet's top-up).
const MIN: u64 = 10_000;
const MAX: u64 = 10_000_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopUpRequest {
    amount: String,
}

pub async fn top_up(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let handled = async {
        let amount = amount(&body.map_err(GatewayError::from)?)?;
        let payment = headers
            .get(wire::PAYMENT_SIGNATURE)
            .or(headers.get(wire::X_PAYMENT));
        match payment {
            Some(header) => checkout(&app, header, Sale::TopUp { amount }).await,
            None => {
                let (_, offers) = quoted(&app, None, amount).await?;
                app.metrics.payment_required.inc();
                Ok(payment_required_at(&app, PATH, offers))
            }
        }
    };
    answer(&app, handled.await)
}

fn amount(body: &Bytes) -> Result<u64, GatewayError> {
    let bad = |what: String| GatewayError::BadRequest(what);
    let request: TopUpRequest = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "the body must be {{\"amount\": \"5.00\"}} (USDC): {e}"
        ))
    })?;
    let amount =
        parse_usdc(&request.amount).map_err(|e| bad(format!("amount {}: {e}", request.amount)))?;
    if !(MIN..=MAX).contains(&amount) {
        return Err(bad(format!(
            "a top-up is between {} and {} USDC",
            format_usdc(MIN),
            format_usdc(MAX)
        )));
    }
    Ok(amount)
}

/// A settled top-up: all of it is credited to the payer's balance, once (the charge completes
/// once); answers what the balance holds now, with the settlement's receipt headers.
pub async fn credit(app: &App, receipt: Receipt) -> Result<Response, GatewayError> {
    let amount: u64 = receipt
        .settlement
        .amount
        .as_deref()
        .and_then(|a| a.parse().ok())
        .ok_or(GatewayError::Internal)?;
    let payer = receipt.settlement.payer.clone().unwrap_or_default();
    let chain = receipt.chain;
    let completion = Completion {
        provider: None,
        prompt_tokens: None,
        completion_tokens: None,
        actual_cost: 0,
        credit: amount,
        credit_reason: CreditReason::TopUp,
    };
    let bill = Bill::Payment(receipt);
    let headers = bill.headers(None, Some((0, amount)), None);
    let mut body = json!({
        "payer": payer,
        "chain": chain.as_str(),
        "credited": format_usdc(amount),
        "transaction": bill.transaction(),
    });
    let stored = bill.stored(200, &body, None, Some((0, amount)));
    bill.finish(&app.ledger, &app.metrics, &completion, &stored)
        .await?;
    let balance = app.ledger.balance(&payer, chain).await?;
    body["available"] = json!(format_usdc(balance.available));
    let mut response = (StatusCode::OK, Json(body)).into_response();
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_str(&value).expect("header-safe"));
    }
    Ok(response)
}
