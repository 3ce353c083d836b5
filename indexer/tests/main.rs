//! The indexer's test suite.

mod decode;
mod yellowstone;
