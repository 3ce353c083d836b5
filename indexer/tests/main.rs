//! The indexer's test suite.

mod decode;
mod follower;
mod usdc_chain;
mod yellowstone;
