//! The gateway's test suite: localnet (Solana + anvil), real Postgres, an in-process mock
//! upstream, real HTTP.

mod balance;
mod facilitator;
mod faults;
mod hardening;
mod interop;
mod keys;
mod nonces;
mod once;
mod overlap;
mod paid;
mod refused;
mod support;
