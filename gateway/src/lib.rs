//! paywire's gateway: an OpenAI-compatible endpoint paid per call with x402 on Solana and
//! Base. Read top-down: [`chat`] (price, 402, verify → claim → settle) and [`answer`] (the
//! upstream call and the receipt) are the paid path; [`x402`] holds the wire types, the two
//! `exact` schemes and the facilitator; [`catalog`], [`tokens`] and [`quote`] price; [`upstream`]
//! routes; [`pay_to`] reads where a model's money goes; [`app`] ties them into one state.

mod answer;
pub mod app;
pub mod catalog;
mod chat;
pub mod config;
pub mod demo_upstream;
mod error;
mod limiter;
mod metrics;
pub mod pay_to;
pub mod quote;
mod routes;
pub mod tokens;
pub mod upstream;
pub mod x402;

use std::{future::Future, sync::Arc};

use axum::{
    routing::{get, post},
    Router,
};

pub use app::App;
pub use config::GatewayConfig;
pub use error::GatewayError;

/// Every route of the gateway.
pub fn router(app: Arc<App>) -> Router {
    let facilitator = app.facilitator();
    let router = Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/quote", post(routes::quote))
        .route("/v1/models", get(routes::models))
        .route("/.well-known/x402", get(routes::well_known))
        .route("/.well-known/agent-card.json", get(routes::agent_card))
        .route("/openapi.json", get(routes::openapi))
        .route("/healthz", get(routes::healthz))
        .route("/metrics", get(routes::metrics))
        .with_state(app);
    // The facilitator API is served when this gateway is its own facilitator.
    match facilitator {
        Some(f) => router.merge(x402::facilitator::routes(f)),
        None => router,
    }
}

/// Serves on `listener` until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}
