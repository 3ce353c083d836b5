/// Everything an audit can fail with: it could not read the ledger or the chain. (What does
/// not reconcile is not an error: it is in the report.)
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    /// The chain could not be read (RPC unreachable, an account missing or undecodable).
    #[error("{0}")]
    Chain(String),
    /// The scope names a model nothing knows: no charge, no catalog entry, no account on chain.
    #[error("no model {0} in the ledger (no charge, no catalog entry, not registered on chain): check the slug")]
    UnknownModel(String),
}
