//! The Solana side of the indexer.

pub mod yellowstone;
