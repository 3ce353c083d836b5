//! Local chains for development, demos and tests: an in-process Solana with the model-vault
//! program, reachable with production clients over JSON-RPC.

pub mod error;
pub mod solana;

pub use error::LocalnetError;
