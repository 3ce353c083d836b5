/// Everything the ledger can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot reach Postgres at {url}: {source} (is it running? set DATABASE_URL)")]
    Connect { url: String, source: sqlx::Error },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("conflict: {0}")]
    Conflict(String),
    /// Another process took the lease this writer held (see `Ledger::try_lease`).
    #[error("another process took over the lease on {0}")]
    LeaseLost(String),
    #[error("migrating the ledger schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}
