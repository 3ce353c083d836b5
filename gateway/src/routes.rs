//! Everything around the paid endpoint: the free quote, the model list, discovery documents
//! (`/.well-known/x402`, the A2A agent card, OpenAPI), health and metrics.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, State},
    http::{header, StatusCode},
    response::IntoResponse,
    Json,
};
use ledger::format_usdc;
use serde_json::{json, Value};

use crate::{app::App, quote::now, request::price, sale::quoted, GatewayError};

/// `POST /v1/quote`: the price of a chat request, free, with the same figure a 402 asks for.
pub async fn quote(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, GatewayError> {
    let priced = price(&app, body?).await?;
    let (quote, accepts) = quoted(&app, Some(&priced.model), priced.amount).await?;
    Ok(Json(json!({
        "model": priced.model.slug,
        "prompt_tokens": priced.prompt_tokens,
        "max_tokens": priced.max_tokens,
        "n": priced.choices,
        "amount": priced.amount.to_string(),
        "usdc": format_usdc(priced.amount),
        "quote": quote,
        "expires_at": now() + app.quote_ttl.as_secs(),
        "accepts": accepts,
    })))
}

/// `GET /v1/models`: each model with prices, the chains it is paid on and where the money goes.
pub async fn models(State(app): State<Arc<App>>) -> Result<Json<Value>, GatewayError> {
    let mut data = Vec::new();
    for model in app.catalog.models() {
        let accepts = app.offers(Some(model), model.floor, "").await?;
        let destination = match &app.pay_to {
            Some(pay_to) => Some(pay_to.solana(&model.slug, model.creator).await?),
            None => None,
        };
        let tokenized = destination.is_some_and(|d| d.tokenized);
        data.push(json!({
            "id": model.slug,
            "object": "model",
            "created": app.started_at,
            "owned_by": "paywire",
            "description": model.description,
            "pricing": {
                "input_per_mtok": format_usdc(model.price.input),
                "output_per_mtok": format_usdc(model.price.output),
                "floor": format_usdc(model.floor),
                "max_tokens": model.max_tokens,
                "formula": "prompt_tokens × input + n × max_tokens × output, at least floor; the surplus over actual usage is credited",
            },
            "tokenized": tokenized,
            // Whose model it is comes from the catalog: a slug tokenized on chain by anyone
            // else is paid to the treasury, and said so here.
            "revenue_to": if tokenized { "vault" } else { "treasury" },
            "creator": model.creator.map(|c| c.to_string()),
            "unexpected_on_chain_creator": destination.and_then(|d| d.unexpected_creator).map(|c| c.to_string()),
            "payment": accepts.iter().map(|a| json!({ "network": a.network, "asset": a.asset, "payTo": a.pay_to })).collect::<Vec<_>>(),
        }));
    }
    Ok(Json(
        json!({ "object": "list", "data": data, "networks": app.networks }),
    ))
}

/// `GET /.well-known/x402`: the paid resources of this server.
pub async fn well_known(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({
        "x402Version": 2,
        "resources": [format!("{}/v1/chat/completions", app.public_url)],
        "quote": format!("{}/v1/quote", app.public_url),
    }))
}

/// `GET /.well-known/agent-card.json`: the A2A agent card.
pub async fn agent_card(State(app): State<Arc<App>>) -> Json<Value> {
    let skills: Vec<Value> = app
        .catalog
        .models()
        .iter()
        .map(|m| json!({
            "id": m.slug,
            "name": m.slug,
            "description": m.description.clone().unwrap_or_else(|| format!("chat completion with {}", m.slug)),
            "tags": ["llm", "chat", "x402"],
        }))
        .collect();
    Json(json!({
        "protocolVersion": "0.3.0",
        "name": "paywire",
        "description": "OpenAI-compatible inference paid per call in USDC over x402 (Solana and Base)",
        "url": format!("{}/v1", app.public_url),
        "version": env!("CARGO_PKG_VERSION"),
        "capabilities": { "streaming": true },
        "defaultInputModes": ["application/json"],
        "defaultOutputModes": ["application/json", "text/event-stream"],
        "skills": skills,
        "extensions": [{ "uri": "https://x402.org", "description": "payment required per call (HTTP 402)" }],
    }))
}

/// `GET /healthz`: up, with the database reachable.
pub async fn healthz(State(app): State<Arc<App>>) -> impl IntoResponse {
    match sqlx::query("SELECT 1").execute(app.ledger.pool()).await {
        Ok(_) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(e) => {
            tracing::error!(error = %e, "health check: the ledger database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "database unavailable" })),
            )
        }
    }
}

pub async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(&app.upstreams.cooldowns()),
    )
}

/// `GET /openapi.json`.
pub async fn openapi(State(app): State<Arc<App>>) -> Json<Value> {
    let json_body =
        |schema: Value| json!({ "content": { "application/json": { "schema": schema } } });
    let chat_request = json!({
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": { "type": "string" },
            "messages": { "type": "array", "items": { "type": "object" } },
            "max_tokens": { "type": "integer", "minimum": 1 },
            "stream": { "type": "boolean" },
        },
    });
    Json(json!({
        "openapi": "3.1.0",
        "info": { "title": "paywire gateway", "version": env!("CARGO_PKG_VERSION") },
        "servers": [{ "url": app.public_url }],
        "paths": {
            "/v1/chat/completions": { "post": {
                "summary": "Chat completion, paid per call with x402",
                "parameters": [
                    { "name": "PAYMENT-SIGNATURE", "in": "header", "required": false, "schema": { "type": "string" }, "description": "base64 JSON x402 v2 PaymentPayload (v1: X-PAYMENT)" },
                ],
                "requestBody": json_body(chat_request.clone()),
                "responses": {
                    "200": { "description": "the completion (JSON, or SSE ending with a paywire.receipt event); PAYMENT-RESPONSE header" },
                    "400": { "description": "malformed request or payment header" },
                    "402": { "description": "payment required or refused; PAYMENT-REQUIRED header and body list accepts[]" },
                    "404": { "description": "unknown model" },
                    "429": { "description": "rate limited per payer; nothing was charged" },
                    "502": { "description": "every provider failed after settlement; the charge was credited" },
                },
            } },
            "/v1/quote": { "post": { "summary": "The price of a chat request, free", "requestBody": json_body(chat_request), "responses": { "200": { "description": "amount, quote and accepts[]" } } } },
            "/v1/models": { "get": { "summary": "Models, prices, chains and payTo", "responses": { "200": { "description": "OpenAI-style list" } } } },
            "/facilitator/supported": { "get": { "summary": "x402 facilitator: supported kinds", "responses": { "200": { "description": "kinds, extensions, signers" } } } },
            "/facilitator/verify": { "post": { "summary": "x402 facilitator: verify", "responses": { "200": { "description": "VerifyResponse" }, "400": { "description": "invalid" } } } },
            "/facilitator/settle": { "post": { "summary": "x402 facilitator: settle", "responses": { "200": { "description": "SettlementResponse" }, "400": { "description": "refused" } } } },
            "/.well-known/x402": { "get": { "summary": "x402 discovery", "responses": { "200": { "description": "resources" } } } },
            "/.well-known/agent-card.json": { "get": { "summary": "A2A agent card", "responses": { "200": { "description": "card" } } } },
            "/healthz": { "get": { "summary": "health", "responses": { "200": { "description": "ok" }, "503": { "description": "database unavailable" } } } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "responses": { "200": { "description": "text format" } } } },
        },
    }))
}
