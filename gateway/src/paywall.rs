//! The paywall's answers on the paid endpoint: 402 with the ways to pay, a refused payment
//! (402 or 400 with a failed `PAYMENT-RESPONSE`), and 202 while a payment settles.

use axum::{
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use crate::{app::App, GatewayError};
use x402::{
    wire::{self, PaymentRequired, PaymentRequirements, ResourceInfo, SettlementResponse},
    Rejection,
};

/// Why a paid call was not answered.
pub enum Failure {
    Gateway(GatewayError),
    /// A refused payment: answered with a 402 (or 400) naming the reason, and a failed
    /// `PAYMENT-RESPONSE` for the payment's network, when known.
    Payment(Rejection, Option<String>),
}

impl Failure {
    pub fn refused(rejection: Rejection) -> Self {
        Failure::Payment(rejection, None)
    }
}

impl From<GatewayError> for Failure {
    fn from(e: GatewayError) -> Self {
        Failure::Gateway(e)
    }
}

fn resource(app: &App) -> ResourceInfo {
    ResourceInfo {
        url: format!("{}/v1/chat/completions", app.public_url),
        description: Some("OpenAI-compatible chat completion, paid per call".into()),
        mime_type: Some("application/json".into()),
    }
}

/// A 402 (or, for an unreadable payment, a 400) with `PAYMENT-REQUIRED` and the same JSON.
pub fn payment_required(
    app: &App,
    rejection: Option<Rejection>,
    accepts: Vec<PaymentRequirements>,
) -> Response {
    let status = rejection
        .as_ref()
        .map_or(StatusCode::PAYMENT_REQUIRED, |r| r.status);
    let required = PaymentRequired {
        x402_version: wire::X402_VERSION,
        error: rejection.map(|r| format!("{}: {}", r.code, r.message)),
        resource: resource(app),
        accepts,
        extensions: Some(json!({
            "payment-identifier": { "info": { "required": false }, "schema": { "type": "object", "properties": { "id": { "type": "string", "minLength": 16, "maxLength": 128 } } } }
        })),
    };
    let mut response = (status, Json(&required)).into_response();
    response.headers_mut().insert(
        wire::PAYMENT_REQUIRED,
        HeaderValue::from_str(&wire::encode_header(&required)).expect("base64 is a valid header"),
    );
    response
}

/// A refused payment: the 402 (or 400) naming why, with `PAYMENT-RESPONSE` saying it was not
/// settled, as the x402 HTTP transport asks.
pub fn refused(app: &App, rejection: Rejection, network: Option<String>) -> Response {
    let settlement = SettlementResponse {
        success: false,
        error_reason: Some(rejection.code.to_string()),
        payer: None,
        transaction: String::new(),
        network: network.unwrap_or_default(),
        amount: None,
    };
    let mut response = payment_required(app, Some(rejection), Vec::new());
    response.headers_mut().insert(
        wire::PAYMENT_RESPONSE,
        HeaderValue::from_str(&wire::encode_header(&settlement)).expect("base64 is a valid header"),
    );
    response
}

/// 202: the payment was sent and may still land; the same payment header (with its payment
/// id) gets the answer once it has.
pub fn still_settling(quote: &str, retry_after: u64) -> Response {
    let mut response = (
        StatusCode::ACCEPTED,
        Json(json!({ "error": { "message": format!("the call paid under quote {quote} is not answered yet (its payment may still be settling); nothing is lost: retry with the same payment header and payment id to get the answer"), "code": 202 } })),
    )
        .into_response();
    response
        .headers_mut()
        .insert("retry-after", retry_after.max(1).into());
    response
}
