//! `POST /v1/chat/completions`: price the request, answer 402 with the ways to pay, and for
//! a paid retry verify → claim → settle → call the cheapest healthy upstream → record the
//! charge with its actual cost and credit → answer with the receipt.

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use ledger::{Chain, Claim, Completion, NewCharge};
use serde_json::{json, Value};

use crate::{
    app::{quote_of, App},
    catalog::{format_usdc, Model},
    metrics::Metrics,
    tokens,
    x402::{
        wire::{
            self, PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo,
            SettlementResponse,
        },
        Rejection,
    },
    GatewayError,
};

/// A request priced.
pub struct Priced<'a> {
    pub model: &'a Model,
    pub body: Value,
    pub prompt_tokens: u64,
    pub max_tokens: u32,
    pub amount: u64,
    pub stream: bool,
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Prices a chat request: prompt tokens × input price + token ceiling × output price.
pub fn price<'a>(app: &'a App, body: &[u8]) -> Result<Priced<'a>, GatewayError> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| GatewayError::BadRequest(format!("the body is not JSON: {e}")))?;
    let slug = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| GatewayError::BadRequest("\"model\" is required".into()))?;
    let model = app
        .catalog
        .get(slug)
        .ok_or_else(|| GatewayError::UnknownModel(slug.to_string()))?;
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| GatewayError::BadRequest("\"messages\" must be a non-empty array".into()))?;
    let requested = body.get("max_completion_tokens").or(body.get("max_tokens"));
    let requested = match requested {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            GatewayError::BadRequest("max_tokens must be a positive integer".into())
        })?),
    };
    let prompt_tokens = tokens::prompt_tokens(messages);
    let max_tokens = model.max_tokens_for(requested);
    Ok(Priced {
        amount: model.quote(prompt_tokens, max_tokens),
        stream: body.get("stream").and_then(Value::as_bool) == Some(true),
        model,
        prompt_tokens,
        max_tokens,
        body,
    })
}

pub async fn chat_completions(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&app, &headers, &body).await {
        Ok(response) => response,
        Err(Failure::Gateway(e)) => e.into_response(),
        Err(Failure::Payment(rejection, offers)) => {
            Metrics::add(&app.metrics.payments_rejected, 1);
            payment_required(&app, Some(rejection), offers)
        }
    }
}

enum Failure {
    Gateway(GatewayError),
    /// A refused payment: answered with a 402 (or 400) naming the reason, and fresh offers.
    Payment(Rejection, Vec<PaymentRequirements>),
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
fn payment_required(
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

async fn handle(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<Response, Failure> {
    let priced = price(app, body)?;
    let header = headers
        .get(wire::PAYMENT_SIGNATURE)
        .or(headers.get(wire::X_PAYMENT));
    let Some(header) = header else {
        let quote = app.quotes.issue(
            &priced.model.slug,
            priced.amount,
            now() + app.quote_ttl.as_secs(),
        );
        let offers = app.offers(priced.model, priced.amount, &quote).await?;
        Metrics::add(&app.metrics.payment_required, 1);
        return Ok(payment_required(app, None, offers));
    };
    let header = header
        .to_str()
        .map_err(|_| GatewayError::BadRequest("the payment header is not ASCII".into()))?;
    // Offers carry no quote until the payment names one; v1 payments are matched against these.
    let template = app.offers(priced.model, priced.amount, "").await?;
    let refuse = |r: Rejection| Failure::Payment(r, Vec::new());
    let payment = wire::decode_payment(header, &template).map_err(refuse)?;
    let payment_id = payment.payment_id().map_err(refuse)?;

    // The same payment seen before: a retry under the same payment id is answered as the
    // first time; any other reuse is refused.
    if let Some(key) = app.payments.key_of(&payment) {
        let earlier = app
            .ledger
            .charge_for_payment(
                key.chain,
                key.settlement_tx.as_deref(),
                &key.payer,
                key.nonce.as_deref(),
            )
            .await
            .map_err(GatewayError::from)?;
        if let Some(earlier) = earlier {
            if payment_id.is_some() && earlier.payment_id == payment_id {
                return replay(earlier);
            }
            return Err(refuse(Rejection::new(
                "duplicate_settlement",
                "this payment has already been used; request a new 402 and pay again",
            )));
        }
    }

    let chain = app.chain_of(&payment.accepted.network).ok_or_else(|| {
        refuse(Rejection::new(
            "invalid_network",
            format!(
                "payment on {} is not accepted; see accepts[]",
                payment.accepted.network
            ),
        ))
    })?;
    let quote = match payment.x402_version {
        1 => None,
        _ => Some(
            quote_of(&payment.accepted)
                .ok_or_else(|| refuse(Rejection::new("invalid_quote", "accepted.extra carries no quote (memo); pay one of the offered requirements unchanged")))?
                .to_string(),
        ),
    };
    if let Some(quote) = &quote {
        app.quotes
            .check(quote, &priced.model.slug, priced.amount, now())
            .map_err(refuse)?;
    }
    let required = requirement(&template, &payment, quote.as_deref()).map_err(refuse)?;
    let verify_started = std::time::Instant::now();
    let accepted = app
        .payments
        .verify(&payment, &required)
        .await
        .map_err(refuse)?;
    let verify_ms = verify_started.elapsed().as_secs_f64() * 1e3;
    let key = accepted.key.clone();
    if let Err(wait) = app.limiter.take(&key.payer) {
        return Err(GatewayError::RateLimited {
            payer: key.payer,
            retry_after_secs: wait.as_secs().max(1),
        }
        .into());
    }
    let quote_id = quote.unwrap_or_else(|| {
        format!(
            "v1.{}",
            key.settlement_tx
                .clone()
                .or(key.nonce.clone())
                .unwrap_or_default()
        )
    });
    let claim = app
        .ledger
        .claim_charge(&NewCharge {
            quote_id: quote_id.clone(),
            model: priced.model.slug.clone(),
            payer: key.payer.clone(),
            chain,
            pay_to: required.pay_to.clone(),
            amount: priced.amount,
            settlement_tx: key.settlement_tx.clone(),
            eip3009_nonce: key.nonce.clone(),
            payment_id: payment_id.clone(),
        })
        .await
        .map_err(GatewayError::from)?;
    let charge_id = match claim {
        Claim::New(id) => id,
        Claim::Existing(earlier) if payment_id.is_some() && earlier.payment_id == payment_id => {
            return replay(earlier)
        }
        Claim::Existing(_) => {
            return Err(refuse(Rejection::new(
                "duplicate_settlement",
                "this quote or payment has already been used; request a new 402 and pay again",
            )))
        }
    };

    let settle_started = std::time::Instant::now();
    let settlement = match app.payments.settle(&accepted, &payment, &required).await {
        Ok(tx) => tx,
        Err(rejection) => {
            app.ledger
                .charge_failed(charge_id, &rejection.to_string())
                .await
                .map_err(GatewayError::from)?;
            return Err(refuse(rejection));
        }
    };
    let settle_ms = settle_started.elapsed().as_secs_f64() * 1e3;
    Metrics::add(&app.metrics.payments_settled, 1);
    Metrics::add(&app.metrics.settled_units, priced.amount);
    let receipt = Receipt {
        charge_id,
        quote: quote_id,
        chain,
        settlement: SettlementResponse {
            success: true,
            error_reason: None,
            payer: Some(key.payer.clone()),
            transaction: settlement,
            network: required.network.clone(),
            amount: Some(priced.amount.to_string()),
        },
        v1: payment.x402_version == 1,
        timing: format!("verify;dur={verify_ms:.3}, settle;dur={settle_ms:.3}"),
    };
    app.ledger
        .charge_settled(charge_id, &receipt.settlement.transaction)
        .await
        .map_err(GatewayError::from)?;
    Ok(crate::answer::answer(app, &priced, receipt).await?)
}

/// The offered requirement the payment chose, with its quote, checked field by field so the
/// client learns exactly what it got wrong.
fn requirement(
    template: &[PaymentRequirements],
    payment: &PaymentPayload,
    quote: Option<&str>,
) -> Result<PaymentRequirements, Rejection> {
    let accepted = &payment.accepted;
    let mut required = template
        .iter()
        .find(|r| r.network == accepted.network)
        .cloned()
        .ok_or_else(|| {
            Rejection::new(
                "invalid_network",
                format!("payment on {} is not accepted", accepted.network),
            )
        })?;
    if accepted.scheme != required.scheme {
        return Err(Rejection::new(
            "unsupported_scheme",
            "only the exact scheme is accepted",
        ));
    }
    if accepted.asset != required.asset {
        return Err(Rejection::new(
            "invalid_payment_requirements",
            format!("asset must be {} (USDC)", required.asset),
        ));
    }
    if accepted.pay_to != required.pay_to {
        return Err(Rejection::new(
            "invalid_payment_requirements",
            format!("payTo must be {} for this model; request a new 402 (the model may have been tokenized)", required.pay_to),
        ));
    }
    if accepted.amount != required.amount {
        return Err(Rejection::new(
            "invalid_payment_requirements",
            format!(
                "the price of this request is {} units, not {}",
                required.amount, accepted.amount
            ),
        ));
    }
    if let (Some(quote), Some(extra)) = (quote, required.extra.as_mut()) {
        let field = if extra.get("memo").is_some() {
            "memo"
        } else {
            "quote"
        };
        extra[field] = Value::String(quote.to_string());
    }
    Ok(required)
}

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
    pub fn headers(
        &self,
        provider: Option<&str>,
        amounts: Option<(u64, u64)>,
    ) -> Vec<(&'static str, String)> {
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
        if let Some(p) = provider {
            headers.push(("x-paywire-provider", p.to_string()));
        }
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

/// Answers a payment seen before with what was answered the first time.
fn replay(earlier: ledger::ChargeRecord) -> Result<Response, Failure> {
    match (earlier.status.as_str(), earlier.response) {
        ("completed", Some(stored)) => {
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
        ("failed", _) => Err(Failure::Payment(
            Rejection::new("duplicate_settlement", "this payment was refused before; request a new 402 and pay again"),
            Vec::new(),
        )),
        _ => Ok((
            StatusCode::CONFLICT,
            Json(json!({ "error": { "message": format!("charge {} for this payment is still being processed; retry shortly", earlier.id), "code": 409 } })),
        )
            .into_response()),
    }
}
