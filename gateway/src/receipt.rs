//! What a paid call's client is told about its payment: the receipt (headers and JSON), and
//! the answer to a payment seen before.

use axum::{
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use ledger::{format_usdc, Chain, ChargeStatus, Completion};
use serde_json::{json, Value};

use crate::paywall::{still_settling, Failure};
use x402::{
    wire::{self, SettlementResponse},
    Reason, Rejection,
};

/// The settlement of a paid call, as reported to the client.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub charge_id: i64,
    pub quote: String,
    pub chain: Chain,
    pub settlement: SettlementResponse,
    pub v1: bool,
    /// `Server-Timing` of the payment: verification and settlement, in milliseconds.
    pub timing: String,
}

impl Receipt {
    /// `PAYMENT-RESPONSE` (or v1's `X-PAYMENT-RESPONSE`) and the paywire headers.
    pub fn headers(&self, amounts: Option<(u64, u64)>) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            (
                if self.v1 {
                    wire::X_PAYMENT_RESPONSE
                } else {
                    wire::PAYMENT_RESPONSE
                },
                wire::encode_header(&self.settlement),
            ),
            ("x-paywire-charge-id", self.charge_id.to_string()),
            ("server-timing", self.timing.clone()),
            (
                "x-paywire-charge",
                format_usdc(
                    self.settlement
                        .amount
                        .as_deref()
                        .and_then(|a| a.parse().ok())
                        .unwrap_or(0),
                ),
            ),
        ];
        if let Some((actual, credit)) = amounts {
            headers.push(("x-paywire-actual-cost", format_usdc(actual)));
            headers.push(("x-paywire-credit", format_usdc(credit)));
        }
        headers
    }

    pub fn json(
        &self,
        model: &str,
        provider: Option<&str>,
        completion: &Completion,
        interrupted: bool,
    ) -> Value {
        json!({
            "charge_id": self.charge_id,
            "quote": self.quote,
            "model": model,
            "provider": provider,
            "chain": self.chain.as_str(),
            "network": self.settlement.network,
            "payer": self.settlement.payer,
            "transaction": self.settlement.transaction,
            "charged": format_usdc(self.settlement.amount.as_deref().and_then(|a| a.parse().ok()).unwrap_or(0)),
            "actual_cost": format_usdc(completion.actual_cost),
            "credit": format_usdc(completion.credit),
            "credit_reason": (completion.credit > 0).then_some(completion.credit_reason),
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "interrupted": interrupted,
        })
    }
}

/// Answers a payment (or quote) seen before: a retry by the same payer under the same payment
/// id as the first time, any other reuse with a refusal.
pub fn seen_before(
    earlier: ledger::ChargeRecord,
    payer: &str,
    payment_id: Option<&str>,
    network: Option<String>,
) -> Result<Response, Failure> {
    if payment_id.is_some() && earlier.payment_id.as_deref() == payment_id && earlier.payer == payer
    {
        return replay(earlier);
    }
    Err(Failure::Payment(
        Rejection::new(
            Reason::DuplicateSettlement,
            "this quote or payment has already been used; request a new 402 and pay again",
        ),
        network,
    ))
}

/// Answers a payment seen before with what was answered the first time.
pub fn replay(earlier: ledger::ChargeRecord) -> Result<Response, Failure> {
    match (earlier.status, earlier.response) {
        (ChargeStatus::Completed, Some(stored)) => {
            let status = stored.get("status").and_then(Value::as_u64).and_then(|s| StatusCode::from_u16(s as u16).ok()).unwrap_or(StatusCode::OK);
            let mut response = (status, Json(stored.get("body").cloned().unwrap_or(Value::Null))).into_response();
            for (name, value) in stored.get("headers").and_then(Value::as_object).into_iter().flatten() {
                if let (Ok(name), Some(Ok(value))) = (axum::http::HeaderName::from_bytes(name.as_bytes()), value.as_str().map(HeaderValue::from_str)) {
                    response.headers_mut().insert(name, value);
                }
            }
            response.headers_mut().insert("x-paywire-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
        (ChargeStatus::Completed, None) => Ok((
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": { "message": format!("charge {} was completed without an answer to keep; its credit is in the ledger", earlier.id), "code": 502 } })),
        )
            .into_response()),
        (ChargeStatus::Failed, _) => Err(Failure::refused(Rejection::new(
            Reason::DuplicateSettlement,
            "this payment did not go through and cannot land any more; request a new 402 and pay again",
        ))),
        _ => Ok(still_settling(&earlier.quote_id, 1)),
    }
}
