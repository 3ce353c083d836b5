//! `POST /v1/chat/completions`: price the request; then a payment goes to
//! [`crate::checkout`] (verify → claim → settle → call the cheapest healthy upstream → answer
//! with the receipt), an API key or a signed-in wallet to [`crate::balance`], and anyone else
//! gets a 402 with the ways to pay.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use crate::{
    app::App,
    balance,
    checkout::checkout,
    keys::bearer,
    paywall::{answer, offers, payment_required, Failure, CHAT_PATH},
    request::price,
    sale::Sale,
    sign_in::signed_in,
    GatewayError,
};
use x402::wire;

pub async fn chat_completions(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) => return GatewayError::from(e).into_response(),
    };
    answer(&app, handle(&app, &headers, body).await)
}

async fn handle(app: &Arc<App>, headers: &HeaderMap, body: Bytes) -> Result<Response, Failure> {
    let priced = price(app, body).await?;
    let header = headers
        .get(wire::PAYMENT_SIGNATURE)
        .or(headers.get(wire::X_PAYMENT));
    let Some(header) = header else {
        // No payment: a key or a signed-in wallet spends its balance; anyone else is asked to
        // pay.
        if let Some((payer, key)) = bearer(app, headers).await? {
            return balance::serve(app, priced, payer, Some(key)).await;
        }
        match signed_in(app, headers, CHAT_PATH).await {
            Ok(Some(payer)) => return balance::serve(app, priced, payer, None).await,
            Ok(None) => {}
            Err(refused) => return Ok(balance::refused_sign_in(app, refused, &priced).await?),
        }
        let offers = offers(app, &priced).await?;
        app.metrics.payment_required.inc();
        return Ok(payment_required(app, None, offers));
    };
    checkout(app, header, Sale::Call(priced)).await
}
