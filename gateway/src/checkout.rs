//! A payment for a sale (a call, a top-up): decode it, match it to the offer it chose, check
//! its quote, refuse a payment seen before (or replay the answer to a retry), verify it, and
//! hand it to [`crate::paid`], which claims, settles and delivers it.

use std::sync::Arc;

use axum::response::Response;
use ledger::NewCharge;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    app::{quote_of, App},
    paid::Paid,
    paywall::Failure,
    quote::now,
    receipt::seen_before,
    sale::Sale,
    GatewayError,
};
use x402::{
    wire::{self, PaymentPayload, PaymentRequirements},
    Reason, Rejection,
};

/// Takes the payment in `header` (`PAYMENT-SIGNATURE`, or v1's `X-PAYMENT`) for `sale`.
pub async fn checkout(
    app: &Arc<App>,
    header: &axum::http::HeaderValue,
    sale: Sale,
) -> Result<Response, Failure> {
    let header = header
        .to_str()
        .map_err(|_| GatewayError::BadRequest("the payment header is not ASCII".into()))?;
    // Offers carry no quote until the payment names one; v1 payments are matched against these.
    let template = sale.offers(app, "").await?;
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
            .check(quote, &sale.subject(), sale.amount(), now())
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
    if let Err(wait) = app.limiter.take(&key.payer).await {
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
            purpose: sale.purpose(),
            model: sale.model().map(str::to_string),
            payer: key.payer.clone(),
            chain,
            pay_to: required.pay_to.clone(),
            amount: sale.amount(),
            settlement_tx: key.settlement_tx().map(str::to_string),
            eip3009_nonce: key.nonce().map(str::to_string),
            payment_id,
        },
        sale,
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
