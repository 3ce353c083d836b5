//! x402 wire types (v2, with v1 payloads accepted) and the base64-JSON header codec.

use base64::{engine::general_purpose::STANDARD, Engine};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

use super::{Reason, Rejection};

pub const X402_VERSION: u8 = 2;
/// Request header carrying a v2 payment.
pub const PAYMENT_SIGNATURE: &str = "payment-signature";
/// Request header carrying a v1 payment.
pub const X_PAYMENT: &str = "x-payment";
pub const PAYMENT_REQUIRED: &str = "payment-required";
pub const PAYMENT_RESPONSE: &str = "payment-response";
/// v1's response header.
pub const X_PAYMENT_RESPONSE: &str = "x-payment-response";

/// One way to pay that the server accepts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirements {
    pub scheme: String,
    /// CAIP-2 network id.
    pub network: String,
    /// Atomic units, as a decimal string.
    pub amount: String,
    pub asset: String,
    pub pay_to: String,
    pub max_timeout_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

impl PaymentRequirements {
    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra.as_ref()?.get(key)?.as_str()
    }

    pub fn amount_units(&self) -> Result<u64, Rejection> {
        self.amount.parse().map_err(|_| {
            Rejection::invalid_payload(format!("amount {:?} is not an integer", self.amount))
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInfo {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// The `PAYMENT-REQUIRED` header of a 402, and its body but for `error` (see
/// [`PaymentRequired::body`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequired {
    pub x402_version: u8,
    /// Why payment is required: a string in the header, OpenAI's `{ "message": … }` in the
    /// body; either reads as the string.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "error_text"
    )]
    pub error: Option<String>,
    pub resource: ResourceInfo,
    pub accepts: Vec<PaymentRequirements>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Value>,
}

impl PaymentRequired {
    /// The 402's (or 400's) JSON body: the header's fields, with `error` in OpenAI's shape
    /// (`{ "message", "type", "code" }`) so that OpenAI SDKs show it as the exception's text.
    /// x402 v2 clients read the header; a v1 client could not pay from this body anyway (v2
    /// requirements).
    pub fn body(&self, kind: &str, code: &str) -> Value {
        let mut body = serde_json::to_value(self).expect("plain data serializes");
        if let Some(message) = &self.error {
            body["error"] = serde_json::json!({
                "message": message,
                "type": kind,
                "code": code,
            });
        }
        body
    }
}

fn error_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Plain(String),
        OpenAi { message: String },
    }
    Ok(Option::<Text>::deserialize(d)?.map(|text| match text {
        Text::Plain(s) | Text::OpenAi { message: s } => s,
    }))
}

/// What the client sends back: the requirements it chose and the scheme's payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    pub x402_version: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceInfo>,
    pub accepted: PaymentRequirements,
    pub payload: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Value>,
}

impl PaymentPayload {
    /// The `payment-identifier` extension's id, if the client sent one.
    pub fn payment_id(&self) -> Result<Option<String>, Rejection> {
        let Some(id) = self
            .extensions
            .as_ref()
            .and_then(|e| e.get("payment-identifier"))
            .and_then(|e| e.get("info").unwrap_or(e).get("id"))
        else {
            return Ok(None);
        };
        let id = id
            .as_str()
            .ok_or_else(|| Rejection::invalid_payload("payment-identifier id must be a string"))?;
        if !(16..=128).contains(&id.len()) {
            return Err(Rejection::invalid_payload(
                "payment-identifier id must be 16 to 128 characters",
            ));
        }
        Ok(Some(id.to_string()))
    }
}

/// A v1 payment: no `accepted`, the scheme and network inline.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentPayloadV1 {
    scheme: String,
    network: String,
    payload: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementResponse {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    pub transaction: String,
    pub network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    pub is_valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
}

/// `/facilitator/verify` and `/facilitator/settle` requests.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FacilitatorRequest {
    pub x402_version: u8,
    pub payment_payload: PaymentPayload,
    pub payment_requirements: PaymentRequirements,
}

pub fn encode_header(value: &impl Serialize) -> String {
    STANDARD.encode(serde_json::to_vec(value).expect("wire types serialize"))
}

pub fn decode_header<T: DeserializeOwned>(header: &str) -> Result<T, Rejection> {
    let bytes = STANDARD
        .decode(header.trim())
        .map_err(|e| Rejection::malformed(format!("the payment header is not base64: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Rejection::malformed(format!("the payment header is not an x402 payload: {e}"))
    })
}

/// Decodes a payment header. A v1 payload is matched to the offered requirements by scheme
/// and network (v1 network names accepted) and returned in the v2 shape.
pub fn decode_payment(
    header: &str,
    offered: &[PaymentRequirements],
) -> Result<PaymentPayload, Rejection> {
    let value: Value = decode_header(header)?;
    match value.get("x402Version").and_then(Value::as_u64) {
        Some(2) => serde_json::from_value(value).map_err(|e| {
            Rejection::malformed(format!("the payment header is not an x402 v2 payload: {e}"))
        }),
        Some(1) => {
            let v1: PaymentPayloadV1 = serde_json::from_value(value).map_err(|e| {
                Rejection::malformed(format!("the payment header is not an x402 v1 payload: {e}"))
            })?;
            let accepted = offered
                .iter()
                .find(|r| {
                    r.scheme == v1.scheme
                        && (r.network == v1.network
                            || v1_network_name(&r.network) == Some(v1.network.as_str()))
                })
                .cloned()
                .ok_or_else(|| {
                    Rejection::new(
                        Reason::InvalidNetwork,
                        format!("no offer for {} on {}", v1.scheme, v1.network),
                    )
                })?;
            Ok(PaymentPayload {
                x402_version: 1,
                resource: None,
                accepted,
                payload: v1.payload,
                extensions: None,
            })
        }
        other => Err(Rejection {
            code: Reason::InvalidX402Version,
            ..Rejection::malformed(format!("x402Version {other:?} is not supported (1 or 2)"))
        }),
    }
}

/// The v1 name of a CAIP-2 network, for the networks v1 named.
fn v1_network_name(caip2: &str) -> Option<&'static str> {
    Some(match caip2 {
        "eip155:8453" => "base",
        "eip155:84532" => "base-sepolia",
        "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp" => "solana",
        "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1" => "solana-devnet",
        _ => return None,
    })
}
