//! `POST /v1/chat/completions`: price the request, answer 402 with the ways to pay, and for
//! a paid retry verify → claim, then hand the claimed payment to [`crate::paid`] (settle →
//! call the cheapest healthy upstream → record the charge → answer with the receipt).

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use ledger::NewCharge;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    app::{quote_of, App},
    paid::Paid,
    paywall::{payment_required, refused, Failure},
    quote::now,
    receipt::seen_before,
    request::price,
    GatewayError,
};
use x402::{
    wire::{self, PaymentPayload, PaymentRequirements},
    Reason, Rejection,
};

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
            app.metrics.payments_rejected.inc();
            refused(&app, rejection, network)
        }
    }
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
        app.metrics.payment_required.inc();
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
    // The same payment seen before: a retry under the same payment id is answered as the
    // first time — whatever became of its quote or its model's payTo since — and any other
    // reuse is refused.
    if let Some(key) = app.payments.key_of(&payment) {
        let earlier = app
            .ledger
            .charge_for_payment(key.chain, key.settlement_tx(), &key.payer, key.nonce())
            .await
            .map_err(GatewayError::from)?;
        if let Some(earlier) = earlier {
            return seen_before(earlier, &key.payer, payment_id.as_deref(), Some(network));
        }
    }

    let chain = app.chain_of(&payment.accepted.network).ok_or_else(|| {
        refuse(Rejection::new(
            Reason::InvalidNetwork,
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
                .ok_or_else(|| refuse(Rejection::new(Reason::InvalidQuote, "accepted.extra carries no quote (memo); pay one of the offered requirements unchanged")))?
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
        let unique = key
            .settlement_tx()
            .or(key.nonce())
            .map(str::to_string)
            .unwrap_or_else(|| {
                bs58::encode(&Sha256::digest(header.as_bytes())[..16]).into_string()
            });
        format!("v1.{unique}")
    });
    // From the claim on, the payment may be taken: that part runs to its end whatever the
    // client does (a client leaving while the claim is written must not strand it).
    let paid = Paid {
        app: app.clone(),
        charge: NewCharge {
            quote_id,
            model: priced.model.slug.clone(),
            payer: key.payer.clone(),
            chain,
            pay_to: required.pay_to.clone(),
            amount: priced.amount,
            settlement_tx: key.settlement_tx().map(str::to_string),
            eip3009_nonce: key.nonce().map(str::to_string),
            payment_id,
        },
        priced,
        accepted,
        payment,
        required,
        verify_ms,
    };
    paid.run_detached().await
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
                Reason::InvalidNetwork,
                format!("payment on {} is not accepted", accepted.network),
            )
        })?;
    if accepted.scheme != required.scheme {
        return Err(Rejection::new(
            Reason::UnsupportedScheme,
            "only the exact scheme is accepted",
        ));
    }
    if accepted.asset != required.asset {
        return Err(Rejection::new(
            Reason::InvalidPaymentRequirements,
            format!("asset must be {} (USDC)", required.asset),
        ));
    }
    if accepted.pay_to != required.pay_to {
        return Err(Rejection::new(
            Reason::InvalidPaymentRequirements,
            format!("payTo must be {} for this model; request a new 402 (the model may have been tokenized)", required.pay_to),
        ));
    }
    if accepted.amount != required.amount {
        return Err(Rejection::new(
            Reason::InvalidPaymentRequirements,
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
