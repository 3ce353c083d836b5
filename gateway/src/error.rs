//! The gateway's one error type; each variant knows its HTTP status.

use axum::{
    extract::rejection::BytesRejection,
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
    #[error("the request body is over {limit} bytes; shorten the prompt")]
    TooLarge { limit: usize },
    #[error("unknown model {0:?}; GET /v1/models lists them")]
    UnknownModel(String),
    /// No valid credential (an API key that is unknown, revoked or expired).
    #[error("{0}")]
    Unauthorized(String),
    /// A valid credential that may not do this (a key's limit or model list).
    #[error("{0}")]
    Forbidden(String),
    /// The balance does not cover the call, for clients that cannot pay per call (keys).
    #[error("{0}")]
    InsufficientBalance(String),
    #[error("{0}")]
    NotFound(String),
    /// Something this gateway is not set up to do.
    #[error("{0}")]
    Unavailable(String),
    #[error("too many requests from {who}; retry in {retry_after_secs} s")]
    RateLimited { who: String, retry_after_secs: u64 },
    #[error("internal error")]
    Internal,
    #[error("chain: {0}")]
    Chain(String),
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GatewayError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::UnknownModel(_) | GatewayError::NotFound(_) => StatusCode::NOT_FOUND,
            GatewayError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            GatewayError::Forbidden(_) => StatusCode::FORBIDDEN,
            GatewayError::InsufficientBalance(_) => StatusCode::PAYMENT_REQUIRED,
            GatewayError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::Chain(_) => StatusCode::BAD_GATEWAY,
            GatewayError::Config(_) | GatewayError::Ledger(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<BytesRejection> for GatewayError {
    fn from(rejection: BytesRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => GatewayError::TooLarge {
                limit: crate::request::MAX_BODY_BYTES,
            },
            _ => GatewayError::BadRequest(format!("reading the body: {}", rejection.body_text())),
        }
    }
}

/// OpenAI's error shape, so OpenAI clients show the message.
impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        // What failed inside (a database error, an RPC URL with its key) goes to the log,
        // which carries the request id; the client gets what to do next.
        let message = match &self {
            GatewayError::Ledger(_) => "the ledger is unavailable; retry shortly".to_string(),
            GatewayError::Chain(_) => "the chain did not answer; retry shortly".to_string(),
            GatewayError::Config(_) | GatewayError::Internal => {
                "the gateway failed; retry, and report the x-request-id if it persists".to_string()
            }
            other => other.to_string(),
        };
        if status.is_server_error() {
            tracing::error!(error = %x402::redact(&self.to_string()), "request failed");
        }
        let mut response = (
            status,
            Json(json!({ "error": { "message": message, "type": status.canonical_reason(), "code": status.as_u16() } })),
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
