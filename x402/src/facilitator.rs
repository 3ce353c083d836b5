//! The built-in facilitator: verifies with the scheme of the requirement's network, settles
//! once (the payment is claimed in Postgres before it is sent, so no two processes settle
//! it), and serves the x402 facilitator API (`/facilitator/supported|verify|settle`).

use std::{collections::HashSet, sync::Arc};

use axum::{
    extract::{Request, State},
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use ledger::{Chain, Ledger, LedgerError, SettlementOutcome};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{
    evm::{EvmExact, Usage, VerifiedEvm},
    sender::{NotSent, Sender},
    svm::{SvmExact, VerifiedSvm},
    wire::{
        FacilitatorRequest, PaymentPayload, PaymentRequirements, SettlementResponse,
        VerifyResponse, X402_VERSION,
    },
    Reason, Rejection,
};

/// A payer with this many on-chain failures within [`REVERT_WINDOW_HOURS`] is refused.
const MAX_REVERTED: u64 = 3;
const REVERT_WINDOW_HOURS: u32 = 24;

fn ledger_unavailable(doing: &str, error: &LedgerError) -> Rejection {
    tracing::error!(error = %error, "{doing}");
    Rejection::new(
        Reason::UnexpectedSettleError,
        format!("{doing}: the ledger is unavailable; retry shortly"),
    )
    .with_status(StatusCode::SERVICE_UNAVAILABLE)
}

pub struct Facilitator {
    pub svm: Option<SvmExact>,
    pub evm: Option<EvmExact>,
    ledger: Ledger,
    /// Base sends queue here first, so a process waits for the signer's turn in Postgres
    /// with one database connection, not one per waiting settlement.
    /// Sends Base settlements from the facilitator's key.
    base_sender: Option<Sender>,
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
    pub id: PaymentId,
    /// As claimed by the payload; authenticated only by verification.
    pub payer: String,
}

/// The part of a payment that can be used once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentId {
    /// Solana: the transaction id the settlement will have.
    Transaction(String),
    /// Base: the EIP-3009 nonce (unique per payer).
    Nonce(String),
    /// A Solana payment a remote facilitator verified: its id is known once it settles.
    Unknown,
}

impl PaymentKey {
    pub fn settlement_tx(&self) -> Option<&str> {
        match &self.id {
            PaymentId::Transaction(tx) => Some(tx),
            _ => None,
        }
    }

    pub fn nonce(&self) -> Option<&str> {
        match &self.id {
            PaymentId::Nonce(nonce) => Some(nonce),
            _ => None,
        }
    }
}

impl Verified {
    pub fn key(&self) -> PaymentKey {
        match self {
            Verified::Solana(v) => PaymentKey {
                chain: Chain::Solana,
                id: PaymentId::Transaction(v.signature.to_string()),
                payer: v.payer.to_string(),
            },
            Verified::Base(v) => PaymentKey {
                chain: Chain::Base,
                id: PaymentId::Nonce(v.authorization.nonce.to_string()),
                payer: v.payer.to_string(),
            },
        }
    }

    /// The settlement's unique name in the ledger.
    fn settlement_id(&self) -> String {
        match self {
            Verified::Solana(v) => v.signature.to_string(),
            Verified::Base(v) => format!("{}:{}", v.payer, v.authorization.nonce),
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
        Facilitator {
            base_sender: evm.as_ref().map(|evm| evm.sender(ledger.clone())),
            svm,
            evm,
            ledger,
        }
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
            Reason::InvalidNetwork,
            format!("network {network} is not accepted here"),
        )
    }

    pub async fn verify(
        &self,
        payment: &PaymentPayload,
        required: &PaymentRequirements,
    ) -> Result<Verified, Rejection> {
        let verified = self.verify_scheme(payment, required).await?;
        self.check_payer(&verified.key().payer).await?;
        Ok(verified)
    }

    async fn verify_scheme(
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

    /// The payment's key before verifying it: finds an earlier settlement of the very same
    /// payment (a client retrying with the header it already sent). A Solana transaction is
    /// signed for its id only when its shape is one we would co-sign.
    pub fn key_of(&self, payment: &PaymentPayload) -> Option<PaymentKey> {
        match self.chain_of(&payment.accepted.network)? {
            Chain::Solana => {
                let (id, payer) = self.svm.as_ref()?.transaction_id(payment)?;
                Some(PaymentKey {
                    chain: Chain::Solana,
                    id: PaymentId::Transaction(id.to_string()),
                    payer: payer.to_string(),
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
            id: PaymentId::Nonce(nonce.to_string()),
            payer: payer.to_string(),
        })
    }

    /// Sends a verified payment once; returns the settlement transaction.
    pub async fn settle(&self, verified: &Verified) -> Result<String, Rejection> {
        let key = verified.key();
        let id = verified.settlement_id();
        let claimed = self
            .ledger
            .claim_settlement(key.chain, &id, &key.payer, verified.amount())
            .await
            .map_err(|e| ledger_unavailable("claiming the settlement", &e))?;
        if !claimed {
            return Err(Rejection::new(
                Reason::DuplicateSettlement,
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
            Verified::Base(v) => self.settle_base(v).await,
        };
        let error = outcome.as_ref().err().map(ToString::to_string);
        let recorded = match (&outcome, error.as_deref()) {
            (Ok(tx), _) => SettlementOutcome::Settled(tx),
            (Err(e), text) => {
                let text = text.unwrap_or_default();
                match e.code {
                    Reason::TransactionFailed => SettlementOutcome::Reverted(text),
                    Reason::SettlementExpired => SettlementOutcome::Expired(text),
                    _ => SettlementOutcome::Refused(text),
                }
            }
        };
        if let Err(e) = self.ledger.settlement_done(key.chain, &id, recorded).await {
            tracing::error!(settlement = %id, error = %e, "recording how a settlement ended");
        }
        outcome
    }

    /// Sends an authorization — its nonce handed out by the ledger, so every gateway process
    /// sharing the key sends at once — then waits for its outcome. One the node will not take
    /// (someone used the authorization first, say) is still waited for: it may be paid.
    async fn settle_base(&self, v: &VerifiedEvm) -> Result<String, Rejection> {
        let evm = self.evm.as_ref().expect("verified on base");
        let sender = self.base_sender.as_ref().expect("made with evm");
        let ours = match sender.submit(evm.settlement(v), Some(v.gas)).await {
            Ok(hash) => Some(hash),
            Err(NotSent::Ledger(e)) => return Err(ledger_unavailable("taking a nonce", &e)),
            Err(NotSent::Refused(e)) => {
                tracing::warn!(error = %e, "submitting an authorization");
                None
            }
        };
        evm.confirm(v, ours).await
    }

    /// Refuses payers whose payments keep failing on chain after verification: each one
    /// spends our fee (a Lighthouse assertion that holds in simulation only, funds moved
    /// away after verifying).
    async fn check_payer(&self, payer: &str) -> Result<(), Rejection> {
        let reverted = self
            .ledger
            .reverted_settlements(payer, REVERT_WINDOW_HOURS)
            .await
            .map_err(|e| ledger_unavailable("reading the payer's record", &e))?;
        if reverted >= MAX_REVERTED {
            return Err(Rejection::new(
                Reason::PayerRefused,
                format!("{reverted} payments of {payer} failed on chain after verification in the last {REVERT_WINDOW_HOURS} h; this payer is refused for now"),
            ));
        }
        Ok(())
    }

    /// The transaction by which `key`'s payment landed, if it did (`None`: it did not, or
    /// this facilitator does not settle on that chain); an error when the chain does not
    /// answer.
    pub async fn landed(&self, key: &PaymentKey) -> Result<Option<String>, String> {
        match (key.chain, &key.id) {
            (Chain::Solana, PaymentId::Transaction(tx)) => {
                let Some(svm) = &self.svm else {
                    return Ok(None);
                };
                let signature = tx.parse().map_err(|_| format!("{tx} is not a signature"))?;
                let landed = matches!(svm.outcome(&signature, true).await?, Some(Ok(())));
                Ok(landed.then(|| tx.clone()))
            }
            (Chain::Base, PaymentId::Nonce(nonce)) => {
                let Some(evm) = &self.evm else {
                    return Ok(None);
                };
                let from = key
                    .payer
                    .parse()
                    .map_err(|_| format!("{} is not an address", key.payer))?;
                let nonce = nonce
                    .parse()
                    .map_err(|_| format!("{nonce} is not a nonce"))?;
                match evm
                    .usage(from, nonce, evm.recent_blocks_start().await?)
                    .await?
                {
                    Usage::UsedBy(tx) => Ok(Some(tx)),
                    Usage::Unused | Usage::Canceled => Ok(None),
                }
            }
            _ => Ok(None),
        }
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

/// Where the facilitator API may send money: the operator's own destinations (treasuries,
/// the vaults of catalog models). Anything else would spend our fee payer and gas key on
/// transfers that pay someone else, a loop of 1-unit self-transfers draining both.
#[derive(Clone, Debug, Default)]
pub struct Destinations(HashSet<(String, String)>);

impl Destinations {
    /// `(network, payTo)` pairs, payTo as the requirements spell it.
    pub fn new(allowed: impl IntoIterator<Item = (String, String)>) -> Self {
        Destinations(
            allowed
                .into_iter()
                .map(|(network, pay_to)| {
                    let pay_to = canonical(&network, &pay_to);
                    (network, pay_to)
                })
                .collect(),
        )
    }

    fn check(&self, required: &PaymentRequirements) -> Result<(), Rejection> {
        let key = (
            required.network.clone(),
            canonical(&required.network, &required.pay_to),
        );
        if self.0.contains(&key) {
            return Ok(());
        }
        Err(Rejection::new(
            Reason::InvalidPaymentRequirements,
            format!(
                "this facilitator only settles payments to its operator (payTo {} is not one)",
                required.pay_to
            ),
        ))
    }
}

/// An address as compared: EVM hex is case-insensitive, base58 is not.
fn canonical(network: &str, address: &str) -> String {
    match network.starts_with("eip155:") {
        true => address.to_lowercase(),
        false => address.to_string(),
    }
}

/// The facilitator API's state: who may call it and where it may pay.
struct Api {
    facilitator: Arc<Facilitator>,
    /// SHA-256 of the bearer key callers must present.
    key_hash: [u8; 32],
    destinations: Destinations,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The facilitator API, for other resource servers of the same operator: callers present
/// `key` as a bearer token, and only payments to `destinations` are verified or settled.
pub fn routes(facilitator: Arc<Facilitator>, key: &str, destinations: Destinations) -> Router {
    let api = Arc::new(Api {
        facilitator,
        key_hash: sha256(key.as_bytes()),
        destinations,
    });
    Router::new()
        .route(
            "/facilitator/supported",
            get(|State(api): State<Arc<Api>>| async move { Json(api.facilitator.supported()) }),
        )
        .route("/facilitator/verify", post(verify))
        .route("/facilitator/settle", post(settle))
        .layer(middleware::from_fn_with_state(api.clone(), authorize))
        .with_state(api)
}

/// Refuses callers without the key; hashing both sides keeps the comparison's time
/// independent of the key.
async fn authorize(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(key) if sha256(key.as_bytes()) == api.key_hash => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "the facilitator API needs the operator's key: Authorization: Bearer <facilitator_key>" })),
        )
            .into_response(),
    }
}

fn payer_of(verified: &Verified) -> String {
    verified.key().payer
}

async fn verify(
    State(api): State<Arc<Api>>,
    Json(request): Json<FacilitatorRequest>,
) -> (StatusCode, Json<VerifyResponse>) {
    let result = async {
        api.check(&request)?;
        api.facilitator
            .verify(&request.payment_payload, &request.payment_requirements)
            .await
    }
    .await;
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
                invalid_reason: Some(e.code.to_string()),
                invalid_message: Some(e.message),
                payer: None,
            }),
        ),
    }
}

async fn settle(
    State(api): State<Arc<Api>>,
    Json(request): Json<FacilitatorRequest>,
) -> (StatusCode, Json<SettlementResponse>) {
    let network = request.payment_requirements.network.clone();
    let result = async {
        api.check(&request)?;
        let verified = api
            .facilitator
            .verify(&request.payment_payload, &request.payment_requirements)
            .await?;
        let tx = api.facilitator.settle(&verified).await?;
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

impl Api {
    /// The client's `accepted` must be exactly the requirements being verified against, and
    /// those must pay the operator.
    fn check(&self, request: &FacilitatorRequest) -> Result<(), Rejection> {
        if request.payment_payload.accepted != request.payment_requirements {
            return Err(Rejection::new(
                Reason::InvalidPaymentRequirements,
                "paymentPayload.accepted differs from paymentRequirements",
            ));
        }
        self.destinations.check(&request.payment_requirements)
    }
}
