//! model-vault's test suite: one binary (each links the whole Solana runtime).

mod buyback_guards;
mod curve_props;
mod harness;
mod lifecycle;
mod security;
mod trading;
