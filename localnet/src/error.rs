use solana_transaction_error::TransactionError;

/// Everything the local chains can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LocalnetError {
    #[error("bank: {0}")]
    Bank(String),
    #[error("transaction rejected: {0}")]
    Rejected(TransactionError),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("local Base: {0}")]
    Evm(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl From<solana_program_test::BanksClientError> for LocalnetError {
    fn from(e: solana_program_test::BanksClientError) -> Self {
        match e {
            solana_program_test::BanksClientError::TransactionError(t) => Self::Rejected(t),
            solana_program_test::BanksClientError::SimulationError { err, .. } => {
                Self::Rejected(err)
            }
            other => Self::Bank(other.to_string()),
        }
    }
}
