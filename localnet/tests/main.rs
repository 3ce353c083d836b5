//! localnet's test suite: production clients against the local chains.

mod blockhashes;
mod cleanup;
mod evm;
mod grpc;
mod rpc;
mod setup;
