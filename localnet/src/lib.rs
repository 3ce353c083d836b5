//! Local chains for development, demos and tests: an in-process Solana with the model-vault
//! program, reachable with production clients over JSON-RPC and Yellowstone gRPC, and anvil
//! with a USDC look-alike for Base.

pub mod error;
pub mod evm;
mod setup;
pub mod solana;

pub use error::LocalnetError;
pub use setup::{
    default_params, BaseState, Localnet, LocalnetConfig, LocalnetState, SolanaState, DEMO_USDC,
};
