/// Everything the indexer can fail with.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    #[error("stream: {0}")]
    Stream(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}
