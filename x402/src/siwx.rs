//! Sign-In-With-X, the x402 `sign-in-with-x` extension (CAIP-122): the server offers a
//! challenge in its 402 (`extensions["sign-in-with-x"]`), the wallet signs the challenge as an
//! EIP-4361 message (SIWE, EIP-191 on Base) or its Solana twin (SIWS, ed25519), and sends it
//! back base64-encoded in the `SIGN-IN-WITH-X` header. This module builds the challenge, the
//! message and the proof, and checks a proof's fields and signature; whether its nonce was
//! issued by us and is used once is the server's business.

use std::str::FromStr;

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use strum::{AsRefStr, Display};

/// The request header carrying a proof.
pub const HEADER: &str = "sign-in-with-x";
/// The key of the challenge in a 402's `extensions`.
pub const EXTENSION: &str = "sign-in-with-x";
/// How old a proof's `issuedAt` may be.
pub const MAX_AGE: Duration = Duration::minutes(5);
/// How far ahead of our clock a wallet's may run.
const CLOCK_SKEW: Duration = Duration::seconds(30);

/// How a chain's wallets sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureType {
    /// EIP-191 `personal_sign` by an Ethereum account.
    Eip191,
    /// Ed25519 by a Solana account.
    Ed25519,
}

/// A chain a proof may be signed on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedChain {
    /// CAIP-2: `eip155:84532`, `solana:<genesis hash>`.
    pub chain_id: String,
    #[serde(rename = "type")]
    pub signature_type: SignatureType,
}

/// What the server asks to be signed (the extension's `info`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    pub domain: String,
    pub uri: String,
    pub version: String,
    pub nonce: String,
    pub issued_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
}

/// A signed challenge, as the header carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Proof {
    #[serde(flatten)]
    pub challenge: Challenge,
    pub address: String,
    pub chain_id: String,
    #[serde(rename = "type")]
    pub signature_type: SignatureType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_scheme: Option<String>,
    pub signature: String,
}

/// Why a proof was refused, as the reference SDKs name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Display, AsRefStr)]
#[strum(serialize_all = "snake_case", prefix = "invalid_siwx_")]
pub enum SiwxError {
    Header,
    Version,
    DomainMismatch,
    UriMismatch,
    IssuedAt,
    IssuedAtTooOld,
    IssuedAtInFuture,
    ExpirationTime,
    Expired,
    NotBefore,
    NotYetValid,
    Nonce,
    UnsupportedChain,
    Address,
    MalformedSignature,
    Signature,
}

/// Who signed a proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedIn {
    /// The account as the ledger spells it: base58 (Solana), EIP-55 (Base).
    pub address: String,
    /// CAIP-2 network it signed on.
    pub chain_id: String,
    pub signature_type: SignatureType,
}

/// What a proof must match: the server's public origin (`https://host[:port]`) and the chains
/// it accepts.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    pub origin: &'a str,
    pub chains: &'a [SupportedChain],
    pub now: DateTime<Utc>,
}

impl Challenge {
    /// A challenge for `resource` on the server at `origin`, issued now with `nonce`, valid for
    /// [`MAX_AGE`].
    pub fn new(
        origin: &str,
        resource: &str,
        nonce: &str,
        statement: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Challenge {
            domain: host(origin).to_string(),
            uri: resource.to_string(),
            version: "1".into(),
            nonce: nonce.to_string(),
            issued_at: timestamp(now),
            expiration_time: Some(timestamp(now + MAX_AGE)),
            not_before: None,
            statement: Some(statement.to_string()),
            request_id: None,
            resources: Some(vec![resource.to_string()]),
        }
    }

    /// The 402's `extensions["sign-in-with-x"]`.
    pub fn extension(&self, chains: &[SupportedChain]) -> Value {
        json!({
            "info": self,
            "supportedChains": chains,
            "schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "required": ["domain", "address", "uri", "version", "chainId", "type", "nonce", "issuedAt", "signature"],
            },
        })
    }

    /// Signs this challenge with a Solana wallet on `chain_id`: the header value.
    pub fn sign_solana(&self, chain_id: &str, keypair: &Keypair) -> String {
        let mut proof = self.unsigned(
            keypair.pubkey().to_string(),
            chain_id,
            SignatureType::Ed25519,
        );
        proof.signature = keypair
            .sign_message(proof.message(true).as_bytes())
            .to_string();
        proof.encode()
    }

    /// Signs this challenge with an Ethereum account on `chain_id`: the header value.
    pub fn sign_evm(&self, chain_id: &str, signer: &PrivateKeySigner) -> Result<String, String> {
        use alloy::signers::SignerSync;
        let mut proof = self.unsigned(
            signer.address().to_string(),
            chain_id,
            SignatureType::Eip191,
        );
        let signature = signer
            .sign_message_sync(proof.message(true).as_bytes())
            .map_err(|e| e.to_string())?;
        proof.signature = format!("0x{}", alloy::hex::encode(signature.as_bytes()));
        Ok(proof.encode())
    }

    fn unsigned(&self, address: String, chain_id: &str, signature_type: SignatureType) -> Proof {
        Proof {
            challenge: self.clone(),
            address,
            chain_id: chain_id.to_string(),
            signature_type,
            signature_scheme: None,
            signature: String::new(),
        }
    }
}

impl Proof {
    /// Reads a `SIGN-IN-WITH-X` header.
    pub fn decode(header: &str) -> Result<Proof, SiwxError> {
        let bytes = STANDARD
            .decode(header.trim())
            .map_err(|_| SiwxError::Header)?;
        serde_json::from_slice(&bytes).map_err(|_| SiwxError::Header)
    }

    pub fn encode(&self) -> String {
        STANDARD.encode(serde_json::to_vec(self).expect("a proof serialises"))
    }

    /// The text the wallet signed. Without a statement, EIP-4361 leaves two blank lines where
    /// the Go SDK and SIWS leave one (`statement_line` picks the one-line form).
    pub fn message(&self, statement_line: bool) -> String {
        let c = &self.challenge;
        let (account, reference) = match self.signature_type {
            SignatureType::Eip191 => ("Ethereum", self.chain_id.trim_start_matches("eip155:")),
            SignatureType::Ed25519 => ("Solana", self.chain_id.trim_start_matches("solana:")),
        };
        let mut lines = vec![
            format!(
                "{} wants you to sign in with your {account} account:",
                c.domain
            ),
            self.address.clone(),
            String::new(),
        ];
        match &c.statement {
            Some(statement) => {
                lines.push(statement.clone());
                lines.push(String::new());
            }
            None if !statement_line => lines.push(String::new()),
            None => {}
        }
        lines.push(format!("URI: {}", c.uri));
        lines.push(format!("Version: {}", c.version));
        lines.push(format!("Chain ID: {reference}"));
        lines.push(format!("Nonce: {}", c.nonce));
        lines.push(format!("Issued At: {}", c.issued_at));
        for (name, value) in [
            ("Expiration Time", &c.expiration_time),
            ("Not Before", &c.not_before),
            ("Request ID", &c.request_id),
        ] {
            if let Some(value) = value {
                lines.push(format!("{name}: {value}"));
            }
        }
        if let Some(resources) = &c.resources {
            lines.push("Resources:".into());
            lines.extend(resources.iter().map(|r| format!("- {r}")));
        }
        lines.join("\n")
    }

    /// Checks the fields against `expected` and the signature against the address.
    pub fn verify(&self, expected: &Expected<'_>) -> Result<SignedIn, SiwxError> {
        let c = &self.challenge;
        if c.version != "1" {
            return Err(SiwxError::Version);
        }
        if c.domain != host(expected.origin) {
            return Err(SiwxError::DomainMismatch);
        }
        let same_origin = c
            .uri
            .strip_prefix(expected.origin)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if !same_origin {
            return Err(SiwxError::UriMismatch);
        }
        let issued = time(&c.issued_at).ok_or(SiwxError::IssuedAt)?;
        if issued > expected.now + CLOCK_SKEW {
            return Err(SiwxError::IssuedAtInFuture);
        }
        if expected.now - issued > MAX_AGE {
            return Err(SiwxError::IssuedAtTooOld);
        }
        if let Some(expiry) = &c.expiration_time {
            if time(expiry).ok_or(SiwxError::ExpirationTime)? <= expected.now {
                return Err(SiwxError::Expired);
            }
        }
        if let Some(start) = &c.not_before {
            if time(start).ok_or(SiwxError::NotBefore)? > expected.now {
                return Err(SiwxError::NotYetValid);
            }
        }
        if c.nonce.len() < 8 || !c.nonce.chars().all(|ch| ch.is_ascii_alphanumeric()) {
            return Err(SiwxError::Nonce);
        }
        let chain = expected
            .chains
            .iter()
            .find(|s| s.chain_id == self.chain_id && s.signature_type == self.signature_type)
            .ok_or(SiwxError::UnsupportedChain)?;
        let address = match chain.signature_type {
            SignatureType::Ed25519 => self.verify_ed25519()?,
            SignatureType::Eip191 => self.verify_eip191()?,
        };
        Ok(SignedIn {
            address,
            chain_id: chain.chain_id.clone(),
            signature_type: chain.signature_type,
        })
    }

    fn verify_ed25519(&self) -> Result<String, SiwxError> {
        let key = Pubkey::from_str(&self.address).map_err(|_| SiwxError::Address)?;
        let signature = solana_signature::Signature::from_str(&self.signature)
            .map_err(|_| SiwxError::MalformedSignature)?;
        let signed =
            |one_line: bool| signature.verify(key.as_ref(), self.message(one_line).as_bytes());
        if signed(true) || (self.challenge.statement.is_none() && signed(false)) {
            Ok(key.to_string())
        } else {
            Err(SiwxError::Signature)
        }
    }

    fn verify_eip191(&self) -> Result<String, SiwxError> {
        let address = Address::from_str(&self.address).map_err(|_| SiwxError::Address)?;
        let signature = alloy::primitives::Signature::from_str(&self.signature)
            .map_err(|_| SiwxError::MalformedSignature)?;
        let signed = |one_line: bool| {
            signature
                .recover_address_from_msg(self.message(one_line).as_bytes())
                .is_ok_and(|signer| signer == address)
        };
        if signed(true) || (self.challenge.statement.is_none() && signed(false)) {
            Ok(address.to_string())
        } else {
            Err(SiwxError::Signature)
        }
    }
}

/// The host (and port) of an origin such as `https://api.example.com:8443`.
fn host(origin: &str) -> &str {
    origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "http://127.0.0.1:8402";
    const RESOURCE: &str = "http://127.0.0.1:8402/v1/chat/completions";

    fn chains() -> Vec<SupportedChain> {
        vec![
            SupportedChain {
                chain_id: "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1".into(),
                signature_type: SignatureType::Ed25519,
            },
            SupportedChain {
                chain_id: "eip155:84532".into(),
                signature_type: SignatureType::Eip191,
            },
        ]
    }

    fn expected(chains: &[SupportedChain], now: DateTime<Utc>) -> Expected<'_> {
        Expected {
            origin: ORIGIN,
            chains,
            now,
        }
    }

    #[test]
    fn both_wallets_sign_in_and_every_field_is_checked() {
        let now = Utc::now();
        let chains = chains();
        let challenge = Challenge::new(
            ORIGIN,
            RESOURCE,
            "a1b2c3d4e5f67890a1b2c3d4e5f67890",
            "Spend your balance",
            now,
        );
        let solana = Keypair::new();
        let evm = PrivateKeySigner::random();
        let solana_proof =
            Proof::decode(&challenge.sign_solana(&chains[0].chain_id, &solana)).unwrap();
        let evm_proof =
            Proof::decode(&challenge.sign_evm(&chains[1].chain_id, &evm).unwrap()).unwrap();
        assert_eq!(
            solana_proof
                .verify(&expected(&chains, now))
                .unwrap()
                .address,
            solana.pubkey().to_string()
        );
        assert_eq!(
            evm_proof.verify(&expected(&chains, now)).unwrap().address,
            evm.address().to_string()
        );
        // The SIWE text is EIP-4361's.
        assert!(evm_proof.message(true).starts_with(&format!(
            "127.0.0.1:8402 wants you to sign in with your Ethereum account:\n{}\n\nSpend your balance\n\nURI: {RESOURCE}\nVersion: 1\nChain ID: 84532\nNonce: a1b2c3d4e5f67890a1b2c3d4e5f67890\nIssued At: ",
            evm.address()
        )));

        let refused = |proof: &Proof, now| proof.verify(&expected(&chains, now)).unwrap_err();
        let with = |edit: &dyn Fn(&mut Proof)| {
            let mut p = solana_proof.clone();
            edit(&mut p);
            p
        };
        assert_eq!(
            refused(&with(&|p| p.challenge.domain = "evil.example".into()), now),
            SiwxError::DomainMismatch
        );
        assert_eq!(
            refused(
                &with(&|p| p.challenge.uri = "http://127.0.0.1:8403/v1".into()),
                now
            ),
            SiwxError::UriMismatch
        );
        assert_eq!(
            refused(&with(&|p| p.challenge.nonce.push('0')), now),
            SiwxError::Signature
        );
        assert_eq!(
            refused(&with(&|p| p.address = evm_proof.address.clone()), now),
            SiwxError::Address
        );
        assert_eq!(
            refused(
                &with(&|p| p.address = Keypair::new().pubkey().to_string()),
                now
            ),
            SiwxError::Signature
        );
        assert_eq!(
            refused(&with(&|p| p.chain_id = "solana:mainnet".into()), now),
            SiwxError::UnsupportedChain
        );
        assert_eq!(
            refused(&with(&|p| p.signature = "xyz".into()), now),
            SiwxError::MalformedSignature
        );
        assert_eq!(
            refused(&solana_proof, now + Duration::minutes(6)),
            SiwxError::IssuedAtTooOld
        );
        assert_eq!(
            refused(&solana_proof, now - Duration::minutes(1)),
            SiwxError::IssuedAtInFuture
        );
        let mut short_lived = challenge.clone();
        short_lived.expiration_time = Some(timestamp(now + Duration::seconds(10)));
        let proof = Proof::decode(&short_lived.sign_solana(&chains[0].chain_id, &solana)).unwrap();
        assert_eq!(
            refused(&proof, now + Duration::seconds(11)),
            SiwxError::Expired
        );
        // A Base account cannot pass for a Solana one on a Solana chain, nor the reverse.
        assert_eq!(
            refused(&with(&|p| p.signature_type = SignatureType::Eip191), now),
            SiwxError::UnsupportedChain
        );
        assert_eq!(Proof::decode("not base64!").unwrap_err(), SiwxError::Header);
        assert_eq!(
            SiwxError::DomainMismatch.to_string(),
            "invalid_siwx_domain_mismatch"
        );
    }

    #[test]
    fn a_proof_without_a_statement_verifies_in_either_blank_line_form() {
        let now = Utc::now();
        let chains = chains();
        let mut challenge = Challenge::new(ORIGIN, RESOURCE, "a1b2c3d4e5f67890", "", now);
        challenge.statement = None;
        let evm = PrivateKeySigner::random();
        let mut proof =
            Proof::decode(&challenge.sign_evm(&chains[1].chain_id, &evm).unwrap()).unwrap();
        assert!(proof.verify(&expected(&chains, now)).is_ok());
        // The EIP-4361 form (two blank lines), as the siwe libraries write it.
        use alloy::signers::SignerSync;
        let signature = evm
            .sign_message_sync(proof.message(false).as_bytes())
            .unwrap();
        proof.signature = format!("0x{}", alloy::hex::encode(signature.as_bytes()));
        assert!(proof.verify(&expected(&chains, now)).is_ok());
    }
}
