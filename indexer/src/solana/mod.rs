//! The Solana side of the indexer.

pub mod backfill;
pub mod follower;
pub mod yellowstone;
