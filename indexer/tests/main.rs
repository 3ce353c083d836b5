//! The indexer's test suite.

mod backfill;
mod decode;
mod follower;
mod usdc_chain;
mod yellowstone;
