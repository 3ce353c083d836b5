//! x402: wire types ([`wire`]), the `exact` scheme on Solana ([`svm`]) and on Base with
//! EIP-3009 ([`evm`]), and the facilitator that verifies and settles with them
//! ([`facilitator`]).

pub mod client;
pub mod eip3009;
pub mod evm;
pub mod facilitator;
pub mod payments;
mod reason;
pub mod sender;
pub mod siwx;
pub mod svm;
pub mod wire;

pub use reason::Reason;

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted_from_error_texts() {
        let text = "error sending request for url (https://rpc.example/?api-key=SECRET) : refused";
        let redacted = super::redact(text);
        assert!(
            !redacted.contains("SECRET") && !redacted.contains("rpc.example"),
            "{redacted}"
        );
        assert!(redacted.contains("error sending request") && redacted.contains("refused"));
    }
}

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
            Reason::UnsupportedScheme,
            "only the exact scheme is accepted",
        ));
    }
    if payment.accepted.network != network || required.network != network {
        return Err(Rejection::new(
            Reason::InvalidNetwork,
            format!(
                "this facilitator settles on {network}, not {}",
                payment.accepted.network
            ),
        ));
    }
    Ok(())
}

/// `text` without the URLs in it: RPC URLs carry API keys, and error texts (reqwest's
/// "error sending request for url (…)") repeat them.
pub fn redact(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(
            |word| match word.find("http://").or(word.find("https://")) {
                Some(at) => {
                    let tail = word[at..].trim_end_matches(|c: char| c.is_whitespace() || c == ')');
                    word.replacen(tail, "<url>", 1)
                }
                None => word.to_string(),
            },
        )
        .collect()
}

/// A chain that did not answer while verifying: the detail goes to the log, never to the
/// client.
pub(crate) fn chain_unavailable(doing: &str, error: &dyn std::fmt::Display) -> Rejection {
    tracing::warn!(error = %redact(&error.to_string()), "{doing}");
    Rejection::new(
        Reason::UnexpectedVerifyError,
        format!("{doing}: the chain did not answer; retry shortly"),
    )
    .with_status(StatusCode::BAD_GATEWAY)
}

/// Why a payment was refused: an x402 error code, a sentence saying what to do, and the
/// HTTP status (400 for a payload that cannot be read, 402 for a payment that is not good).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    pub code: Reason,
    pub message: String,
    pub status: StatusCode,
}

impl Rejection {
    pub fn new(code: Reason, message: impl Into<String>) -> Self {
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
            ..Self::new(Reason::InvalidPayload, message)
        }
    }

    pub fn invalid_payload(message: impl Into<String>) -> Self {
        Self::new(Reason::InvalidPayload, message)
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}
