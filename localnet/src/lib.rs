//! Local chains for development, demos and tests: an in-process Solana with the model-vault
//! program, reachable with production clients over JSON-RPC and Yellowstone gRPC, and anvil
//! with a USDC look-alike for Base.

pub mod error;
pub mod evm;
pub mod files;
mod owned;
pub mod process;
mod program;
mod setup;
pub mod solana;

pub use error::LocalnetError;
pub use files::{write_keypair, DataDir};
pub use owned::OwnedLocalnet;
pub use program::{ProgramBuild, SBF_BUILD};
pub use setup::{
    read_keypair, BaseState, Localnet, LocalnetConfig, LocalnetState, SolanaState, DEMO_USDC,
    TREASURY_FLOAT,
};

/// Sets `RUST_LOG=error` unless it is set: program-test otherwise logs every instruction at
/// debug level. Call before the first chain starts (tests and tools embedding localnet).
pub fn quiet_runtime_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("RUST_LOG").is_none() {
            // SAFETY: runs once, before program-test starts its logger.
            unsafe { std::env::set_var("RUST_LOG", "error") };
        }
    });
}
