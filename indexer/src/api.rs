//! The ledger's read-only HTTP API, served next to the indexer (`paywire indexer --listen`):
//! `GET /ledger/audit`, `/ledger/charges`, `/ledger/transfers`, `/ledger/cursors`.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json,
};
use ledger::{AuditScope, Ledger};
use serde::Deserialize;
use serde_json::json;

pub use axum::Router;

/// Serves `router` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}

pub fn router(ledger: Ledger) -> Router {
    Router::new()
        .route("/ledger/audit", get(audit))
        .route("/ledger/charges", get(charges))
        .route("/ledger/transfers", get(transfers))
        .route("/ledger/cursors", get(cursors))
        .with_state(ledger)
}

/// A database failure, as a 503 saying so.
struct Unavailable(ledger::LedgerError);

impl IntoResponse for Unavailable {
    fn into_response(self) -> Response {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": self.0.to_string() })),
        )
            .into_response()
    }
}

impl From<ledger::LedgerError> for Unavailable {
    fn from(e: ledger::LedgerError) -> Self {
        Unavailable(e)
    }
}

/// `?model=&from=&to=` (RFC 3339 times): every charge against the chain.
async fn audit(
    State(ledger): State<Ledger>,
    Query(scope): Query<AuditScope>,
) -> Result<Json<serde_json::Value>, Unavailable> {
    let audit = ledger.audit_charges(&scope).await?;
    Ok(Json(
        json!({ "reconciled": audit.reconciled(), "charges": audit.charges, "unexplained_inflows": audit.unexplained_inflows }),
    ))
}

#[derive(Deserialize)]
struct ChargesQuery {
    model: Option<String>,
    limit: Option<i64>,
}

async fn charges(
    State(ledger): State<Ledger>,
    Query(q): Query<ChargesQuery>,
) -> Result<Json<Vec<ledger::ChargeView>>, Unavailable> {
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
    State(ledger): State<Ledger>,
    Query(q): Query<TransfersQuery>,
) -> Result<Json<Vec<ledger::TransferView>>, Unavailable> {
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
    State(ledger): State<Ledger>,
) -> Result<Json<Vec<ledger::CursorView>>, Unavailable> {
    Ok(Json(ledger.cursors().await?))
}
