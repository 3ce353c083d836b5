//! `POST /v1/balance/withdraw`, signed in, with an `Idempotency-Key` header and optionally
//! `{"amount": "1.00"}` (all that is available without it): the balance is debited and the
//! USDC sent back to the wallet from the treasury of its chain. The same key never pays twice:
//! asked again, it answers how that withdrawal stands.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use ledger::{format_usdc, parse_usdc, PayoutStatus, Requested, Withdrawal};
use serde::Deserialize;
use serde_json::json;

use crate::{app::App, paywall::wallet, treasury::Payout, GatewayError};

pub const PATH: &str = "/v1/balance/withdraw";
const IDEMPOTENCY_KEY: &str = "idempotency-key";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {
    /// USDC, e.g. `"1.00"`; all that is available when absent.
    amount: Option<String>,
}

pub async fn withdraw(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Option<Json<WithdrawRequest>>,
) -> Response {
    let payer = match wallet(&app, &headers, PATH).await {
        Ok(payer) => payer,
        Err(response) => return response,
    };
    let handled = async {
        let key = headers
            .get(IDEMPOTENCY_KEY)
            .and_then(|v| v.to_str().ok())
            .filter(|k| (8..=128).contains(&k.len()))
            .ok_or_else(|| {
                GatewayError::BadRequest(
                    "send an Idempotency-Key header (8 to 128 characters, unique per withdrawal): the same key never pays twice".into(),
                )
            })?;
        if !app.treasury.pays_on(payer.chain) {
            return Err(GatewayError::Unavailable(format!(
                "this gateway sends no withdrawals on {}: its treasury key is not configured",
                payer.chain.as_str()
            )));
        }
        let amount = match body.and_then(|Json(b)| b.amount) {
            Some(text) => Some(parse_usdc(&text).ok().filter(|a| *a > 0).ok_or_else(|| {
                GatewayError::BadRequest(format!("amount {text} is not a positive USDC amount"))
            })?),
            None => None,
        };
        let withdrawal = match app
            .ledger
            .request_withdrawal(&payer.address, payer.chain, key, amount)
            .await?
        {
            Requested::New(withdrawal) => withdrawal,
            Requested::Existing(earlier) => return Ok(answer(&earlier, true)),
            Requested::Short { available } => {
                return Err(GatewayError::BadRequest(format!(
                    "insufficient_balance: {} has {} USDC available to withdraw{}",
                    payer.address,
                    format_usdc(available),
                    amount.map_or(String::new(), |a| format!(", not {}", format_usdc(a)))
                )))
            }
        };
        match app.treasury.pay(&app.ledger, &withdrawal).await {
            Payout::Sent(tx) => app.ledger.withdrawal_sent(withdrawal.id, &tx).await?,
            Payout::Failed(error) => {
                tracing::warn!(
                    withdrawal = withdrawal.id,
                    error,
                    "withdrawal failed; credited back"
                );
                app.ledger.withdrawal_failed(withdrawal.id, &error).await?;
            }
            Payout::Pending(_) => {}
        }
        let now = app
            .ledger
            .withdrawal(&payer.address, payer.chain, key)
            .await?
            .ok_or(GatewayError::Internal)?;
        Ok(answer(&now, false))
    };
    handled.await.unwrap_or_else(IntoResponse::into_response)
}

/// How a withdrawal stands: 200 sent, 202 still sending (ask again with the same key), 502
/// failed (and credited back).
fn answer(withdrawal: &Withdrawal, replayed: bool) -> Response {
    let status = match withdrawal.status {
        PayoutStatus::Sent => StatusCode::OK,
        PayoutStatus::Sending => StatusCode::ACCEPTED,
        PayoutStatus::Failed => StatusCode::BAD_GATEWAY,
    };
    let amount = withdrawal
        .amount
        .parse()
        .map(format_usdc)
        .unwrap_or_default();
    (
        status,
        Json(json!({
            "id": withdrawal.id,
            "payer": withdrawal.payer,
            "chain": withdrawal.chain,
            "amount": amount,
            "status": withdrawal.status,
            "transaction": withdrawal.tx,
            "error": withdrawal.error.as_ref().map(|e| format!("{e}; the amount is back in the balance")),
            "replayed": replayed,
        })),
    )
        .into_response()
}
