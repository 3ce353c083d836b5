//! The indexer's test suite.

mod backfill;
mod base;
mod decode;
mod follower;
mod service;
mod usdc_chain;
mod yellowstone;
