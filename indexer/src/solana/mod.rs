//! The Solana side of the indexer.

pub mod follower;
pub mod yellowstone;
