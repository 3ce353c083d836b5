//! x402: wire types ([`wire`]), the `exact` scheme on Solana ([`svm`]) and on Base with
//! EIP-3009 ([`evm`]), and the facilitator that verifies and settles with them
//! ([`facilitator`]).

pub mod client;
pub mod evm;
pub mod facilitator;
pub mod payments;
pub mod svm;
pub mod wire;

use axum::http::StatusCode;

use wire::{PaymentPayload, PaymentRequirements};

/// What both `exact` schemes check first: the scheme, and that the payment is for the network
/// this side settles on.
fn check_exact_on(
    payment: &PaymentPayload,
    required: &PaymentRequirements,
    network: &str,
) -> Result<(), Rejection> {
    if required.scheme != "exact" || payment.accepted.scheme != "exact" {
        return Err(Rejection::new(
            "unsupported_scheme",
            "only the exact scheme is accepted",
        ));
    }
    if payment.accepted.network != network || required.network != network {
        return Err(Rejection::new(
            "invalid_network",
            format!(
                "this facilitator settles on {network}, not {}",
                payment.accepted.network
            ),
        ));
    }
    Ok(())
}

/// Why a payment was refused: an x402 error code, a sentence saying what to do, and the
/// HTTP status (400 for a payload that cannot be read, 402 for a payment that is not good).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
}

impl Rejection {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
            status: StatusCode::PAYMENT_REQUIRED,
        }
    }

    /// A header that is not base64 JSON of an x402 payload.
    pub fn malformed(message: impl Into<String>) -> Self {
        Rejection {
            status: StatusCode::BAD_REQUEST,
            ..Self::new("invalid_payload", message)
        }
    }

    pub fn invalid_payload(message: impl Into<String>) -> Self {
        Self::new("invalid_payload", message)
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}
