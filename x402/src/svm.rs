//! `exact` on Solana: the client signs a transaction that moves USDC with `TransferChecked`
//! to the `payTo` owner's USDC account; we check it instruction by instruction, co-sign it as
//! fee payer, simulate it, and settle it by sending it and waiting for `confirmed`.

use std::{str::FromStr, sync::Arc, time::Duration};

use base64::{engine::general_purpose::STANDARD, Engine};
use solana_client::{
    nonblocking::rpc_client::RpcClient,
    rpc_config::{RpcSendTransactionConfig, RpcSimulateTransactionConfig},
};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use spl_associated_token_account_interface::address::get_associated_token_address_with_program_id;

use super::{
    wire::{PaymentPayload, PaymentRequirements},
    Reason, Rejection,
};

const MEMO_PROGRAM: Pubkey = Pubkey::from_str_const("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");
const LIGHTHOUSE_PROGRAM: Pubkey =
    Pubkey::from_str_const("L2TExMFKdjpN9kozasaurPirfHy9P8sbXoAN1qA3S95");
const TRANSFER_CHECKED: u8 = 12;
const SET_COMPUTE_UNIT_LIMIT: u8 = 2;
const SET_COMPUTE_UNIT_PRICE: u8 = 3;
/// Compute budget, transfer, then up to four Memo or Lighthouse instructions: the spec's
/// 3–7 (wallets such as Phantom add three Lighthouse assertions to the memo).
const INSTRUCTIONS: std::ops::RangeInclusive<usize> = 3..=7;
const POLL: Duration = Duration::from_millis(50);
const REBROADCAST: Duration = Duration::from_secs(2);

/// A nonce memo of a payment whose requirements carry none (x402 v1 clients add one).
const MAX_NONCE_MEMO: usize = 64;

#[derive(Clone)]
pub struct SvmConfig {
    /// CAIP-2 id of the cluster.
    pub network: String,
    pub usdc_mint: Pubkey,
    /// Pays the transaction fees; never a source of funds.
    pub fee_payer: Arc<Keypair>,
    /// Highest compute-unit price accepted, in microlamports (x402: 5 lamports/CU).
    pub max_compute_unit_price: u64,
    pub max_compute_units: u32,
}

/// A payment that passed every check, co-signed and ready to send.
#[derive(Clone, Debug)]
pub struct VerifiedSvm {
    pub transaction: VersionedTransaction,
    /// The transaction id (our fee-payer signature): the settlement key.
    pub signature: Signature,
    /// The transfer authority.
    pub payer: Pubkey,
    pub amount: u64,
}

pub struct SvmExact {
    pub config: SvmConfig,
    rpc: RpcClient,
}

impl SvmExact {
    pub fn new(config: SvmConfig, rpc_url: &str) -> Self {
        SvmExact {
            config,
            rpc: RpcClient::new_with_commitment(rpc_url.to_string(), CommitmentConfig::confirmed()),
        }
    }

    pub fn fee_payer(&self) -> Pubkey {
        self.config.fee_payer.pubkey()
    }

    /// The payment's transaction, if its shape is one we could ever co-sign: exactly the
    /// fee payer and one payer as signers, the fee payer in no instruction, compute budget
    /// within our caps, a token `TransferChecked` by the second signer, then only Memo or
    /// Lighthouse. Nothing here depends on the price, so it also guards signing the
    /// transaction just to learn its id ([`Self::transaction_id`]).
    fn shaped(&self, payment: &PaymentPayload) -> Result<VersionedTransaction, Rejection> {
        let encoded = payment
            .payload
            .get("transaction")
            .and_then(|t| t.as_str())
            .ok_or_else(|| Rejection::invalid_payload("payload.transaction (base64) is missing"))?;
        let bytes = STANDARD.decode(encoded).map_err(|e| {
            Rejection::invalid_payload(format!("payload.transaction is not base64: {e}"))
        })?;
        let tx: VersionedTransaction = bincode::deserialize(&bytes).map_err(|e| {
            Rejection::invalid_payload(format!(
                "payload.transaction is not a Solana transaction: {e}"
            ))
        })?;
        let fee_payer = self.fee_payer();
        let message = &tx.message;
        if !message
            .address_table_lookups()
            .unwrap_or_default()
            .is_empty()
        {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadTransaction,
                "address lookup tables are not accepted",
            ));
        }
        let keys = message.static_account_keys();
        if message.header().num_required_signatures != 2 || tx.signatures.len() != 2 {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadTransaction,
                "the transaction must have exactly two signers: the fee payer and the payer",
            ));
        }
        if keys.first() != Some(&fee_payer) {
            return Err(Rejection::new(
                Reason::FeePayerNotManagedByFacilitator,
                format!("the fee payer must be {fee_payer}"),
            ));
        }
        let instructions = message.instructions();
        if !INSTRUCTIONS.contains(&instructions.len()) {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadTransactionInstructionsLength,
                format!(
                    "expected {} to {} instructions, found {}",
                    INSTRUCTIONS.start(),
                    INSTRUCTIONS.end(),
                    instructions.len()
                ),
            ));
        }
        let program = |i: usize| keys.get(instructions[i].program_id_index as usize).copied();
        // Fee-payer isolation: our key appears in no instruction, so it can move nothing.
        if instructions.iter().any(|ix| ix.accounts.contains(&0)) {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadTransactionFeePayerTransferringFunds,
                "the fee payer may not appear in any instruction",
            ));
        }

        let compute_budget = solana_compute_budget_interface::ID;
        let (limit, price) = (&instructions[0].data, &instructions[1].data);
        if program(0) != Some(compute_budget)
            || limit.first() != Some(&SET_COMPUTE_UNIT_LIMIT)
            || limit.len() != 5
        {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadTransactionInstructionsComputeLimitInstruction,
                "instruction 0 must set the compute-unit limit",
            ));
        }
        if program(1) != Some(compute_budget)
            || price.first() != Some(&SET_COMPUTE_UNIT_PRICE)
            || price.len() != 9
        {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadTransactionInstructionsComputePriceInstruction,
                "instruction 1 must set the compute-unit price",
            ));
        }
        let units = u32::from_le_bytes(limit[1..5].try_into().expect("4 bytes"));
        let micro_lamports = u64::from_le_bytes(price[1..9].try_into().expect("8 bytes"));
        if units > self.config.max_compute_units {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadTransactionInstructionsComputeLimitInstruction,
                format!(
                    "compute-unit limit {units} is over {}: a transfer with a memo needs far less",
                    self.config.max_compute_units
                ),
            ));
        }
        if micro_lamports > self.config.max_compute_unit_price {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadTransactionInstructionsComputePriceInstructionTooHigh,
                format!(
                    "compute-unit price {micro_lamports} µlamports is over the cap of {}",
                    self.config.max_compute_unit_price
                ),
            ));
        }

        let token_program = program(2).unwrap_or_default();
        let transfer = &instructions[2].data;
        if ![spl_token_interface::ID, spl_token_2022_interface::ID].contains(&token_program)
            || transfer.first() != Some(&TRANSFER_CHECKED)
            || transfer.len() != 10
        {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadNoTransferInstruction,
                "instruction 2 must be a token TransferChecked",
            ));
        }
        for (i, _) in instructions.iter().enumerate().skip(3) {
            match program(i) {
                Some(p) if p == MEMO_PROGRAM || p == LIGHTHOUSE_PROGRAM => {}
                other => {
                    return Err(Rejection::new(
                        Reason::InvalidExactSvmPayloadUnknownFourthInstruction,
                        format!(
                        "instruction {i} calls {}, only Memo or Lighthouse may follow the transfer",
                        other.unwrap_or_default()
                    ),
                    ))
                }
            }
        }
        Ok(tx)
    }

    /// The id the payment's transaction will have once we co-sign it (ed25519 signatures
    /// are deterministic), for a transaction of a shape we would co-sign.
    pub fn transaction_id(&self, payment: &PaymentPayload) -> Option<(Signature, Pubkey)> {
        let tx = self.shaped(payment).ok()?;
        let payer = *tx.message.static_account_keys().get(1)?;
        Some((
            self.config.fee_payer.sign_message(&tx.message.serialize()),
            payer,
        ))
    }

    /// Every check of the x402 `exact` SVM scheme, then a co-signed simulation.
    pub async fn verify(
        &self,
        payment: &PaymentPayload,
        required: &PaymentRequirements,
    ) -> Result<VerifiedSvm, Rejection> {
        super::check_exact_on(payment, required, &self.config.network)?;
        let fee_payer = self.fee_payer();
        if required.extra_str("feePayer") != Some(fee_payer.to_string().as_str()) {
            return Err(Rejection::new(
                Reason::FeePayerNotManagedByFacilitator,
                format!("extra.feePayer must be {fee_payer}"),
            ));
        }
        let mint = key(&required.asset, "asset")?;
        if mint != self.config.usdc_mint {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadMintMismatch,
                format!("asset must be USDC ({})", self.config.usdc_mint),
            ));
        }
        let pay_to = key(&required.pay_to, "payTo")?;
        let amount = required.amount_units()?;

        let mut tx = self.shaped(payment)?;
        let message = &tx.message;
        let keys = message.static_account_keys();
        let instructions = message.instructions();
        let program = |i: usize| keys.get(instructions[i].program_id_index as usize).copied();
        let account = |i: usize, n: usize| -> Result<Pubkey, Rejection> {
            instructions[i]
                .accounts
                .get(n)
                .and_then(|k| keys.get(*k as usize))
                .copied()
                .ok_or_else(|| {
                    Rejection::invalid_payload(format!("instruction {i} lacks account {n}"))
                })
        };
        let token_program = program(2).unwrap_or_default();
        let transfer = &instructions[2].data;
        let (source, transfer_mint, destination, authority) = (
            account(2, 0)?,
            account(2, 1)?,
            account(2, 2)?,
            account(2, 3)?,
        );
        let transferred = u64::from_le_bytes(transfer[1..9].try_into().expect("8 bytes"));
        if transfer_mint != mint {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadMintMismatch,
                format!("the transfer moves {transfer_mint}, not USDC"),
            ));
        }
        let expected_destination =
            get_associated_token_address_with_program_id(&pay_to, &mint, &token_program);
        if destination != expected_destination {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadRecipientMismatch,
                format!("the transfer must go to {expected_destination} (the USDC account of payTo {pay_to})"),
            ));
        }
        if transferred != amount {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadAmountMismatch,
                format!("the transfer moves {transferred}, the price is {amount}"),
            ));
        }
        if source == fee_payer || authority == fee_payer {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadTransactionFeePayerTransferringFunds,
                "the fee payer may not be the source or authority",
            ));
        }
        if keys.get(1) != Some(&authority) {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadTransaction,
                "the transfer authority must be the second signer",
            ));
        }

        let memos: Vec<&[u8]> = (3..instructions.len())
            .filter(|i| program(*i) == Some(MEMO_PROGRAM))
            .map(|i| instructions[i].data.as_slice())
            .collect();
        match required.extra_str("memo") {
            Some(memo) if memos.len() != 1 || memos[0] != memo.as_bytes() => {
                return Err(Rejection::new(
                    Reason::InvalidExactSvmPayloadMemoMismatch,
                    "exactly one Memo instruction holding extra.memo (it binds the payment to its quote) is required",
                ))
            }
            // v1 and other requirements without a memo: clients add a random nonce memo so
            // identical payments differ; at most one, of a nonce's size.
            None if memos.len() > 1 || memos.iter().any(|m| m.len() > MAX_NONCE_MEMO) => {
                return Err(Rejection::new(
                    Reason::InvalidExactSvmPayloadMemoMismatch,
                    format!("at most one Memo of up to {MAX_NONCE_MEMO} bytes is accepted"),
                ))
            }
            _ => {}
        }

        let bytes = message.serialize();
        if !tx.signatures[1].verify(authority.as_ref(), &bytes) {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadSignature,
                "the payer's signature does not verify",
            ));
        }
        let blockhash = *message.recent_blockhash();
        let signature = self.config.fee_payer.sign_message(&bytes);
        tx.signatures[0] = signature;
        // Both questions at once: one round trip instead of two.
        let (fresh, simulation) = tokio::join!(
            self.rpc
                .is_blockhash_valid(&blockhash, CommitmentConfig::confirmed()),
            self.rpc.simulate_transaction_with_config(
                &tx,
                RpcSimulateTransactionConfig {
                    sig_verify: true,
                    commitment: Some(CommitmentConfig::confirmed()),
                    ..Default::default()
                },
            )
        );
        let fresh = fresh.map_err(|e| super::chain_unavailable("checking the blockhash", &e))?;
        if !fresh {
            return Err(Rejection::new(
                Reason::InvalidExactSvmPayloadBlockhashExpired,
                "the transaction's blockhash has expired: sign a new payment with a fresh blockhash",
            ));
        }
        let simulation =
            simulation.map_err(|e| super::chain_unavailable("simulating the payment", &e))?;
        if let Some(err) = simulation.value.err {
            return Err(Rejection::new(
                Reason::TransactionSimulationFailed,
                format!("the payment would fail on chain ({err}); check the payer's USDC balance and account"),
            ));
        }
        Ok(VerifiedSvm {
            transaction: tx,
            signature,
            payer: authority,
            amount,
        })
    }

    /// Sends a verified payment and waits until it is `confirmed`, or until it can no
    /// longer land: its blockhash expired without it. Until then the transaction is sent
    /// again every [`REBROADCAST`] (a node may drop it) and a send or status error is not an
    /// answer, since the payment may still land; only the chain ends the wait.
    pub async fn settle(&self, verified: &VerifiedSvm) -> Result<(), Rejection> {
        let blockhash = *verified.transaction.message.recent_blockhash();
        let started = tokio::time::Instant::now();
        let mut next_send = started;
        loop {
            // Each rebroadcast is also when we ask whether the blockhash has expired.
            let mut expired = false;
            if tokio::time::Instant::now() >= next_send {
                if let Err(e) = self
                    .rpc
                    .send_transaction_with_config(
                        &verified.transaction,
                        RpcSendTransactionConfig {
                            skip_preflight: true,
                            ..Default::default()
                        },
                    )
                    .await
                {
                    tracing::warn!(payment = %verified.signature, error = %super::redact(&e.to_string()), "sending a payment; will retry until its blockhash expires");
                }
                next_send += REBROADCAST;
                expired = next_send > started + REBROADCAST
                    && self
                        .rpc
                        .is_blockhash_valid(&blockhash, CommitmentConfig::confirmed())
                        .await
                        .is_ok_and(|valid| !valid);
            }
            match self.outcome(&verified.signature, false).await {
                Ok(Some(outcome)) => return outcome,
                // Read after the blockhash expired, "not there" is final.
                Ok(None) if expired => {
                    return Err(Rejection::new(
                        Reason::SettlementExpired,
                        format!(
                            "payment {} did not land before its blockhash expired: nothing was taken; sign a new payment",
                            verified.signature
                        ),
                    ))
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(payment = %verified.signature, error = %e, "reading a payment's status"),
            }
            // Quick at first (most payments confirm within a few slots), then gentler on the RPC.
            let pause = match started.elapsed() < REBROADCAST {
                true => POLL,
                false => POLL * 8,
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// Transaction `signature`'s outcome once the chain has one: confirmed, or failed on
    /// chain; an error when the chain does not answer. `history` searches past the node's
    /// recent status cache (for payments long gone by; slower, so not while polling).
    pub async fn outcome(
        &self,
        signature: &Signature,
        history: bool,
    ) -> Result<Option<Result<(), Rejection>>, String> {
        let signatures = [*signature];
        let statuses = match history {
            true => {
                self.rpc
                    .get_signature_statuses_with_history(&signatures)
                    .await
            }
            false => self.rpc.get_signature_statuses(&signatures).await,
        };
        let status = statuses
            .map_err(|e| super::redact(&e.to_string()))?
            .value
            .into_iter()
            .next()
            .flatten();
        Ok(status.and_then(|status| match status.err {
            Some(err) => Some(Err(Rejection::new(
                Reason::TransactionFailed,
                format!("the payment failed on chain: {err}"),
            ))),
            None => status
                .satisfies_commitment(CommitmentConfig::confirmed())
                .then_some(Ok(())),
        }))
    }
}

fn key(text: &str, what: &str) -> Result<Pubkey, Rejection> {
    Pubkey::from_str(text)
        .map_err(|_| Rejection::invalid_payload(format!("{what} {text:?} is not a Solana address")))
}
