//! The built-in facilitator: verifies with the scheme of the requirement's network, settles
//! once (the payment is claimed in Postgres before it is sent, so no two processes settle
//! it), and serves the x402 facilitator API (`/facilitator/supported|verify|settle`).

use std::sync::Arc;

use axum::{
    extract::State,
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use ledger::{Chain, Ledger};
use serde_json::{json, Value};
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;

use super::{
    evm::{EvmExact, VerifiedEvm},
    svm::{SvmExact, VerifiedSvm},
    wire::{
        FacilitatorRequest, PaymentPayload, PaymentRequirements, SettlementResponse,
        VerifyResponse, X402_VERSION,
    },
    Rejection,
};

pub struct Facilitator {
    pub svm: Option<SvmExact>,
    pub evm: Option<EvmExact>,
    ledger: Ledger,
}

/// A payment that passed verification.
#[derive(Clone, Debug)]
pub enum Verified {
    Solana(VerifiedSvm),
    Base(VerifiedEvm),
}

/// What identifies a payment on its chain, derivable from the payload alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentKey {
    pub chain: Chain,
    /// Solana: the transaction id the settlement will have.
    pub settlement_tx: Option<String>,
    /// Base: the EIP-3009 nonce.
    pub nonce: Option<String>,
    /// As claimed by the payload; authenticated only by verification.
    pub payer: String,
}

impl PaymentKey {
    fn settlement_id(&self) -> String {
        match (&self.settlement_tx, &self.nonce) {
            (Some(tx), _) => tx.clone(),
            (None, Some(nonce)) => format!("{}:{nonce}", self.payer),
            (None, None) => unreachable!("a payment key has a transaction or a nonce"),
        }
    }
}

impl Verified {
    pub fn key(&self) -> PaymentKey {
        match self {
            Verified::Solana(v) => PaymentKey {
                chain: Chain::Solana,
                settlement_tx: Some(v.signature.to_string()),
                nonce: None,
                payer: v.payer.to_string(),
            },
            Verified::Base(v) => PaymentKey {
                chain: Chain::Base,
                settlement_tx: None,
                nonce: Some(v.authorization.nonce.to_string()),
                payer: v.payer.to_string(),
            },
        }
    }

    pub fn amount(&self) -> u64 {
        match self {
            Verified::Solana(v) => v.amount,
            Verified::Base(v) => v.amount,
        }
    }
}

impl Facilitator {
    pub fn new(svm: Option<SvmExact>, evm: Option<EvmExact>, ledger: Ledger) -> Self {
        Facilitator { svm, evm, ledger }
    }

    pub fn chain_of(&self, network: &str) -> Option<Chain> {
        if self
            .svm
            .as_ref()
            .is_some_and(|s| s.config.network == network)
        {
            Some(Chain::Solana)
        } else if self
            .evm
            .as_ref()
            .is_some_and(|e| e.config.network == network)
        {
            Some(Chain::Base)
        } else {
            None
        }
    }

    fn unsupported(network: &str) -> Rejection {
        Rejection::new(
            "invalid_network",
            format!("network {network} is not accepted here"),
        )
    }

    pub async fn verify(
        &self,
        payment: &PaymentPayload,
        required: &PaymentRequirements,
    ) -> Result<Verified, Rejection> {
        match self.chain_of(&required.network) {
            Some(Chain::Solana) => Ok(Verified::Solana(
                self.svm
                    .as_ref()
                    .expect("checked")
                    .verify(payment, required)
                    .await?,
            )),
            Some(Chain::Base) => Ok(Verified::Base(
                self.evm
                    .as_ref()
                    .expect("checked")
                    .verify(payment, required)
                    .await?,
            )),
            None => Err(Self::unsupported(&required.network)),
        }
    }

    /// The payment's key without verifying it: finds an earlier settlement of the very same
    /// payment (a client retrying with the header it already sent).
    pub fn key_of(&self, payment: &PaymentPayload) -> Option<PaymentKey> {
        match self.chain_of(&payment.accepted.network)? {
            Chain::Solana => {
                let svm = self.svm.as_ref()?;
                let bytes = STANDARD
                    .decode(payment.payload.get("transaction")?.as_str()?)
                    .ok()?;
                let tx: VersionedTransaction = bincode::deserialize(&bytes).ok()?;
                Some(PaymentKey {
                    chain: Chain::Solana,
                    // ed25519 signatures are deterministic: this is the id the settlement has.
                    settlement_tx: Some(
                        svm.config
                            .fee_payer
                            .sign_message(&tx.message.serialize())
                            .to_string(),
                    ),
                    nonce: None,
                    payer: tx.message.static_account_keys().get(1)?.to_string(),
                })
            }
            Chain::Base => Self::eip3009_key(payment),
        }
    }

    /// The payer and nonce of an EIP-3009 payment, read from its payload.
    pub fn eip3009_key(payment: &PaymentPayload) -> Option<PaymentKey> {
        let auth = payment.payload.get("authorization")?;
        let payer: alloy::primitives::Address = auth.get("from")?.as_str()?.parse().ok()?;
        let nonce: alloy::primitives::B256 = auth.get("nonce")?.as_str()?.parse().ok()?;
        Some(PaymentKey {
            chain: Chain::Base,
            settlement_tx: None,
            nonce: Some(nonce.to_string()),
            payer: payer.to_string(),
        })
    }

    /// Sends a verified payment once; returns the settlement transaction.
    pub async fn settle(&self, verified: &Verified) -> Result<String, Rejection> {
        let key = verified.key();
        let id = key.settlement_id();
        let claimed = self
            .ledger
            .claim_settlement(key.chain, &id, &key.payer, verified.amount())
            .await
            .map_err(|e| {
                Rejection::new(
                    "unexpected_settle_error",
                    format!("recording the settlement: {e}"),
                )
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
            })?;
        if !claimed {
            return Err(Rejection::new(
                "duplicate_settlement",
                "this payment has already been settled",
            ));
        }
        let outcome = match verified {
            Verified::Solana(v) => self
                .svm
                .as_ref()
                .expect("verified on solana")
                .settle(v)
                .await
                .map(|()| v.signature.to_string()),
            Verified::Base(v) => self.evm.as_ref().expect("verified on base").settle(v).await,
        };
        let recorded = match &outcome {
            Ok(tx) => self.ledger.settlement_done(key.chain, &id, Ok(tx)).await,
            Err(e) => {
                self.ledger
                    .settlement_done(key.chain, &id, Err(&e.to_string()))
                    .await
            }
        };
        if let Err(e) = recorded {
            tracing::error!("recording settlement {id}: {e}");
        }
        outcome
    }

    /// `GET /facilitator/supported`.
    pub fn supported(&self) -> Value {
        let mut kinds = Vec::new();
        let mut signers = serde_json::Map::new();
        if let Some(svm) = &self.svm {
            kinds.push(json!({ "x402Version": X402_VERSION, "scheme": "exact", "network": svm.config.network, "extra": { "feePayer": svm.fee_payer().to_string() } }));
            signers.insert("solana:*".into(), json!([svm.fee_payer().to_string()]));
        }
        if let Some(evm) = &self.evm {
            kinds.push(json!({ "x402Version": X402_VERSION, "scheme": "exact", "network": evm.config.network }));
            signers.insert(
                "eip155:*".into(),
                json!([evm.config.facilitator.address().to_string()]),
            );
        }
        json!({ "kinds": kinds, "extensions": ["payment-identifier"], "signers": signers })
    }
}

/// The facilitator API, for other resource servers.
pub fn routes(facilitator: Arc<Facilitator>) -> Router {
    Router::new()
        .route(
            "/facilitator/supported",
            get(|State(f): State<Arc<Facilitator>>| async move { Json(f.supported()) }),
        )
        .route("/facilitator/verify", post(verify))
        .route("/facilitator/settle", post(settle))
        .with_state(facilitator)
}

fn payer_of(verified: &Verified) -> String {
    verified.key().payer
}

async fn verify(
    State(f): State<Arc<Facilitator>>,
    Json(request): Json<FacilitatorRequest>,
) -> (StatusCode, Json<VerifyResponse>) {
    let result = check_accepted(&request).and(Ok(()));
    let result = match result {
        Ok(()) => {
            f.verify(&request.payment_payload, &request.payment_requirements)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => (
            StatusCode::OK,
            Json(VerifyResponse {
                is_valid: true,
                invalid_reason: None,
                invalid_message: None,
                payer: Some(payer_of(&v)),
            }),
        ),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(VerifyResponse {
                is_valid: false,
                invalid_reason: Some(e.code.into()),
                invalid_message: Some(e.message),
                payer: None,
            }),
        ),
    }
}

async fn settle(
    State(f): State<Arc<Facilitator>>,
    Json(request): Json<FacilitatorRequest>,
) -> (StatusCode, Json<SettlementResponse>) {
    let network = request.payment_requirements.network.clone();
    let result = async {
        check_accepted(&request)?;
        let verified = f
            .verify(&request.payment_payload, &request.payment_requirements)
            .await?;
        let tx = f.settle(&verified).await?;
        Ok::<_, Rejection>((payer_of(&verified), tx, verified.amount()))
    }
    .await;
    match result {
        Ok((payer, transaction, amount)) => (
            StatusCode::OK,
            Json(SettlementResponse {
                success: true,
                error_reason: None,
                payer: Some(payer),
                transaction,
                network,
                amount: Some(amount.to_string()),
            }),
        ),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(SettlementResponse {
                success: false,
                error_reason: Some(format!("{}: {}", e.code, e.message)),
                payer: None,
                transaction: String::new(),
                network,
                amount: None,
            }),
        ),
    }
}

/// The client's `accepted` must be exactly the requirements being verified against.
fn check_accepted(request: &FacilitatorRequest) -> Result<(), Rejection> {
    if request.payment_payload.accepted != request.payment_requirements {
        return Err(Rejection::new(
            "invalid_payment_requirements",
            "paymentPayload.accepted differs from paymentRequirements",
        ));
    }
    Ok(())
}
