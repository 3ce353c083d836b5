//! paywire's gateway: an OpenAI-compatible endpoint paid per call with x402 on Solana and
//! Base, or from a prepaid balance by a signed-in wallet. Read top-down: [`request`] (what a
//! chat request may ask for, and its price), [`chat`] (402, verify → claim), [`paid`] (settle,
//! on a task of its own) and [`answer`] (the upstream call) are the paid path; [`sign_in`]
//! (who a wallet is) and [`balance`] (hold → answer → charge) the balance rail; [`bill`] books
//! either; [`paywall`] and [`receipt`] are what a client is told; [`x402`] holds the wire types, the two
//! `exact` schemes and the facilitator; [`catalog`], [`tokens`] and [`quote`] price; [`upstream`]
//! routes; [`pay_to`] reads where a model's money goes; [`app`] ties them into one state.

mod answer;
pub mod app;
mod balance;
mod bill;
pub mod catalog;
mod chat;
mod checkout;
pub mod config;
pub mod demo_upstream;
mod error;
mod keys;
mod limiter;
mod metrics;
mod networks;
mod paid;
pub mod pay_to;
mod paywall;
pub mod quote;
mod receipt;
pub mod reconcile;
pub mod request;
mod routes;
mod sale;
pub mod sign_in;
pub mod tokens;
mod top_up;
mod treasury;
pub mod upstream;
mod withdraw;

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, DefaultBodyLimit, Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
    Router,
};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

pub use app::App;
pub use config::GatewayConfig;
pub use error::GatewayError;

/// Every route of the gateway. Each request gets an `x-request-id` (kept if the client sent
/// one) that its log lines carry and its response repeats; bodies are capped; every route
/// but health and metrics is rate-limited per client IP.
pub fn router(app: Arc<App>) -> Router {
    let mut limited = Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/quote", post(routes::quote))
        .route(balance::PATH, get(balance::show))
        .route(top_up::PATH, post(top_up::top_up))
        .route(withdraw::PATH, post(withdraw::withdraw))
        .route(keys::PATH, get(keys::list).post(keys::create))
        .route("/v1/keys/{id}", delete(keys::revoke))
        .route("/v1/models", get(routes::models))
        .route("/.well-known/x402", get(routes::well_known))
        .route("/.well-known/agent-card.json", get(routes::agent_card))
        .route("/openapi.json", get(routes::openapi))
        .with_state(app.clone());
    if let Some(facilitator) = app.facilitator_api() {
        limited = limited.merge(facilitator);
    }
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/metrics", get(routes::metrics))
        .with_state(app.clone())
        .merge(limited.layer(middleware::from_fn_with_state(app, limit_clients)))
        .layer(DefaultBodyLimit::max(request::MAX_BODY_BYTES))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", id, method = %request.method(), path = request.uri().path())
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Refuses a client IP over its per-minute allowance, before any work is done for it.
async fn limit_clients(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
    match app.clients.take(&client).await {
        Ok(()) => next.run(request).await,
        Err(wait) => GatewayError::RateLimited {
            who: client,
            retry_after_secs: wait.as_secs().max(1),
        }
        .into_response(),
    }
}

/// Serves on `listener` until `shutdown` completes, then lets requests in flight finish;
/// meanwhile reconciles charges any gateway left half-way.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let reconciler = tokio::spawn(reconcile::keep_reconciling(app.clone()));
    let served = axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    reconciler.abort();
    served
}
