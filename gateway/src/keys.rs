//! API keys: `Authorization: Bearer pw_…` spends the balance of the wallet that made the key,
//! within the key's limits (spend per period, models, requests per minute, expiry), so a
//! plain OpenAI client with `api_key="pw_…"` works unmodified. Keys are made, listed and
//! revoked by the wallet itself, signed in (`/v1/keys`); the ledger keeps only their hashes.

use std::{collections::HashMap, sync::Arc, sync::Mutex};

use axum::{
    extract::{Path, State},
    http::{header::AUTHORIZATION, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use chrono::{DateTime, Utc};
use ledger::{format_usdc, parse_usdc, ApiKey, Ledger, LimitPeriod, NewKey};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{app::App, limiter::RateLimiter, paywall::wallet, sign_in::Payer, GatewayError};

/// The keys' routes (`/v1/keys`, `/v1/keys/{id}`): one sign-in challenge for all of them.
pub const PATH: &str = "/v1/keys";
/// What every key starts with.
pub const PREFIX: &str = "pw_";
/// How much of a key is kept in clear, to tell keys apart.
const SHOWN: usize = 10;

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The key and its owner, if the request carries `Authorization: Bearer pw_…`; an unknown,
/// revoked or expired key is refused (401) — on every gateway at once, as each reads the
/// ledger.
pub async fn bearer(
    app: &App,
    headers: &HeaderMap,
) -> Result<Option<(Payer, ApiKey)>, GatewayError> {
    let Some(secret) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|s| s.starts_with(PREFIX))
    else {
        return Ok(None);
    };
    let key = app
        .ledger
        .key_by_hash(&hash(secret))
        .await?
        .ok_or_else(|| {
            GatewayError::Unauthorized(
                "invalid_api_key: no such paywire key; make one with POST /v1/keys (signed in with your wallet)".into(),
            )
        })?;
    if key.revoked_at.is_some() {
        return Err(GatewayError::Unauthorized(format!(
            "revoked_api_key: key {}… was revoked; make a new one with POST /v1/keys",
            key.prefix
        )));
    }
    if !key.live(Utc::now()) {
        return Err(GatewayError::Unauthorized(format!(
            "expired_api_key: key {}… expired; make a new one with POST /v1/keys",
            key.prefix
        )));
    }
    Ok(Some((
        Payer {
            address: key.payer.clone(),
            chain: key.chain,
        },
        key,
    )))
}

/// Per-key request limits, one limiter per distinct allowance, shared by every gateway
/// process on the ledger.
pub struct KeyLimits {
    ledger: Ledger,
    limiters: Mutex<HashMap<u32, Arc<RateLimiter>>>,
}

impl KeyLimits {
    pub fn new(ledger: Ledger) -> Self {
        KeyLimits {
            ledger,
            limiters: Mutex::default(),
        }
    }

    /// Whether `key` may call `model` now.
    pub async fn admit(&self, key: &ApiKey, model: &str) -> Result<(), GatewayError> {
        if let Some(models) = &key.models {
            if !models.iter().any(|m| m == model) {
                return Err(GatewayError::Forbidden(format!(
                    "model_not_allowed: key {}… may call {}, not {model}",
                    key.prefix,
                    models.join(", ")
                )));
            }
        }
        if let Some(per_minute) = key.requests_per_minute {
            let limiter = self
                .limiters
                .lock()
                .expect("not poisoned")
                .entry(per_minute)
                .or_insert_with(|| {
                    Arc::new(RateLimiter::shared(per_minute, self.ledger.clone(), "key"))
                })
                .clone();
            limiter
                .take(&key.id.to_string())
                .await
                .map_err(|wait| GatewayError::RateLimited {
                    who: format!("key {}…", key.prefix),
                    retry_after_secs: wait.as_secs().max(1),
                })?;
        }
        Ok(())
    }
}

/// `POST /v1/keys`: what a new key may do.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    name: Option<String>,
    /// USDC, e.g. `"5.00"`.
    spend_limit: Option<String>,
    limit_period: Option<LimitPeriod>,
    models: Option<Vec<String>>,
    requests_per_minute: Option<u32>,
    expires_at: Option<DateTime<Utc>>,
}

/// `POST /v1/keys`, signed in: makes a key and shows it, once.
pub async fn create(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Option<Json<KeyRequest>>,
) -> Response {
    let payer = match wallet(&app, &headers, PATH).await {
        Ok(payer) => payer,
        Err(response) => return response,
    };
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let made = async {
        let new = new_key(&app, request)?;
        let secret = new.1;
        let key = app
            .ledger
            .create_key(&payer.address, payer.chain, &new.0)
            .await?;
        let mut shown = view(&key);
        shown["key"] = Value::String(secret);
        Ok::<_, GatewayError>((StatusCode::CREATED, Json(shown)).into_response())
    };
    made.await.unwrap_or_else(IntoResponse::into_response)
}

/// Checks a key request and makes its secret.
fn new_key(app: &App, request: KeyRequest) -> Result<(NewKey, String), GatewayError> {
    let bad = GatewayError::BadRequest;
    let spend_limit = request
        .spend_limit
        .as_deref()
        .map(|l| parse_usdc(l).map_err(|e| bad(format!("spend_limit {l}: {e}"))))
        .transpose()?;
    if spend_limit == Some(0) {
        return Err(bad(
            "spend_limit must be above 0 (omit it for no limit)".into()
        ));
    }
    if request.limit_period.is_some() && spend_limit.is_none() {
        return Err(bad("limit_period needs a spend_limit".into()));
    }
    for model in request.models.iter().flatten() {
        if app.catalog.get(model).is_none() {
            return Err(GatewayError::UnknownModel(model.clone()));
        }
    }
    if request.requests_per_minute == Some(0) {
        return Err(bad("requests_per_minute must be above 0".into()));
    }
    if request.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(bad("expires_at is in the past".into()));
    }
    let secret = format!(
        "{PREFIX}{}",
        bs58::encode(rand::random::<[u8; 32]>()).into_string()
    );
    Ok((
        NewKey {
            hash: hash(&secret),
            prefix: secret[..SHOWN].to_string(),
            name: request.name,
            spend_limit,
            limit_period: request.limit_period,
            models: request.models,
            requests_per_minute: request.requests_per_minute,
            expires_at: request.expires_at,
        },
        secret,
    ))
}

/// `GET /v1/keys`, signed in: the wallet's keys (never their secrets).
pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let payer = match wallet(&app, &headers, PATH).await {
        Ok(payer) => payer,
        Err(response) => return response,
    };
    match app.ledger.keys(&payer.address, payer.chain).await {
        Ok(keys) => {
            Json(json!({ "keys": keys.iter().map(view).collect::<Vec<_>>() })).into_response()
        }
        Err(e) => GatewayError::from(e).into_response(),
    }
}

/// `DELETE /v1/keys/{id}`, signed in: revokes one of the wallet's keys, at once everywhere.
pub async fn revoke(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let payer = match wallet(&app, &headers, PATH).await {
        Ok(payer) => payer,
        Err(response) => return response,
    };
    match app.ledger.revoke_key(&payer.address, payer.chain, id).await {
        Ok(true) => Json(json!({ "id": id, "revoked": true })).into_response(),
        Ok(false) => GatewayError::NotFound(format!(
            "{} has no live key {id}; GET /v1/keys lists them",
            payer.address
        ))
        .into_response(),
        Err(e) => GatewayError::from(e).into_response(),
    }
}

fn view(key: &ApiKey) -> Value {
    json!({
        "id": key.id,
        "prefix": key.prefix,
        "name": key.name,
        "payer": key.payer,
        "chain": key.chain,
        "spend_limit": key.spend_limit.map(format_usdc),
        "limit_period": key.limit_period,
        "period_spent": format_usdc(key.period_spent),
        "models": key.models,
        "requests_per_minute": key.requests_per_minute,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "created_at": key.created_at,
    })
}
