//! Sending Base transactions from a key that several gateway processes share (the
//! facilitator's, the treasury's). Each transaction's nonce comes from the ledger, so every
//! process sends at once instead of taking turns around the node's round trips; a nonce whose
//! transaction the node refused is filled with a transfer of nothing (or, failing that, given
//! back to be taken again), so the transactions after it are not stuck behind a gap.

use std::time::{Duration, Instant};

use alloy::{
    consensus::TxEnvelope,
    eips::eip1559::Eip1559Estimation,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, TxHash, U256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    transports::{RpcError, TransportError, TransportErrorKind},
};
use ledger::{Chain, Ledger, LedgerError};

/// Gas of a transfer of ETH to an account without code.
const PLAIN_TRANSFER_GAS: u64 = 21_000;

/// How long fees and the key's count read from the node are used for: a block or so. A stale
/// count is harmless (the ledger's sequence is ahead of it, and a nonce found used is signed
/// again after a fresh read); fees a second old are today's.
const CHAIN_READ_TTL: Duration = Duration::from_secs(1);

pub struct Sender {
    provider: DynProvider,
    wallet: EthereumWallet,
    address: Address,
    chain_id: u64,
    ledger: Ledger,
    /// Fees and the key's count (pending included), and when they were read: one read serves
    /// every transaction sent meanwhile.
    chain: tokio::sync::Mutex<Option<(Instant, Eip1559Estimation, u64)>>,
}

/// A transaction with its gas and fees, ready to be signed with a nonce.
pub struct Unsent {
    request: TransactionRequest,
    /// The key's transaction count when it was prepared (pending ones included).
    sent_before: u64,
}

/// A transaction signed with a nonce of its own, its hash known before it is sent.
pub struct Signed {
    envelope: TxEnvelope,
    nonce: u64,
    fees: (u128, u128),
}

impl Signed {
    pub fn hash(&self) -> TxHash {
        *self.envelope.tx_hash()
    }
}

/// What the node said to a signed transaction.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// Taken into its pool.
    Taken(TxHash),
    /// Its nonce was used by another transaction of this key, sent elsewhere: nothing of this
    /// one was sent; sign it again.
    NonceUsed,
    /// Refused: nothing was sent (its nonce was filled or given back).
    Refused(String),
    /// No answer: it may have been sent.
    Unknown(TxHash),
}

/// Why nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum NotSent {
    /// No nonce: the ledger did not answer.
    #[error("taking a nonce: {0}")]
    Ledger(LedgerError),
    /// The node refused it (or would not estimate it), or it could not be signed.
    #[error("{0}")]
    Refused(String),
}

/// What the node's error answer to a sent transaction says about its nonce.
enum Said {
    /// In its pool (taken now, or already).
    Took,
    /// Another transaction of this key has the nonce.
    NonceUsed,
    /// Refused: the nonce is still free.
    Refused,
    /// No answer: it may have been taken.
    Nothing,
}

fn said(e: &RpcError<TransportErrorKind>) -> Said {
    let Some(refusal) = e.as_error_resp() else {
        return Said::Nothing;
    };
    let m = refusal.message.to_lowercase();
    if m.contains("already known") || m.contains("already imported") {
        Said::Took
    } else if m.contains("nonce too low") || m.contains("replacement") {
        Said::NonceUsed
    } else {
        Said::Refused
    }
}

impl Sender {
    pub fn new(
        provider: DynProvider,
        key: PrivateKeySigner,
        chain_id: u64,
        ledger: Ledger,
    ) -> Self {
        Sender {
            provider,
            address: key.address(),
            wallet: EthereumWallet::from(key),
            chain_id,
            ledger,
            chain: tokio::sync::Mutex::default(),
        }
    }

    pub fn address(&self) -> Address {
        self.address
    }

    /// `request` (from this key) with its gas and fees. Without a known `gas` the node
    /// estimates it, so one that would revert now is refused here, before a nonce is spent on
    /// it.
    pub async fn prepare(
        &self,
        request: TransactionRequest,
        gas: Option<u64>,
    ) -> Result<Unsent, String> {
        let request = request.with_from(self.address);
        let estimate = async {
            match gas {
                Some(gas) => Ok(gas),
                None => self.provider.estimate_gas(request.clone()).await,
            }
        };
        let (gas, (fees, sent_before)) = tokio::try_join!(estimate, self.chain_state())
            .map_err(|e| crate::redact(&e.to_string()))?;
        Ok(Unsent {
            request: request
                .with_gas_limit(gas)
                .with_max_fee_per_gas(fees.max_fee_per_gas)
                .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
                .with_chain_id(self.chain_id),
            sent_before,
        })
    }

    /// Fees and the key's count, read at most once per [`CHAIN_READ_TTL`].
    async fn chain_state(&self) -> Result<(Eip1559Estimation, u64), TransportError> {
        let mut read = self.chain.lock().await;
        if let Some((at, fees, count)) = *read {
            if at.elapsed() < CHAIN_READ_TTL {
                return Ok((fees, count));
            }
        }
        let (fees, count) = tokio::try_join!(self.provider.estimate_eip1559_fees(), async {
            self.provider
                .get_transaction_count(self.address)
                .pending()
                .await
        },)?;
        *read = Some((Instant::now(), fees, count));
        Ok((fees, count))
    }

    /// `unsent` signed with the next nonce the ledger hands this key.
    pub async fn sign(&self, unsent: &Unsent) -> Result<Signed, NotSent> {
        let nonce = self
            .ledger
            .take_nonce(Chain::Base, &self.address.to_string(), unsent.sent_before)
            .await
            .map_err(NotSent::Ledger)?;
        let fees = (
            unsent.request.max_fee_per_gas.unwrap_or_default(),
            unsent.request.max_priority_fee_per_gas.unwrap_or_default(),
        );
        let envelope = self.signed(unsent.request.clone(), nonce).await;
        match envelope {
            Ok(envelope) => Ok(Signed {
                envelope,
                nonce,
                fees,
            }),
            Err(e) => {
                self.give_back(nonce).await;
                Err(NotSent::Refused(format!("signing a transaction: {e}")))
            }
        }
    }

    /// Sends `signed`. A nonce another transaction used is said (sign again); one the node
    /// refused for any other reason is filled or given back before this returns.
    pub async fn send(&self, signed: Signed) -> Sent {
        let hash = signed.hash();
        let Err(e) = self.provider.send_tx_envelope(signed.envelope).await else {
            return Sent::Taken(hash);
        };
        match said(&e) {
            Said::Took => Sent::Taken(hash),
            Said::NonceUsed => Sent::NonceUsed,
            Said::Nothing => Sent::Unknown(hash),
            Said::Refused => {
                self.fill(signed.nonce, signed.fees).await;
                Sent::Refused(crate::redact(&e.to_string()))
            }
        }
    }

    /// Prepares, signs and sends `request`, signing again while its nonce turns out used
    /// elsewhere; the transaction's hash if it may have been sent.
    pub async fn submit(
        &self,
        request: TransactionRequest,
        gas: Option<u64>,
    ) -> Result<TxHash, NotSent> {
        for _ in 0..3 {
            let unsent = self
                .prepare(request.clone(), gas)
                .await
                .map_err(NotSent::Refused)?;
            let signed = self.sign(&unsent).await?;
            match self.send(signed).await {
                Sent::Taken(hash) | Sent::Unknown(hash) => return Ok(hash),
                Sent::Refused(why) => return Err(NotSent::Refused(why)),
                // The key's count on chain has moved on: read it again.
                Sent::NonceUsed => *self.chain.lock().await = None,
            }
        }
        Err(NotSent::Refused(
            "this key's nonces keep being used elsewhere".into(),
        ))
    }

    /// Fills `nonce`, whose transaction was refused, with a transfer of nothing to this key
    /// at the same fees — which cannot replace a transaction that did reach the node — or,
    /// if the node refuses that too, gives it back.
    async fn fill(&self, nonce: u64, (max_fee, priority_fee): (u128, u128)) {
        let nothing = TransactionRequest::default()
            .with_from(self.address)
            .with_to(self.address)
            .with_value(U256::ZERO)
            .with_gas_limit(PLAIN_TRANSFER_GAS)
            .with_max_fee_per_gas(max_fee)
            .with_max_priority_fee_per_gas(priority_fee)
            .with_chain_id(self.chain_id);
        let filled = match self.signed(nothing, nonce).await {
            Ok(envelope) => self.provider.send_tx_envelope(envelope).await,
            Err(e) => {
                tracing::warn!(nonce, error = %e, "signing a filler");
                return self.give_back(nonce).await;
            }
        };
        let Err(e) = filled else {
            return tracing::info!(nonce, "a refused transaction's nonce was filled");
        };
        match said(&e) {
            // In the pool, or used after all (what was refused reached the node some other
            // way).
            Said::Took | Said::NonceUsed => {}
            Said::Refused | Said::Nothing => {
                tracing::warn!(nonce, error = %crate::redact(&e.to_string()), "filling a refused transaction's nonce");
                self.give_back(nonce).await;
            }
        }
    }

    /// `signed` will not be sent after all: its nonce is given back.
    pub async fn unsent(&self, signed: Signed) {
        self.give_back(signed.nonce).await;
    }

    async fn give_back(&self, nonce: u64) {
        if let Err(e) = self
            .ledger
            .nonce_unused(Chain::Base, &self.address.to_string(), nonce)
            .await
        {
            tracing::error!(nonce, error = %e, "giving back an unused nonce: transactions after it wait until another takes it");
        }
    }

    async fn signed(&self, request: TransactionRequest, nonce: u64) -> Result<TxEnvelope, String> {
        request
            .with_nonce(nonce)
            .build(&self.wallet)
            .await
            .map_err(|e| e.to_string())
    }
}
