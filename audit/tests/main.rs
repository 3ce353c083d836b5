//! The audit against a real Postgres (each test gets its own database from `#[sqlx::test]`)
//! and, for the vault checks, a real localnet.

mod balances;
mod charges;
mod page;
mod revenue;
mod strict;
mod vaults;
