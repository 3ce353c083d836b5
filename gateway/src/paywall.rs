//! The paywall's answers on the paid endpoint: 402 with the ways to pay (per call on each
//! chain, or from a balance by signing in), a refused payment (402 or 400 with a failed
//! `PAYMENT-RESPONSE`), and 202 while a payment settles.

use axum::{
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use crate::{
    app::App,
    request::Priced,
    sale::quoted,
    sign_in::{self, signed_in, Payer, SignIn},
    GatewayError,
};
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

/// The response to a sale's route, whichever way it ended.
pub fn answer(app: &App, handled: Result<Response, Failure>) -> Response {
    match handled {
        Ok(response) => response,
        Err(Failure::Gateway(e)) => e.into_response(),
        Err(Failure::Payment(rejection, network)) => {
            app.metrics.payments_rejected.inc();
            refused(app, rejection, network)
        }
    }
}

/// The paid endpoint, the resource sign-ins are for.
pub const CHAT_PATH: &str = "/v1/chat/completions";

fn resource(app: &App, path: &str) -> ResourceInfo {
    ResourceInfo {
        url: format!("{}{path}", app.public_url),
        description: Some(
            match path {
                CHAT_PATH => "OpenAI-compatible chat completion, paid per call",
                _ => "a top-up of the payer's paywire balance",
            }
            .into(),
        ),
        mime_type: Some("application/json".into()),
    }
}

/// The ways to pay for `priced` per call, one per chain, under a fresh quote.
pub async fn offers(app: &App, priced: &Priced) -> Result<Vec<PaymentRequirements>, GatewayError> {
    Ok(quoted(app, Some(&priced.model), priced.amount).await?.1)
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
    // Always a sentence: OpenAI SDKs show it as the exception's text.
    let error = match rejection {
        Some(r) => format!("{}: {}", r.code, r.message),
        None => unpaid(&accepts),
    };
    required(app, CHAT_PATH, status, error, accepts)
}

/// Why an unpaid call gets a 402, and the ways to pay it.
fn unpaid(accepts: &[PaymentRequirements]) -> String {
    let most = accepts
        .iter()
        .filter_map(|a| a.amount.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    format!(
        "payment_required: this call costs at most {} USDC (the surplus over actual usage is \
         credited to the payer); pay it with x402 on {} (see accepts), or sign in with a wallet \
         that has a paywire balance (extensions.sign-in-with-x), or call with an API key",
        ledger::format_usdc(most),
        networks(&accepts)
    )
}

/// The networks `accepts` offers, as a sentence says them.
fn networks(accepts: &[PaymentRequirements]) -> String {
    let networks: Vec<&str> = accepts.iter().map(|a| a.network.as_str()).collect();
    networks.join(" or ")
}

/// The 402 of another paid route than chat (a top-up at `path`).
pub fn payment_required_at(app: &App, path: &str, accepts: Vec<PaymentRequirements>) -> Response {
    let error = format!(
        "payment_required: pay this with x402 on {} (see accepts)",
        networks(&accepts)
    );
    required(app, path, StatusCode::PAYMENT_REQUIRED, error, accepts)
}

/// A 402 for a call the payer's balance cannot serve (`why`: a refused sign-in, a balance
/// short of the price), offering to pay it per call instead.
pub fn unserved_from_balance(
    app: &App,
    why: String,
    accepts: Vec<PaymentRequirements>,
) -> Response {
    required(app, CHAT_PATH, StatusCode::PAYMENT_REQUIRED, why, accepts)
}

/// The wallet signed in on `path`, a route that needs one (keys, the balance, withdrawals), or
/// the answer to give instead: a 402 carrying a challenge for that route, or why the sign-in
/// was refused.
pub async fn wallet(
    app: &App,
    headers: &axum::http::HeaderMap,
    path: &str,
) -> Result<Payer, Response> {
    let refused = |why: String| required(app, path, StatusCode::PAYMENT_REQUIRED, why, Vec::new());
    match signed_in(app, headers, path).await {
        Ok(Some(payer)) => Ok(payer),
        Ok(None) => Err(refused(
            "sign_in_required: sign the sign-in-with-x challenge (extensions) and send it in the SIGN-IN-WITH-X header".into(),
        )),
        Err(SignIn::Refused(code, what)) => Err(refused(format!("{code}: {what}"))),
        Err(SignIn::Failed(e)) => Err(e.into_response()),
    }
}

fn required(
    app: &App,
    path: &str,
    status: StatusCode,
    error: String,
    accepts: Vec<PaymentRequirements>,
) -> Response {
    // A sign-in answers the challenge of one route, and only that route takes it.
    let sign_in = sign_in::challenge(app, path).extension(&sign_in::chains(app));
    let required = PaymentRequired {
        x402_version: wire::X402_VERSION,
        error: Some(error),
        resource: resource(app, path),
        accepts,
        extensions: Some(json!({
            "payment-identifier": { "info": { "required": false }, "schema": { "type": "object", "properties": { "id": { "type": "string", "minLength": 16, "maxLength": 128 } } } },
            x402::siwx::EXTENSION: sign_in,
            "paywire-balance": {
                "info": "a wallet with a paywire balance signs the sign-in-with-x challenge instead of paying; a per-call payment's surplus lands in that balance",
                "balance": format!("{}/v1/balance", app.public_url),
                "topUp": format!("{}/v1/balance/top-up", app.public_url),
            },
        })),
    };
    // The reason's code: the text before its first colon ("blockhash_expired: …").
    let code = required
        .error
        .as_deref()
        .and_then(|e| e.split_once(':'))
        .map_or("payment_required", |(code, _)| code);
    // A 400 is a payment that could not be read, not one that is missing.
    let kind = if status == StatusCode::BAD_REQUEST {
        "invalid_payment"
    } else {
        "payment_required"
    };
    let mut response = (status, Json(required.body(kind, code))).into_response();
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
