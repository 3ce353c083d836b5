//! paywire's indexer: chain followers feeding the ledger. Source → decoder → writer:
//! followers turn what a chain delivers into [`decode::RawTx`], the decoders turn those into
//! ledger rows, and the ledger writes them in batches with the follower's cursor.

pub mod bench;
pub mod decode;
mod error;
pub mod solana;

pub use error::IndexerError;
