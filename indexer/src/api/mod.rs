//! The ledger's read-only HTTP API, served next to the indexer (`paywire indexer --listen`):
//! `GET /ledger/audit`, `/ledger/models`, `/ledger/revenue`, `/ledger/buybacks`,
//! `/ledger/charges`, `/ledger/transfers`, `/ledger/cursors`, and the page that charts them at
//! `/ledger/`. A database that is away is a 503, a chain that does not answer a 502: never an
//! empty report that could pass for a clean one.

use std::sync::Arc;

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
    Json,
};
use ledger::{AuditScope, Ledger};
use serde::Deserialize;
use serde_json::json;
use solana_client::nonblocking::rpc_client::RpcClient;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::IndexerError;

pub use axum::Router;

/// Serves `router` on `listener` until the task is dropped. Each request gets an
/// `x-request-id` (kept if the client sent one) that its log lines carry and its response
/// repeats.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    let router = router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    axum::serve(listener, router).await
}

fn request_span(request: &axum::extract::Request) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok());
    tracing::info_span!("request", id = id.unwrap_or(""), method = %request.method(), path = request.uri().path())
}

#[derive(Clone)]
struct ApiState {
    ledger: Ledger,
    /// The Solana RPC the vault and supply checks read the chain through, if any.
    solana: Option<Arc<RpcClient>>,
}

/// The API over `ledger`; with `solana_rpc`, `/ledger/models` also checks each tokenized
/// model's vault balance and token supply against the chain.
pub fn router(ledger: Ledger, solana_rpc: Option<String>) -> Router {
    let solana = solana_rpc.map(|url| {
        Arc::new(RpcClient::new_with_commitment(
            url,
            solana_commitment_config::CommitmentConfig::confirmed(),
        ))
    });
    Router::new()
        .route("/", get(|| async { Redirect::to("/ledger/") }))
        .route("/ledger", get(|| async { Redirect::to("/ledger/") }))
        .route(
            "/ledger/",
            get(|| async { Html(include_str!("page.html")) }),
        )
        .route("/ledger/audit", get(audit))
        .route("/ledger/models", get(models))
        .route("/ledger/revenue", get(revenue))
        .route("/ledger/buybacks", get(buybacks))
        .route("/ledger/charges", get(charges))
        .route("/ledger/transfers", get(transfers))
        .route("/ledger/cursors", get(cursors))
        .with_state(ApiState { ledger, solana })
}

/// Why a report could not be made, as the HTTP status that says so.
enum ApiError {
    /// The database is away: 503.
    Ledger(ledger::LedgerError),
    /// The chain did not answer: 502.
    Chain(String),
    /// This API was started without a Solana RPC: 501.
    NoSolanaRpc,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = match self {
            ApiError::Ledger(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            ApiError::Chain(e) => (StatusCode::BAD_GATEWAY, e),
            ApiError::NoSolanaRpc => (
                StatusCode::NOT_IMPLEMENTED,
                "vault and supply checks read the chain: serve the API with a Solana RPC \
                 (paywire indexer --listen with [solana] rpc_url in its config)"
                    .into(),
            ),
        };
        (status, Json(json!({ "error": error }))).into_response()
    }
}

impl From<ledger::LedgerError> for ApiError {
    fn from(e: ledger::LedgerError) -> Self {
        ApiError::Ledger(e)
    }
}

impl From<IndexerError> for ApiError {
    fn from(e: IndexerError) -> Self {
        match e {
            IndexerError::Ledger(e) => ApiError::Ledger(e),
            IndexerError::Database(e) => ApiError::Ledger(e.into()),
            other => ApiError::Chain(other.to_string()),
        }
    }
}

/// `?model=&from=&to=` (RFC 3339 times): every charge against the chain.
async fn audit(
    State(ApiState { ledger, .. }): State<ApiState>,
    Query(scope): Query<AuditScope>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let audit = ledger.audit_charges(&scope).await?;
    Ok(Json(
        json!({ "reconciled": audit.reconciled(), "charges": audit.charges, "unexplained_inflows": audit.unexplained_inflows }),
    ))
}

/// `?model=`: each tokenized model's vault and supply, the ledger against the chain.
async fn models(
    State(state): State<ApiState>,
    Query(scope): Query<AuditScope>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rpc = state.solana.as_ref().ok_or(ApiError::NoSolanaRpc)?;
    let checks =
        crate::vault_audit::check_models(&state.ledger, rpc, scope.model.as_deref()).await?;
    Ok(Json(
        checks
            .iter()
            .map(crate::vault_audit::ModelCheck::json)
            .collect(),
    ))
}

async fn revenue(
    State(ApiState { ledger, .. }): State<ApiState>,
) -> Result<Json<Vec<ledger::ModelRevenue>>, ApiError> {
    Ok(Json(ledger.revenue_by_model().await?))
}

async fn buybacks(
    State(ApiState { ledger, .. }): State<ApiState>,
) -> Result<Json<Vec<ledger::BuybackView>>, ApiError> {
    Ok(Json(ledger.buybacks().await?))
}

#[derive(Deserialize)]
struct ChargesQuery {
    model: Option<String>,
    limit: Option<i64>,
}

async fn charges(
    State(ApiState { ledger, .. }): State<ApiState>,
    Query(q): Query<ChargesQuery>,
) -> Result<Json<Vec<ledger::ChargeView>>, ApiError> {
    Ok(Json(
        ledger
            .charges(q.model.as_deref(), q.limit.unwrap_or(100).clamp(1, 1_000))
            .await?,
    ))
}

#[derive(Deserialize)]
struct TransfersQuery {
    tx: Option<String>,
    owner: Option<String>,
    limit: Option<i64>,
}

async fn transfers(
    State(ApiState { ledger, .. }): State<ApiState>,
    Query(q): Query<TransfersQuery>,
) -> Result<Json<Vec<ledger::TransferView>>, ApiError> {
    Ok(Json(
        ledger
            .transfers(
                q.tx.as_deref(),
                q.owner.as_deref(),
                q.limit.unwrap_or(100).clamp(1, 1_000),
            )
            .await?,
    ))
}

async fn cursors(
    State(ApiState { ledger, .. }): State<ApiState>,
) -> Result<Json<Vec<ledger::CursorView>>, ApiError> {
    Ok(Json(ledger.cursors().await?))
}
