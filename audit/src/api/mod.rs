//! The ledger's read-only HTTP API, served next to the indexer (`paywire indexer --listen`)
//! or alone (`paywire audit --serve`): `GET /ledger/audit` (the [`Report`], as `paywire audit
//! --format json` prints it), `/ledger/models`, `/ledger/revenue`, `/ledger/buybacks`,
//! `/ledger/charges`, `/ledger/transfers`, `/ledger/cursors`, and the page that charts them at
//! `/ledger/`. A database that is away is a 503, a chain that fails a 502 and one that does not
//! answer within 5 s a 504: never an empty report that could pass for a clean one, and never a
//! page request held while a chain read hangs.

use std::{sync::LazyLock, time::Duration};

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
    Json,
};
use ledger::{AuditScope, FlowCause, Ledger};
use serde::Deserialize;
use serde_json::json;
use strum::VariantArray;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{vaults::OUTFLOW_COLUMNS, AuditError, ModelCheck, Report, VaultAudit};

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

/// The longest `/ledger/models` reads the chain before it answers 504.
const CHAIN_DEADLINE: Duration = Duration::from_secs(5);
/// How long its checks that do not add up wait for the ledger to catch up: within the deadline,
/// so that a ledger behind the chain is a report (that does not add up), not a 504.
const CHAIN_CATCH_UP: Duration = Duration::from_secs(4);

#[derive(Clone)]
struct ApiState {
    ledger: Ledger,
    /// The vault and supply checks against the chain, if this API reads one.
    vaults: Option<VaultAudit>,
}

/// The page, with the flow causes it reports by named as the ledger names them (one vocabulary:
/// `ledger::FlowCause`), so the page never retypes them.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    let cause: serde_json::Map<_, _> = FlowCause::VARIANTS
        .iter()
        .map(|c| (format!("{c:?}"), json!(c.as_ref())))
        .collect();
    include_str!("page.html")
        .replace(
            "/*FLOW_CAUSE*/",
            &serde_json::Value::Object(cause).to_string(),
        )
        .replace(
            "/*OUTFLOW_COLUMNS*/",
            &json!(OUTFLOW_COLUMNS.map(<&str>::from)).to_string(),
        )
});

/// The API over `ledger`; with `vaults`, `/ledger/models` also checks each tokenized model's
/// vault balance and token supply against the chain (within 5 s).
pub fn router(ledger: Ledger, vaults: Option<VaultAudit>) -> Router {
    let vaults = vaults.map(|v| v.catching_up_for(CHAIN_CATCH_UP));
    Router::new()
        .route("/", get(|| async { Redirect::to("/ledger/") }))
        .route("/ledger", get(|| async { Redirect::to("/ledger/") }))
        .route("/ledger/", get(|| async { Html(PAGE.as_str()) }))
        .route("/ledger/audit", get(audit))
        .route("/ledger/models", get(models))
        .route("/ledger/revenue", get(revenue))
        .route("/ledger/buybacks", get(buybacks))
        .route("/ledger/charges", get(charges))
        .route("/ledger/balances", get(balances))
        .route("/ledger/transfers", get(transfers))
        .route("/ledger/cursors", get(cursors))
        .with_state(ApiState { ledger, vaults })
}

/// Why a report could not be made, as the HTTP status that says so.
enum ApiError {
    /// The database is away: 503.
    Ledger(ledger::LedgerError),
    /// The chain failed: 502.
    Chain(String),
    /// The chain did not answer in time: 504.
    ChainTimeout,
    /// This API was started without a Solana RPC: 501.
    NoSolanaRpc,
    /// The query names a model nothing knows: 404.
    UnknownModel(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = match self {
            ApiError::Ledger(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            ApiError::Chain(e) => (StatusCode::BAD_GATEWAY, e),
            ApiError::ChainTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the chain did not answer within {} s: the vault and supply checks gave up \
                     (the Solana RPC is slow or away; try again)",
                    CHAIN_DEADLINE.as_secs()
                ),
            ),
            ApiError::UnknownModel(e) => (StatusCode::NOT_FOUND, e),
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

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Ledger(e) => ApiError::Ledger(e),
            AuditError::Chain(e) => ApiError::Chain(e),
            e @ AuditError::UnknownModel(_) => ApiError::UnknownModel(e.to_string()),
        }
    }
}

/// `?model=&from=&to=` (RFC 3339 times): the report `paywire audit --format json` prints, with
/// the same inputs: the vault and supply checks too when this API reads a chain (`models` null
/// when it does not, as the CLI without `--solana-rpc`), so both say `reconciled` alike.
async fn audit(
    State(state): State<ApiState>,
    Query(scope): Query<AuditScope>,
) -> Result<Json<Report>, ApiError> {
    let chain = match &state.vaults {
        Some(vaults) => {
            Some(within_deadline(vaults.check(&state.ledger, scope.model.as_deref())).await?)
        }
        None => None,
    };
    Ok(Json(Report::read(&state.ledger, &scope, chain).await?))
}

/// `checks`, or a 504 when the chain does not answer within the deadline.
async fn within_deadline<T>(
    checks: impl std::future::Future<Output = Result<T, AuditError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(CHAIN_DEADLINE, checks).await {
        Ok(checks) => Ok(checks?),
        Err(_) => Err(ApiError::ChainTimeout),
    }
}

/// `?model=`: each tokenized model's vault and supply, the ledger against the chain; 504 when
/// the chain does not answer within 5 s.
async fn models(
    State(state): State<ApiState>,
    Query(scope): Query<AuditScope>,
) -> Result<Json<Vec<ModelCheck>>, ApiError> {
    let vaults = state.vaults.as_ref().ok_or(ApiError::NoSolanaRpc)?;
    Ok(Json(
        within_deadline(vaults.check_models(&state.ledger, scope.model.as_deref())).await?,
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
struct BalancesQuery {
    payer: Option<String>,
    limit: Option<i64>,
}

/// `?payer=&limit=`: payer balances, largest first — what the treasuries owe, per payer.
async fn balances(
    State(ApiState { ledger, .. }): State<ApiState>,
    Query(q): Query<BalancesQuery>,
) -> Result<Json<Vec<ledger::BalanceView>>, ApiError> {
    Ok(Json(
        ledger
            .balances(q.payer.as_deref(), q.limit.unwrap_or(100).clamp(1, 1_000))
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
