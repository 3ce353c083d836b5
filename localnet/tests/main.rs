//! localnet's test suite: production clients against the local chains.

mod cleanup;
mod evm;
mod grpc;
mod rpc;
mod setup;
