//! Calls served from a payer's balance — by a signed-in wallet or an API key: hold the call's
//! maximum cost (the price its 402 would ask), answer, charge the actual cost and give the rest
//! back, with no chain on the way. And `GET /v1/balance`, what the wallet has.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use ledger::{format_usdc, ApiKey, Held, NewHold};
use serde_json::json;

use crate::{
    app::App,
    bill::{Bill, Hold},
    keys::bearer,
    paywall::{offers, unserved_from_balance, wallet, Failure},
    request::Priced,
    sign_in::{Payer, SignIn},
    GatewayError,
};

/// Serves `priced` from `payer`'s balance (within `key`'s limits when it came with one), or
/// answers 402 when the balance does not cover it: offering a per-call payment to a signed-in
/// wallet, in OpenAI's error shape to a key.
pub async fn serve(
    app: &Arc<App>,
    priced: Priced,
    payer: Payer,
    key: Option<ApiKey>,
) -> Result<Response, Failure> {
    if let Some(key) = &key {
        app.key_limits.admit(key, &priced.model.slug).await?;
    }
    if let Err(wait) = app.limiter.take(&payer.address).await {
        return Err(GatewayError::RateLimited {
            who: payer.address,
            retry_after_secs: wait.as_secs().max(1),
        }
        .into());
    }
    let held = app
        .ledger
        .hold(&NewHold {
            payer: &payer.address,
            chain: payer.chain,
            model: &priced.model.slug,
            amount: priced.amount,
            ttl: app.hold_ttl,
            api_key: key.as_ref().map(|k| k.id),
        })
        .await
        .map_err(GatewayError::from)?;
    let hold_id = match held {
        Held::Held { hold_id, .. } => hold_id,
        Held::Short { available } => {
            app.metrics.balance_short.inc();
            let why = format!(
                "balance_insufficient: {} has {} USDC available, this call may cost up to {}",
                payer.address,
                format_usdc(available),
                format_usdc(priced.amount),
            );
            return match key {
                Some(_) => Err(GatewayError::InsufficientBalance(format!(
                    "{why}; top up the wallet's balance"
                ))
                .into()),
                None => Ok(unserved_from_balance(
                    app,
                    format!("{why}; pay it per call (accepts), or top up the balance"),
                    offers(app, &priced).await?,
                )),
            };
        }
        Held::OverKeyLimit { spent, limit } => {
            app.metrics.balance_short.inc();
            return Err(GatewayError::Forbidden(format!(
                "key_limit_exceeded: this key has spent {} of its {} limit, and this call may cost up to {}",
                format_usdc(spent),
                format_usdc(limit),
                format_usdc(priced.amount),
            ))
            .into());
        }
    };
    app.metrics.held_units.inc_by(priced.amount);
    let bill = Bill::Balance(Hold {
        hold_id,
        payer: payer.address,
        chain: payer.chain,
        amount: priced.amount,
    });
    // On a task of its own, so a client that leaves mid-answer does not leave the hold open
    // until the sweep: the call is booked with what was delivered.
    let app = app.clone();
    tokio::spawn(async move { crate::answer::answer(&app, &priced, bill).await })
        .await
        .unwrap_or_else(|panicked| {
            tracing::error!(hold = hold_id, error = %panicked, "a call served from a balance failed");
            Err(GatewayError::Internal)
        })
        .map_err(Failure::from)
}

/// A sign-in to pay for `priced` that was refused: a 402 saying why and offering to pay per
/// call instead.
pub async fn refused_sign_in(
    app: &App,
    refused: SignIn,
    priced: &Priced,
) -> Result<Response, GatewayError> {
    match refused {
        SignIn::Refused(code, what) => Ok(unserved_from_balance(
            app,
            format!("{code}: {what}"),
            offers(app, priced).await?,
        )),
        SignIn::Failed(e) => Err(e),
    }
}

/// The balance route.
pub const PATH: &str = "/v1/balance";

/// `GET /v1/balance`, signed in or with a key: the wallet's balance, what calls in flight
/// hold, and its latest entries. With neither, a 402 carrying the challenge to sign.
pub async fn show(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let payer = match bearer(&app, &headers).await {
        Ok(Some((payer, _))) => payer,
        Ok(None) => match wallet(&app, &headers, PATH).await {
            Ok(payer) => payer,
            Err(response) => return response,
        },
        Err(e) => return e.into_response(),
    };
    let read = async {
        let balance = app.ledger.balance(&payer.address, payer.chain).await?;
        let entries = app
            .ledger
            .balance_entries(&payer.address, payer.chain, 20)
            .await?;
        Ok::<_, ledger::LedgerError>((balance, entries))
    };
    match read.await {
        Ok((balance, entries)) => (
            StatusCode::OK,
            Json(json!({
                "payer": payer.address,
                "chain": payer.chain.as_str(),
                "available": format_usdc(balance.available),
                "held": format_usdc(balance.held),
                "entries": entries.iter().map(|e| json!({
                    "id": e.id,
                    "kind": e.kind,
                    "amount": e.amount.to_string(),
                    "charge_id": e.charge_id,
                    "hold_id": e.hold_id,
                    "at": e.at,
                })).collect::<Vec<_>>(),
            })),
        )
            .into_response(),
        Err(e) => GatewayError::from(e).into_response(),
    }
}
