//! One module per `paywire` command: its arguments (clap) and what it does.

pub mod audit;
pub mod balance;
pub mod bench;
pub mod chat;
pub mod config;
pub mod crank;
pub mod gateway;
pub mod indexer;
pub mod keys;
pub mod localnet;
pub mod model;
pub mod operator_transfer;
pub mod topup;
pub mod up;
pub mod wallet;
pub mod withdraw;
