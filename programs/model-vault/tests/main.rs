//! model-vault's test suite: one binary (each links the whole Solana runtime).

mod harness;
mod lifecycle;
