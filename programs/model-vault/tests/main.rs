//! model-vault's test suite: one binary (each links the whole Solana runtime).

mod buyback_guards;
mod curve_props;
mod harness;
mod idl;
mod lifecycle;
mod security;
mod trading;
