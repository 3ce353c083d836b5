//! paywire's indexer: chain followers feeding the ledger. Source → decoder → writer:
//! followers turn what a chain delivers into [`decode::RawTx`], the decoders turn those into
//! ledger rows, and the ledger writes them in batches with the follower's cursor.

pub mod base;
pub mod bench;
pub mod config;
pub mod decode;
mod error;
pub mod metrics;
mod retry;
pub mod service;
pub mod solana;

pub use config::IndexerConfig;
pub use error::IndexerError;
pub use metrics::Metrics;
pub use service::run;
