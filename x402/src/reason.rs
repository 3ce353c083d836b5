//! Why a payment was refused or did not settle, as the x402 wire spells it (`invalidReason`,
//! `errorReason`): the spec's reasons for the `exact` scheme on each chain, and a few of this
//! operator's own (quotes, payer refusal, expiry), each spelled once.

/// An x402 error reason; `Display` and `as_ref` give its wire spelling (snake_case).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, strum::Display, strum::AsRefStr, strum::EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum Reason {
    InvalidExactSvmPayloadAmountMismatch,
    InvalidExactSvmPayloadBlockhashExpired,
    InvalidExactSvmPayloadMemoMismatch,
    InvalidExactSvmPayloadMintMismatch,
    InvalidExactSvmPayloadNoTransferInstruction,
    InvalidExactSvmPayloadRecipientMismatch,
    InvalidExactSvmPayloadSignature,
    InvalidExactSvmPayloadTransaction,
    InvalidExactSvmPayloadTransactionFeePayerTransferringFunds,
    InvalidExactSvmPayloadTransactionInstructionsComputeLimitInstruction,
    InvalidExactSvmPayloadTransactionInstructionsComputePriceInstruction,
    InvalidExactSvmPayloadTransactionInstructionsComputePriceInstructionTooHigh,
    InvalidExactSvmPayloadTransactionInstructionsLength,
    InvalidExactSvmPayloadUnknownFourthInstruction,
    InvalidExactEvmNonceAlreadyUsed,
    InvalidExactEvmPayloadAssetMismatch,
    InvalidExactEvmPayloadAuthorizationValidAfter,
    InvalidExactEvmPayloadAuthorizationValidBefore,
    InvalidExactEvmPayloadAuthorizationValueMismatch,
    InvalidExactEvmPayloadRecipientMismatch,
    InvalidExactEvmPayloadSignature,
    DuplicateSettlement,
    FeePayerNotManagedByFacilitator,
    InsufficientFunds,
    InvalidNetwork,
    InvalidPayload,
    InvalidPaymentRequirements,
    /// A quote id that is not ours, or whose terms were changed.
    InvalidQuote,
    InvalidX402Version,
    /// A payer whose payments keep failing on chain (this operator's policy).
    PayerRefused,
    /// A quote past its validity.
    QuoteExpired,
    /// A settlement that can no longer land (its blockhash or `validBefore` passed without it): nothing was taken.
    SettlementExpired,
    /// A payment that passed verification and then failed on chain: the payer kept the money and we paid the fee; the ledger counts these per payer.
    TransactionFailed,
    TransactionSimulationFailed,
    /// A chain or facilitator that did not answer, or refused, while settling.
    UnexpectedSettleError,
    /// A chain or facilitator that did not answer while verifying.
    UnexpectedVerifyError,
    UnsupportedScheme,
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::Reason;

    #[test]
    fn reasons_are_spelled_as_on_the_wire() {
        assert_eq!(
            Reason::InvalidExactSvmPayloadTransactionInstructionsComputePriceInstructionTooHigh
                .to_string(),
            "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction_too_high"
        );
        assert_eq!(Reason::InvalidX402Version.as_ref(), "invalid_x402_version");
        assert_eq!(
            Reason::from_str("settlement_expired"),
            Ok(Reason::SettlementExpired)
        );
    }
}
