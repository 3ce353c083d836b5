//! The paying side of `exact`, as x402 clients build payments: on Solana a transaction with
//! compute-budget instructions, a `TransferChecked` to `payTo`'s USDC account and the memo;
//! on Base an EIP-3009 authorization signed under the USDC contract's EIP-712 domain.

use std::{
    str::FromStr,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::json;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_message::{v0, VersionedMessage};
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use spl_associated_token_account_interface::address::get_associated_token_address_with_program_id;

use super::{
    eip3009::{self, Signed},
    wire::{PaymentPayload, PaymentRequirements, X402_VERSION},
};

const MEMO_PROGRAM: Pubkey = Pubkey::from_str_const("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");

/// Circle's USDC on the networks x402 clients pay on: the asset a payer should expect.
pub fn known_usdc(network: &str) -> Option<&'static str> {
    Some(match network {
        "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp" => "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1" => "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
        "eip155:8453" => "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        "eip155:84532" => "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        _ => return None,
    })
}

/// The instructions a Solana payment for `required` consists of, in the order the scheme
/// requires (compute limit, compute price, transfer, memo).
pub fn solana_instructions(
    required: &PaymentRequirements,
    payer: &Pubkey,
    token_program: &Pubkey,
    compute_unit_price: u64,
) -> Result<Vec<solana_instruction::Instruction>, String> {
    let key =
        |text: &str, what: &str| Pubkey::from_str(text).map_err(|e| format!("{what} {text}: {e}"));
    let mint = key(&required.asset, "asset")?;
    let pay_to = key(&required.pay_to, "payTo")?;
    let amount: u64 = required
        .amount
        .parse()
        .map_err(|_| format!("amount {}", required.amount))?;
    let memo = required
        .extra_str("memo")
        .map(str::to_string)
        .unwrap_or_else(|| bs58::encode(rand::random::<[u8; 16]>()).into_string());
    Ok(vec![
        solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(20_000),
        solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_price(
            compute_unit_price,
        ),
        spl_token_interface::instruction::transfer_checked(
            token_program,
            &get_associated_token_address_with_program_id(payer, &mint, token_program),
            &mint,
            &get_associated_token_address_with_program_id(&pay_to, &mint, token_program),
            payer,
            &[],
            amount,
            6,
        )
        .map_err(|e| e.to_string())?,
        solana_instruction::Instruction {
            program_id: MEMO_PROGRAM,
            accounts: vec![],
            data: memo.into_bytes(),
        },
    ])
}

/// Compiles `instructions` with `required`'s fee payer and signs as `payer`, leaving the fee
/// payer's signature for the facilitator.
pub fn solana_payment(
    required: &PaymentRequirements,
    payer: &Keypair,
    instructions: &[solana_instruction::Instruction],
    blockhash: Hash,
) -> Result<PaymentPayload, String> {
    let fee_payer = required
        .extra_str("feePayer")
        .ok_or("the requirements name no extra.feePayer")
        .and_then(|k| Pubkey::from_str(k).map_err(|_| "extra.feePayer is not an address"))?;
    let message = v0::Message::try_compile(&fee_payer, instructions, &[], blockhash)
        .map_err(|e| e.to_string())?;
    let message = VersionedMessage::V0(message);
    let signature = payer.sign_message(&message.serialize());
    let signers = message.header().num_required_signatures as usize;
    let mut signatures = vec![Signature::default(); signers];
    let position = message
        .static_account_keys()
        .iter()
        .position(|k| *k == payer.pubkey())
        .filter(|p| *p < signers)
        .ok_or("the payer is not a signer of the transaction")?;
    signatures[position] = signature;
    let tx = VersionedTransaction {
        signatures,
        message,
    };
    let bytes = bincode::serialize(&tx).map_err(|e| e.to_string())?;
    Ok(PaymentPayload {
        x402_version: X402_VERSION,
        resource: None,
        accepted: required.clone(),
        payload: json!({ "transaction": STANDARD.encode(bytes) }),
        extensions: None,
    })
}

/// A payment for `required` as the official client builds it: USDC under SPL Token, a
/// compute-unit price of 1 microlamport.
pub fn solana_exact(
    required: &PaymentRequirements,
    payer: &Keypair,
    blockhash: Hash,
) -> Result<PaymentPayload, String> {
    let ixs = solana_instructions(required, &payer.pubkey(), &spl_token_interface::ID, 1)?;
    solana_payment(required, payer, &ixs, blockhash)
}

/// An EIP-3009 authorization of `required`, valid from ten minutes ago (clock skew) until
/// `maxTimeoutSeconds` from now.
pub async fn base_payment(
    required: &PaymentRequirements,
    payer: &PrivateKeySigner,
) -> Result<PaymentPayload, String> {
    let chain_id: u64 = required
        .network
        .strip_prefix("eip155:")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| format!("{} is not an EVM network", required.network))?;
    let usdc: Address = required
        .asset
        .parse()
        .map_err(|_| "asset is not an address")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let message = Signed::message(
        payer.address(),
        required
            .pay_to
            .parse()
            .map_err(|_| "payTo is not an address")?,
        U256::from_str_radix(&required.amount, 10).map_err(|_| "amount is not a number")?,
        now.saturating_sub(600),
        now + required.max_timeout_seconds,
    );
    let domain = eip3009::domain(
        required.extra_str("name").unwrap_or("USD Coin"),
        required.extra_str("version").unwrap_or("2"),
        chain_id,
        usdc,
    );
    let signed = Signed::sign(payer, message, &domain)
        .await
        .map_err(|e| e.to_string())?;
    Ok(PaymentPayload {
        x402_version: X402_VERSION,
        resource: None,
        accepted: required.clone(),
        payload: serde_json::to_value(signed.payload()).map_err(|e| e.to_string())?,
        extensions: None,
    })
}

/// Adds the `payment-identifier` extension: retries with the same id are answered once.
pub fn with_payment_id(mut payment: PaymentPayload, id: &str) -> PaymentPayload {
    let mut extensions = payment.extensions.take().unwrap_or_else(|| json!({}));
    extensions["payment-identifier"] = json!({ "info": { "id": id } });
    payment.extensions = Some(extensions);
    payment
}
