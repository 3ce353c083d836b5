//! EIP-3009 `transferWithAuthorization` as x402's `exact` scheme on EVM chains carries it: the
//! EIP-712 message, the token's domain, a signed authorization, and its form on the wire. The
//! paying client signs with it, the facilitator verifies with it, localnet settles with it.

use alloy::{
    primitives::{Address, Bytes, FixedBytes, U256},
    signers::{local::PrivateKeySigner, Signer as _},
    sol,
    sol_types::Eip712Domain,
};
use serde::{Deserialize, Serialize};

use crate::Rejection;

sol! {
    /// The EIP-712 message of EIP-3009.
    #[derive(Debug)]
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }

    #[sol(rpc)]
    #[allow(clippy::too_many_arguments)]
    interface Eip3009Token {
        function balanceOf(address owner) external view returns (uint256);
        function transfer(address to, uint256 value) external returns (bool);
        function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
        function transferWithAuthorization(
            address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce,
            bytes memory signature
        ) external;
        event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
        event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);
    }
}

/// The EIP-712 domain of an EIP-3009 token (USDC: name "USD Coin", version "2").
pub fn domain(name: &str, version: &str, chain_id: u64, token: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(name.to_string().into()),
        Some(version.to_string().into()),
        Some(U256::from(chain_id)),
        Some(token),
        None,
    )
}

/// A `TransferWithAuthorization` and its payer's signature.
#[derive(Clone, Debug)]
pub struct Signed {
    pub message: TransferWithAuthorization,
    pub signature: Bytes,
}

impl Signed {
    /// What a paying agent does: signs `message` under the token's `domain`.
    pub async fn sign(
        payer: &PrivateKeySigner,
        message: TransferWithAuthorization,
        domain: &Eip712Domain,
    ) -> Result<Self, alloy::signers::Error> {
        let signature = payer.sign_typed_data(&message, domain).await?;
        Ok(Signed {
            message,
            signature: signature.as_bytes().to_vec().into(),
        })
    }

    /// `message` with a fresh random nonce.
    pub fn message(
        from: Address,
        to: Address,
        value: U256,
        valid_after: u64,
        valid_before: u64,
    ) -> TransferWithAuthorization {
        TransferWithAuthorization {
            from,
            to,
            value,
            validAfter: U256::from(valid_after),
            validBefore: U256::from(valid_before),
            nonce: FixedBytes::from(rand::random::<[u8; 32]>()),
        }
    }

    /// The form x402 carries in `payload`.
    pub fn payload(&self) -> Eip3009Payload {
        let m = &self.message;
        Eip3009Payload {
            signature: self.signature.to_string(),
            authorization: AuthorizationWire {
                from: m.from.to_string(),
                to: m.to.to_string(),
                value: m.value.to_string(),
                valid_after: m.validAfter.to_string(),
                valid_before: m.validBefore.to_string(),
                nonce: m.nonce.to_string(),
            },
        }
    }
}

/// The EIP-3009 payload of an x402 payment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Eip3009Payload {
    pub signature: String,
    pub authorization: AuthorizationWire,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationWire {
    pub from: String,
    pub to: String,
    pub value: String,
    pub valid_after: String,
    pub valid_before: String,
    pub nonce: String,
}

impl Eip3009Payload {
    /// Reads the wire form; a field that is not what it must be is refused by name.
    pub fn parse(&self) -> Result<Signed, Rejection> {
        let a = &self.authorization;
        let number = |text: &str, what: &str| {
            U256::from_str_radix(text, 10).map_err(|_| {
                Rejection::invalid_payload(format!(
                    "authorization.{what} {text:?} is not a decimal number"
                ))
            })
        };
        let message = TransferWithAuthorization {
            from: address(&a.from, "authorization.from")?,
            to: address(&a.to, "authorization.to")?,
            value: number(&a.value, "value")?,
            validAfter: number(&a.valid_after, "validAfter")?,
            validBefore: number(&a.valid_before, "validBefore")?,
            nonce: a.nonce.parse::<FixedBytes<32>>().map_err(|_| {
                Rejection::invalid_payload("authorization.nonce must be 32 bytes of hex")
            })?,
        };
        let signature = self
            .signature
            .parse()
            .map_err(|_| Rejection::invalid_payload("signature must be hex"))?;
        Ok(Signed { message, signature })
    }
}

/// `text` as an EVM address, or a refusal naming `what`.
pub(crate) fn address(text: &str, what: &str) -> Result<Address, Rejection> {
    text.parse()
        .map_err(|_| Rejection::invalid_payload(format!("{what} {text:?} is not an address")))
}
