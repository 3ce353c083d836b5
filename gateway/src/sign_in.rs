//! Who is calling when it is not paying per call: a wallet signed in with x402's
//! sign-in-with-x (SIWS on Solana, SIWE on Base), answering a challenge from one of our 402s.
//! The challenge's nonce is signed with the gateway's key (so a proof answers a challenge we
//! issued, recently) and is spent in the ledger (so it signs in once, on any gateway).

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use ledger::Chain;
use x402::siwx::{self, Challenge, Expected, Proof, SignatureType, SiwxError, SupportedChain};

use crate::{app::App, quote::now, GatewayError};

/// A wallet that proved it is calling, and the chain its balance is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payer {
    pub address: String,
    pub chain: Chain,
}

/// A sign-in that was refused: why (the SDKs' code) and what to do.
#[derive(Debug)]
pub enum SignIn {
    Refused(SiwxError, String),
    Failed(GatewayError),
}

impl From<GatewayError> for SignIn {
    fn from(e: GatewayError) -> Self {
        SignIn::Failed(e)
    }
}

const STATEMENT: &str = "Sign in to pay for this call from your paywire balance.";

/// The chains a wallet may sign in on: the ones `app` is paid on.
pub fn chains(app: &App) -> Vec<SupportedChain> {
    app.networks()
        .into_iter()
        .map(|(network, chain)| SupportedChain {
            chain_id: network,
            signature_type: match chain {
                Chain::Solana => SignatureType::Ed25519,
                Chain::Base => SignatureType::Eip191,
            },
        })
        .collect()
}

/// A fresh challenge for `path` (a nonce of its own, valid for x402's five minutes).
pub fn challenge(app: &App, path: &str) -> Challenge {
    let nonce = app
        .quotes
        .issue_nonce(now() + siwx::MAX_AGE.num_seconds() as u64);
    Challenge::new(
        &app.public_url,
        &format!("{}{path}", app.public_url),
        &nonce,
        STATEMENT,
        Utc::now(),
    )
}

/// The wallet signed in by the request's `SIGN-IN-WITH-X` header, if it has one, for the route
/// at `path`: a proof signed for another route (reading a balance, say) does not make keys or
/// withdraw.
pub async fn signed_in(
    app: &App,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<Payer>, SignIn> {
    let Some(header) = headers.get(siwx::HEADER) else {
        return Ok(None);
    };
    let refused = |e: SiwxError, what: &str| SignIn::Refused(e, what.to_string());
    let header = header
        .to_str()
        .map_err(|_| refused(SiwxError::Header, "the sign-in header is not ASCII"))?;
    let proof = Proof::decode(header).map_err(|e| {
        refused(
            e,
            "the sign-in header is not base64 JSON of a sign-in-with-x proof",
        )
    })?;
    let chains = chains(app);
    let signed = proof
        .verify(&Expected {
            origin: &app.public_url,
            chains: &chains,
            now: Utc::now(),
        })
        .map_err(|e| SignIn::Refused(e, explain(e)))?;
    if proof.challenge.uri != format!("{}{path}", app.public_url) {
        return Err(refused(
            SiwxError::UriMismatch,
            "this sign-in was signed for another route (its uri): sign the challenge of this route's 402",
        ));
    }
    let nonce = &proof.challenge.nonce;
    let expires = app
        .quotes
        .nonce_expiry(nonce)
        .filter(|expires| *expires >= now())
        .ok_or_else(|| {
            refused(
                SiwxError::Nonce,
                "the nonce is not one this gateway issued, or it has expired: sign the challenge of a new 402",
            )
        })?;
    let expires_at = DateTime::from_timestamp(expires as i64, 0).unwrap_or_else(Utc::now);
    if !app
        .ledger
        .spend_sign_in_nonce(nonce, expires_at)
        .await
        .map_err(GatewayError::from)?
    {
        return Err(refused(
            SiwxError::Nonce,
            "this sign-in was used already (a nonce signs in once): sign the challenge of a new 402",
        ));
    }
    let chain = app
        .chain_of(&signed.chain_id)
        .ok_or_else(|| refused(SiwxError::UnsupportedChain, "no balance on that chain"))?;
    Ok(Some(Payer {
        address: signed.address,
        chain,
    }))
}

/// What to do about a refused proof.
fn explain(e: SiwxError) -> String {
    match e {
        SiwxError::DomainMismatch | SiwxError::UriMismatch => {
            "the proof was signed for another site; sign this gateway's challenge"
        }
        SiwxError::IssuedAt
        | SiwxError::IssuedAtTooOld
        | SiwxError::IssuedAtInFuture
        | SiwxError::ExpirationTime
        | SiwxError::Expired
        | SiwxError::NotBefore
        | SiwxError::NotYetValid => {
            "the proof is outside its validity window (five minutes): sign the challenge of a new 402"
        }
        SiwxError::UnsupportedChain => {
            "sign in on one of the 402's supportedChains, with its signature type"
        }
        SiwxError::Address | SiwxError::MalformedSignature | SiwxError::Signature => {
            "the signature does not prove the address signed this challenge"
        }
        SiwxError::Header | SiwxError::Version | SiwxError::Nonce => {
            "the proof is not a sign-in-with-x proof of this gateway's challenge"
        }
    }
    .to_string()
}
