//! Who verifies and settles the gateway's payments: the built-in [`Facilitator`], or a remote
//! facilitator reached over the x402 facilitator API (`/supported`, `/verify`, `/settle`).
//! With a remote one the gateway still checks everything it can itself (quote, price,
//! payTo), and a payment is still accepted once: its quote (bound into the Solana memo) and
//! its EIP-3009 nonce are unique in the ledger.

use std::sync::Arc;

use axum::http::StatusCode;
use ledger::Chain;
use serde_json::Value;

use super::{
    facilitator::{Facilitator, PaymentId, PaymentKey, Verified},
    wire::{
        FacilitatorRequest, PaymentPayload, PaymentRequirements, SettlementResponse,
        VerifyResponse, X402_VERSION,
    },
    Reason, Rejection,
};

pub enum Payments {
    Local(Arc<Facilitator>),
    Remote(Remote),
}

pub struct Remote {
    url: String,
    /// The operator's facilitator key, sent as a bearer token.
    key: Option<String>,
    http: reqwest::Client,
    /// (network, chain, the facilitator's fee payer there)
    networks: Vec<(String, Chain, Option<String>)>,
}

/// A payment the facilitator found valid.
pub struct Accepted {
    pub key: PaymentKey,
    verified: Option<Verified>,
}

fn unreachable_facilitator(e: impl std::fmt::Display) -> Rejection {
    tracing::warn!(error = %super::redact(&e.to_string()), "calling the remote facilitator");
    Rejection::new(
        Reason::UnexpectedVerifyError,
        "the facilitator did not answer; retry shortly",
    )
    .with_status(StatusCode::BAD_GATEWAY)
}

impl Remote {
    /// Asks `url`'s `/supported` for each of `networks` (CAIP-2 id, chain) and learns its
    /// Solana fee payer.
    pub async fn connect(
        url: &str,
        key: Option<&str>,
        networks: &[(String, Chain)],
    ) -> Result<Self, String> {
        let url = url.trim_end_matches('/').to_string();
        let http = reqwest::Client::new();
        let mut request = http.get(format!("{url}/supported"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let supported: Value = request
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("facilitator {url}/supported: {e}"))?
            .json()
            .await
            .map_err(|e| format!("facilitator {url}/supported: {e}"))?;
        let kinds = supported["kinds"].as_array().cloned().unwrap_or_default();
        let mut known = Vec::new();
        for (network, chain) in networks {
            let kind = kinds
                .iter()
                .find(|k| k["scheme"] == "exact" && k["network"] == network.as_str())
                .ok_or_else(|| {
                    format!("facilitator {url} does not settle exact payments on {network}")
                })?;
            let fee_payer = kind["extra"]["feePayer"].as_str().map(str::to_string);
            if *chain == Chain::Solana && fee_payer.is_none() {
                return Err(format!("facilitator {url} names no feePayer for {network}"));
            }
            known.push((network.clone(), *chain, fee_payer));
        }
        Ok(Remote {
            url,
            key: key.map(str::to_string),
            http,
            networks: known,
        })
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        payment: &PaymentPayload,
        required: &PaymentRequirements,
    ) -> Result<T, Rejection> {
        let request = FacilitatorRequest {
            x402_version: X402_VERSION,
            payment_payload: payment.clone(),
            payment_requirements: required.clone(),
        };
        let mut call = self
            .http
            .post(format!("{}/{path}", self.url))
            .json(&request);
        if let Some(key) = &self.key {
            call = call.bearer_auth(key);
        }
        call.send()
            .await
            .map_err(unreachable_facilitator)?
            .json()
            .await
            .map_err(unreachable_facilitator)
    }
}

impl Payments {
    pub fn chain_of(&self, network: &str) -> Option<Chain> {
        match self {
            Payments::Local(f) => f.chain_of(network),
            Payments::Remote(r) => r
                .networks
                .iter()
                .find(|(n, _, _)| n == network)
                .map(|(_, c, _)| *c),
        }
    }

    /// The fee payer Solana payments must name (`extra.feePayer`).
    pub fn solana_fee_payer(&self) -> Option<String> {
        match self {
            Payments::Local(f) => f.svm.as_ref().map(|s| s.fee_payer().to_string()),
            Payments::Remote(r) => r
                .networks
                .iter()
                .find(|(_, c, _)| *c == Chain::Solana)
                .and_then(|(_, _, f)| f.clone()),
        }
    }

    /// What identifies `payment` before it is verified (see [`Facilitator::key_of`]); a
    /// remote facilitator's Solana transaction id is not known until it settles.
    pub fn key_of(&self, payment: &PaymentPayload) -> Option<PaymentKey> {
        match self {
            Payments::Local(f) => f.key_of(payment),
            Payments::Remote(_) => Facilitator::eip3009_key(payment),
        }
    }

    pub async fn verify(
        &self,
        payment: &PaymentPayload,
        required: &PaymentRequirements,
    ) -> Result<Accepted, Rejection> {
        match self {
            Payments::Local(f) => {
                let verified = f.verify(payment, required).await?;
                Ok(Accepted {
                    key: verified.key(),
                    verified: Some(verified),
                })
            }
            Payments::Remote(r) => {
                let chain = self.chain_of(&required.network).ok_or_else(|| {
                    Rejection::new(
                        Reason::InvalidNetwork,
                        format!("{} is not accepted", required.network),
                    )
                })?;
                let answer: VerifyResponse = r.call("verify", payment, required).await?;
                if !answer.is_valid {
                    let reason = answer
                        .invalid_reason
                        .unwrap_or_else(|| "invalid_payload".into());
                    return Err(Rejection::new(
                        Reason::InvalidPayload,
                        format!(
                            "the facilitator refused the payment: {reason} {}",
                            answer.invalid_message.unwrap_or_default()
                        ),
                    ));
                }
                let payer = answer.payer.ok_or_else(|| {
                    Rejection::new(
                        Reason::UnexpectedVerifyError,
                        "the facilitator named no payer",
                    )
                })?;
                // The ledger spells a Base payer EIP-55, as a sign-in does: a facilitator that
                // echoes the address lowercase must not file its credit under another name.
                let payer = match chain {
                    Chain::Base => payer
                        .parse::<alloy::primitives::Address>()
                        .map(|a| a.to_string())
                        .map_err(|_| {
                            Rejection::new(
                                Reason::UnexpectedVerifyError,
                                format!("the facilitator named payer {payer}, not an address"),
                            )
                        })?,
                    Chain::Solana => payer,
                };
                let id = Facilitator::eip3009_key(payment).map_or(PaymentId::Unknown, |k| k.id);
                Ok(Accepted {
                    key: PaymentKey { chain, id, payer },
                    verified: None,
                })
            }
        }
    }

    /// Settles an accepted payment; returns the settlement transaction.
    pub async fn settle(
        &self,
        accepted: &Accepted,
        payment: &PaymentPayload,
        required: &PaymentRequirements,
    ) -> Result<String, Rejection> {
        match (self, &accepted.verified) {
            (Payments::Local(f), Some(verified)) => f.settle(verified).await,
            (Payments::Remote(r), _) => {
                let answer: SettlementResponse = r.call("settle", payment, required).await?;
                if !answer.success || answer.transaction.is_empty() {
                    return Err(Rejection::new(
                        Reason::UnexpectedSettleError,
                        format!(
                            "the facilitator did not settle: {}",
                            answer.error_reason.unwrap_or_default()
                        ),
                    ));
                }
                Ok(answer.transaction)
            }
            (Payments::Local(_), None) => {
                unreachable!("a locally accepted payment carries its verification")
            }
        }
    }
}
