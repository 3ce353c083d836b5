//! `exact` on Base with EIP-3009: the client signs a `TransferWithAuthorization` to `payTo`;
//! we check it (recipient, amount, validity window, signature, balance, unused nonce),
//! simulate it, and settle it by submitting `transferWithAuthorization` from our key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::{
    primitives::{Address, Bytes, FixedBytes, Signature, TxHash, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{Filter, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::{Eip712Domain, SolEvent, SolStruct},
};

use super::{
    eip3009::{self, address, Eip3009Payload, Eip3009Token, Signed, TransferWithAuthorization},
    sender::Sender,
    wire::{PaymentPayload, PaymentRequirements},
    Reason, Rejection,
};

/// A validity window must leave at least this much time to settle.
const SETTLE_MARGIN_SECS: u64 = 6;
/// Longest validity window accepted: settlement may wait for it to pass before it can say
/// that nothing was taken.
const MAX_VALIDITY_SECS: u64 = 900;
const POLL: Duration = Duration::from_millis(100);
/// Blocks before verification searched for the event that used an authorization (a node
/// behind ours when we verified).
const LOG_MARGIN_BLOCKS: u64 = 64;

#[derive(Clone, Debug)]
pub struct EvmConfig {
    /// CAIP-2 id (`eip155:<chain id>`).
    pub network: String,
    pub chain_id: u64,
    pub usdc: Address,
    /// The USDC contract's EIP-712 domain name and version.
    pub usdc_name: String,
    pub usdc_version: String,
    /// Submits the authorizations (pays the gas).
    pub facilitator: PrivateKeySigner,
    pub rpc_url: String,
}

#[derive(Clone, Debug)]
pub struct VerifiedEvm {
    pub authorization: TransferWithAuthorization,
    pub signature: Bytes,
    pub payer: Address,
    pub amount: u64,
    /// The chain's height when it was verified: whatever uses the authorization comes after.
    pub verified_at_block: u64,
    /// The gas its settlement needs, as the node estimated it when verifying.
    pub gas: u64,
}

pub struct EvmExact {
    pub config: EvmConfig,
    provider: DynProvider,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl EvmExact {
    pub fn new(config: EvmConfig) -> Result<Self, String> {
        let url = config
            .rpc_url
            .parse()
            .map_err(|e| format!("base rpc_url {}: {e}", config.rpc_url))?;
        // Reads and simulations only: settlements are sent by a [`Sender`].
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_http(url)
            .erased();
        Ok(EvmExact { config, provider })
    }

    /// A sender of this facilitator key's transactions, its nonces from `ledger`.
    pub fn sender(&self, ledger: ledger::Ledger) -> Sender {
        Sender::new(
            self.provider.clone(),
            self.config.facilitator.clone(),
            self.config.chain_id,
            ledger,
        )
    }

    pub fn domain(&self) -> Eip712Domain {
        eip3009::domain(
            &self.config.usdc_name,
            &self.config.usdc_version,
            self.config.chain_id,
            self.config.usdc,
        )
    }

    pub async fn verify(
        &self,
        payment: &PaymentPayload,
        required: &PaymentRequirements,
    ) -> Result<VerifiedEvm, Rejection> {
        super::check_exact_on(payment, required, &self.config.network)?;
        if address(&required.asset, "asset")? != self.config.usdc {
            return Err(Rejection::new(
                Reason::InvalidExactEvmPayloadAssetMismatch,
                format!("asset must be USDC ({})", self.config.usdc),
            ));
        }
        let payload: Eip3009Payload =
            serde_json::from_value(payment.payload.clone()).map_err(|e| {
                Rejection::invalid_payload(format!("payload is not an EIP-3009 authorization: {e}"))
            })?;
        let Signed {
            message: authorization,
            signature: signature_bytes,
        } = payload.parse()?;
        if authorization.to != address(&required.pay_to, "payTo")? {
            return Err(Rejection::new(
                Reason::InvalidExactEvmPayloadRecipientMismatch,
                format!(
                    "the authorization pays {}, not payTo {}",
                    authorization.to, required.pay_to
                ),
            ));
        }
        let amount = required.amount_units()?;
        if authorization.value != U256::from(amount) {
            return Err(Rejection::new(
                Reason::InvalidExactEvmPayloadAuthorizationValueMismatch,
                format!(
                    "the authorization moves {}, the price is {amount}",
                    authorization.value
                ),
            ));
        }
        let now = U256::from(now());
        if authorization.validAfter > now {
            return Err(Rejection::new(
                Reason::InvalidExactEvmPayloadAuthorizationValidAfter,
                "the authorization is not valid yet",
            ));
        }
        if authorization.validBefore < now + U256::from(SETTLE_MARGIN_SECS) {
            return Err(Rejection::new(
                Reason::InvalidExactEvmPayloadAuthorizationValidBefore,
                "the authorization has expired (or expires within 6 s): sign a new one",
            ));
        }
        if authorization.validBefore > now + U256::from(MAX_VALIDITY_SECS) {
            return Err(Rejection::new(
                Reason::InvalidExactEvmPayloadAuthorizationValidBefore,
                format!("validBefore may be at most {MAX_VALIDITY_SECS} s from now"),
            ));
        }
        let signature = Signature::try_from(signature_bytes.as_ref()).map_err(|_| {
            Rejection::new(
                Reason::InvalidExactEvmPayloadSignature,
                "the signature is not a 65-byte ECDSA signature",
            )
        })?;
        let digest = authorization.eip712_signing_hash(&self.domain());
        let signer = signature
            .recover_address_from_prehash(&digest)
            .map_err(|_| {
                Rejection::new(
                    Reason::InvalidExactEvmPayloadSignature,
                    "the signature does not recover",
                )
            })?;
        if signer != authorization.from {
            return Err(Rejection::new(
                Reason::InvalidExactEvmPayloadSignature,
                format!("signed by {signer}, not by {}", authorization.from),
            ));
        }

        let token = Eip3009Token::new(self.config.usdc, &self.provider);
        let unexpected =
            |e: alloy::contract::Error| super::chain_unavailable("reading USDC on Base", &e);
        let state = token.authorizationState(authorization.from, authorization.nonce);
        let balance = token.balanceOf(authorization.from);
        let (used, height, held) = tokio::join!(
            state.call(),
            self.provider.get_block_number(),
            balance.call()
        );
        let verified_at_block =
            height.map_err(|e| super::chain_unavailable("reading Base's height", &e))?;
        if used.map_err(unexpected)? {
            return Err(Rejection::new(
                Reason::InvalidExactEvmNonceAlreadyUsed,
                "this authorization was already used",
            ));
        }
        if held.map_err(unexpected)? < authorization.value {
            return Err(Rejection::new(
                Reason::InsufficientFunds,
                format!("{} holds less than {amount} USDC units", authorization.from),
            ));
        }
        // Simulated by estimating it: a call that would revert is refused, and settlement
        // sends it with this gas without asking the node again.
        let gas = self
            .call(&authorization, &signature_bytes)
            .estimate_gas()
            .await
            .map_err(|e| {
                Rejection::new(
                    Reason::TransactionSimulationFailed,
                    format!(
                        "the authorization would fail on chain: {}",
                        super::redact(&e.to_string())
                    ),
                )
            })?;
        Ok(VerifiedEvm {
            payer: authorization.from,
            authorization,
            signature: signature_bytes,
            amount,
            verified_at_block,
            gas,
        })
    }

    fn call(
        &self,
        a: &TransferWithAuthorization,
        signature: &Bytes,
    ) -> alloy::contract::SolCallBuilder<&DynProvider, Eip3009Token::transferWithAuthorizationCall>
    {
        let call = Eip3009Token::transferWithAuthorizationCall {
            from: a.from,
            to: a.to,
            value: a.value,
            validAfter: a.validAfter,
            validBefore: a.validBefore,
            nonce: a.nonce,
            signature: signature.clone(),
        };
        alloy::contract::SolCallBuilder::new_sol(&self.provider, &self.config.usdc, &call)
    }

    /// The `transferWithAuthorization` that settles `verified`.
    pub fn settlement(&self, verified: &VerifiedEvm) -> TransactionRequest {
        self.call(&verified.authorization, &verified.signature)
            .into_transaction_request()
    }

    /// Waits for the authorization submitted as `ours` (if it was) to be used, or to expire;
    /// returns the transaction that used it. An authorization used by anyone who submitted it
    /// first is paid all the same; one the payer canceled is a failure on chain. Until it is
    /// used or its `validBefore` has passed, a failed submission, a missing receipt or an RPC
    /// error is not an answer, since it may still land.
    pub async fn confirm(
        &self,
        verified: &VerifiedEvm,
        ours: Option<TxHash>,
    ) -> Result<String, Rejection> {
        let a = &verified.authorization;
        let since = verified.verified_at_block.saturating_sub(LOG_MARGIN_BLOCKS);
        loop {
            // Our transaction reverted: someone may have used the authorization first.
            let reverted = match ours {
                Some(hash) => match self.provider.get_transaction_receipt(hash).await {
                    Ok(Some(receipt)) if receipt.status() => return Ok(hash.to_string()),
                    Ok(Some(_)) => Some(hash),
                    _ => None,
                },
                None => None,
            };
            // Read after validBefore has passed, "unused" is final: nothing can use it now.
            let expired = U256::from(now()) > a.validBefore;
            match (self.usage(a.from, a.nonce, since).await, reverted) {
                (Ok(Usage::UsedBy(tx)), _) => return Ok(tx),
                (Ok(Usage::Canceled), _) => {
                    return Err(Rejection::new(
                        Reason::TransactionFailed,
                        "the payer canceled the authorization before it settled",
                    ))
                }
                (Ok(Usage::Unused), Some(hash)) => {
                    return Err(Rejection::new(
                        Reason::TransactionFailed,
                        format!("transaction {hash} reverted and the authorization is unused"),
                    ))
                }
                (Ok(Usage::Unused), None) if expired => {
                    return Err(Rejection::new(
                        Reason::SettlementExpired,
                        "the authorization expired unused: nothing was taken; sign a new one",
                    ))
                }
                (Ok(Usage::Unused), None) => {}
                (Err(e), _) => tracing::warn!(error = %e, "reading an authorization's state"),
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The first block of the span searched for a stale authorization's event: about two
    /// hours of Base blocks, within what RPC providers serve in one `eth_getLogs`.
    pub async fn recent_blocks_start(&self) -> Result<u64, String> {
        let height = self
            .provider
            .get_block_number()
            .await
            .map_err(|e| super::redact(&e.to_string()))?;
        Ok(height.saturating_sub(3_000))
    }

    /// What became of `from`'s authorization `nonce` (searched from block `since`); an error
    /// when the chain does not answer.
    pub async fn usage(
        &self,
        from: Address,
        nonce: FixedBytes<32>,
        since: u64,
    ) -> Result<Usage, String> {
        let quiet = |e: &dyn std::fmt::Display| super::redact(&e.to_string());
        let token = Eip3009Token::new(self.config.usdc, &self.provider);
        if !token
            .authorizationState(from, nonce)
            .call()
            .await
            .map_err(|e| quiet(&e))?
        {
            return Ok(Usage::Unused);
        }
        let filter = Filter::new()
            .address(self.config.usdc)
            .event_signature(vec![
                Eip3009Token::AuthorizationUsed::SIGNATURE_HASH,
                Eip3009Token::AuthorizationCanceled::SIGNATURE_HASH,
            ])
            .topic1(from.into_word())
            .topic2(nonce)
            .from_block(since);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(|e| quiet(&e))?;
        let log = logs.first().ok_or_else(|| {
            format!("authorization {nonce} of {from} is used but no event says how")
        })?;
        Ok(
            match log.topic0() == Some(&Eip3009Token::AuthorizationCanceled::SIGNATURE_HASH) {
                true => Usage::Canceled,
                false => Usage::UsedBy(
                    log.transaction_hash
                        .map(|h| h.to_string())
                        .unwrap_or_default(),
                ),
            },
        )
    }
}

/// What became of an EIP-3009 authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Usage {
    Unused,
    /// Used (paid) by this transaction.
    UsedBy(String),
    /// Canceled by its signer: it can never pay.
    Canceled,
}
