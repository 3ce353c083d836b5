/// Everything the indexer can fail with.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    /// A live stream broke: resume from the cursor.
    #[error("stream: {0}")]
    Stream(String),
    /// A source could not be reached or refused a request (RPC, subscribing).
    #[error("{0}")]
    Source(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("configuration: {0}")]
    Config(String),
}
