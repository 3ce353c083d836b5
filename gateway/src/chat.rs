//! `POST /v1/chat/completions`: price the request, answer 402 with the ways to pay, and for
//! a paid retry verify → claim → settle → call the cheapest healthy upstream → record the
//! charge with its actual cost and credit → answer with the receipt.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use ledger::{Chain, Claim, Completion, NewCharge};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::{
    app::{quote_of, App},
    catalog::format_usdc,
    metrics::Metrics,
    request::{ChatRequest, Priced},
    x402::{
        wire::{
            self, PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo,
            SettlementResponse,
        },
        payments::Accepted,
        Rejection,
    },
    GatewayError,
};

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Prices a chat request (see [`crate::request`]). Parsing and tokenizing are CPU work on
/// unpaid input: they run on the blocking pool, a few at a time, never on the executor that
/// serves settlements and streams.
pub async fn price(app: &App, body: Bytes) -> Result<Priced, GatewayError> {
    let _permit = app
        .pricing
        .acquire()
        .await
        .map_err(|_| GatewayError::Config("the gateway is shutting down".into()))?;
    let request = tokio::task::spawn_blocking(move || ChatRequest::parse(&body))
        .await
        .map_err(|e| GatewayError::Config(format!("pricing failed: {e}")))??;
    let model = app
        .catalog
        .get(&request.slug)
        .ok_or_else(|| GatewayError::UnknownModel(request.slug.clone()))?;
    Ok(Priced::new(model.clone(), request))
}

pub async fn chat_completions(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) => return GatewayError::from(e).into_response(),
    };
    match handle(&app, &headers, body).await {
        Ok(response) => response,
        Err(Failure::Gateway(e)) => e.into_response(),
        Err(Failure::Payment(rejection, network)) => {
            Metrics::add(&app.metrics.payments_rejected, 1);
            refused(&app, rejection, network)
        }
    }
}

enum Failure {
    Gateway(GatewayError),
    /// A refused payment: answered with a 402 (or 400) naming the reason, and a failed
    /// `PAYMENT-RESPONSE` for the payment's network, when known.
    Payment(Rejection, Option<String>),
}

impl Failure {
    fn refused(rejection: Rejection) -> Self {
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

/// A refused payment: the 402 (or 400) naming why, with `PAYMENT-RESPONSE` saying it was not
/// settled, as the x402 HTTP transport asks.
fn refused(app: &App, rejection: Rejection, network: Option<String>) -> Response {
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

async fn handle(app: &Arc<App>, headers: &HeaderMap, body: Bytes) -> Result<Response, Failure> {
    let priced = price(app, body).await?;
    let header = headers
        .get(wire::PAYMENT_SIGNATURE)
        .or(headers.get(wire::X_PAYMENT));
    let Some(header) = header else {
        let quote = app.quotes.issue(
            &priced.model.slug,
            priced.amount,
            now() + app.quote_ttl.as_secs(),
        );
        let offers = app.offers(&priced.model, priced.amount, &quote).await?;
        Metrics::add(&app.metrics.payment_required, 1);
        return Ok(payment_required(app, None, offers));
    };
    let header = header
        .to_str()
        .map_err(|_| GatewayError::BadRequest("the payment header is not ASCII".into()))?;
    // Offers carry no quote until the payment names one; v1 payments are matched against these.
    let template = app.offers(&priced.model, priced.amount, "").await?;
    let mut payment = wire::decode_payment(header, &template).map_err(Failure::refused)?;
    let network = payment.accepted.network.clone();
    let refuse = |r: Rejection| Failure::Payment(r, Some(network.clone()));
    let payment_id = payment.payment_id().map_err(refuse)?;
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
    if payment.x402_version == 1 {
        // v1 carries no `accepted`: it accepted what we require.
        payment.accepted = required.clone();
    }

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
            who: key.payer,
            retry_after_secs: wait.as_secs().max(1),
        }
        .into());
    }
    // v1 has no quote: the payment itself is the one-time token.
    let quote_id = quote.unwrap_or_else(|| {
        let unique = key.settlement_tx.clone().or(key.nonce.clone()).unwrap_or_else(|| {
            bs58::encode(&Sha256::digest(header.as_bytes())[..16]).into_string()
        });
        format!("v1.{unique}")
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

    // From here the payment may be taken: the rest runs to its end whatever the client does
    // (a disconnect drops this handler, not the task), and the client waits at most
    // `settle_wait` before being told to come back for the answer.
    let paid = Paid {
        app: app.clone(),
        priced,
        accepted,
        payment,
        required,
        charge_id,
        quote_id,
        chain,
        verify_ms,
    };
    let waiting = Waiting::default();
    // A client that disconnects drops this handler; the guard tells the task.
    let _leaves = LeaveOnDrop(waiting.clone());
    let task = tokio::spawn(paid.run(waiting).instrument(tracing::Span::current()));
    match tokio::time::timeout(app.settle_wait, task).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(panicked)) => {
            tracing::error!(charge = charge_id, error = %panicked, "the paid section of a call failed");
            Err(GatewayError::Internal.into())
        }
        Err(_) => Ok(still_settling(charge_id, app.settle_wait.as_secs())),
    }
}

struct LeaveOnDrop(Waiting);

impl Drop for LeaveOnDrop {
    fn drop(&mut self) {
        self.0.left();
    }
}

/// Whether the client still waits for the answer of a paid call. Set to false when it has
/// been told to come back (or has gone): a late settlement then stores the answer for a retry
/// with the same payment id instead of streaming it to nobody.
#[derive(Clone)]
struct Waiting(Arc<AtomicBool>);

impl Default for Waiting {
    fn default() -> Self {
        Waiting(Arc::new(AtomicBool::new(true)))
    }
}

impl Waiting {
    fn left(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    fn still(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The paid section of a call: settle, then answer; owned, so it can outlive the request.
struct Paid {
    app: Arc<App>,
    priced: Priced,
    accepted: Accepted,
    payment: PaymentPayload,
    required: PaymentRequirements,
    charge_id: i64,
    quote_id: String,
    chain: Chain,
    verify_ms: f64,
}

impl Paid {
    async fn run(mut self, waiting: Waiting) -> Result<Response, Failure> {
        let app = &self.app;
        let settle_started = std::time::Instant::now();
        let network = self.required.network.clone();
        let settlement = match app
            .payments
            .settle(&self.accepted, &self.payment, &self.required)
            .await
        {
            Ok(tx) => tx,
            Err(rejection) => {
                app.ledger
                    .charge_failed(self.charge_id, &rejection.to_string())
                    .await
                    .map_err(GatewayError::from)?;
                return Err(Failure::Payment(rejection, Some(network)));
            }
        };
        let settle_ms = settle_started.elapsed().as_secs_f64() * 1e3;
        Metrics::add(&app.metrics.payments_settled, 1);
        Metrics::add(&app.metrics.settled_units, self.priced.amount);
        let receipt = Receipt {
            charge_id: self.charge_id,
            quote: self.quote_id,
            chain: self.chain,
            settlement: SettlementResponse {
                success: true,
                error_reason: None,
                payer: Some(self.accepted.key.payer.clone()),
                transaction: settlement,
                network,
                amount: Some(self.priced.amount.to_string()),
            },
            v1: self.payment.x402_version == 1,
            timing: format!(
                "verify;dur={:.3}, settle;dur={settle_ms:.3}",
                self.verify_ms
            ),
        };
        app.ledger
            .charge_settled(self.charge_id, &receipt.settlement.transaction)
            .await
            .map_err(GatewayError::from)?;
        if !waiting.still() {
            // Nobody to stream to: the answer is kept whole for the retry.
            self.priced.unstreamed();
        }
        Ok(crate::answer::answer(app, &self.priced, receipt).await?)
    }
}

/// 202: the payment was sent and may still land; the same payment header (with its payment
/// id) gets the answer once it has.
fn still_settling(charge_id: i64, retry_after: u64) -> Response {
    let mut response = (
        StatusCode::ACCEPTED,
        Json(json!({ "error": { "message": format!("the payment of charge {charge_id} is not confirmed yet; it is not lost: retry with the same payment header and payment id to get the answer"), "code": 202 } })),
    )
        .into_response();
    response
        .headers_mut()
        .insert("retry-after", retry_after.max(1).into());
    response
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
    if let Some(extra) = required.extra.as_mut().and_then(Value::as_object_mut) {
        let field = if extra.contains_key("memo") {
            "memo"
        } else {
            "quote"
        };
        match quote {
            Some(quote) => {
                extra.insert(field.into(), Value::String(quote.to_string()));
            }
            // v1 has no quote to bind: its payment carries a nonce memo of its own.
            None => {
                extra.remove(field);
            }
        }
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
        ("failed", _) => Err(Failure::refused(Rejection::new(
            "duplicate_settlement",
            "this payment did not go through and cannot land any more; request a new 402 and pay again",
        ))),
        _ => Ok(still_settling(earlier.id, 1)),
    }
}
