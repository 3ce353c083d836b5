//! paywire's audit: everything that reconciles what the gateway sold and what the ledger says
//! with what the chains hold, and how it is shown.
//!
//! - [`charges`]: every settled charge against its on-chain transfer, and every inflow to a
//!   payTo address that no charge or model-vault instruction explains;
//! - [`revenue`]: what each model earned, what its vault received, what is owed; every release
//!   against its transfer and a computation, every treasury outflow against its cause;
//! - [`balances`]: payer balances and owed revenue as the treasuries' liabilities, each the sum of its entries,
//!   and every withdrawal against its transfer;
//! - [`vaults`]: each tokenized model's vault (revenue in = balance + what left, by cause) and
//!   token supply (minted − burned) against the chain;
//! - [`report`]: one [`Report`] of both, serialised once (the API's JSON and `paywire audit
//!   --format json` are the same), and its table and CSV;
//! - [`api`]: the read-only ledger API and the page that charts it.
//!
//! It only reads: the ledger's reads return amounts as stored, and an amount that cannot be
//! read is a discrepancy in the report, never 0.

mod amount;
pub mod api;
pub mod balances;
pub mod charges;
mod error;
pub mod report;
pub mod revenue;
pub mod vaults;

pub use amount::Amount;
pub use balances::{audit_balances, BalanceAudit};
pub use charges::{audit_charges, ChargeAudit, ChargeCheck, Reconciliation, UnexplainedInflow};
pub use error::AuditError;
pub use ledger::AuditScope;
pub use report::{Format, Report};
pub use revenue::{audit_revenue, ModelRevenue, RevenueAudit};
pub use vaults::{ModelCheck, VaultAudit};
