//! The gateway's one error type; each variant knows its HTTP status.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("unknown model {0:?}; GET /v1/models lists them")]
    UnknownModel(String),
    #[error("too many requests from {payer}; retry in {retry_after_secs} s")]
    RateLimited {
        payer: String,
        retry_after_secs: u64,
    },
    #[error("chain: {0}")]
    Chain(String),
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GatewayError::UnknownModel(_) => StatusCode::NOT_FOUND,
            GatewayError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::Chain(_) => StatusCode::BAD_GATEWAY,
            GatewayError::Config(_) | GatewayError::Ledger(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// OpenAI's error shape, so OpenAI clients show the message.
impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!("{self}");
        }
        let mut response = (
            status,
            Json(json!({ "error": { "message": self.to_string(), "type": status.canonical_reason(), "code": status.as_u16() } })),
        )
            .into_response();
        if let GatewayError::RateLimited {
            retry_after_secs, ..
        } = self
        {
            response
                .headers_mut()
                .insert("retry-after", retry_after_secs.into());
        }
        response
    }
}
