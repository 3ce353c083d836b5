//! Decoding transactions into ledger rows, independent of where they came from (Yellowstone
//! gRPC or RPC backfill): token movements ([`token`]), model-vault instructions ([`vault`]),
//! and the check that decoded movements explain every token balance change.

mod balance_check;
mod raw;
pub mod token;
pub mod vault;

pub use balance_check::{unexplained_balance_changes, Discrepancy};
pub use raw::{raw_from_instructions, Compiled, Instruction, RawTx, TokenBalance};

use ledger::{Batch, TrackedRow, TransferRow, VaultEventRow};

/// Everything the ledger keeps of one transaction.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    pub transfers: Vec<TransferRow>,
    pub vault_events: Vec<VaultEventRow>,
    pub discrepancies: Vec<Discrepancy>,
    /// Accounts to watch from now on (see [`vault::new_accounts`]).
    pub new_accounts: Vec<TrackedRow>,
}

pub fn decode(tx: &RawTx) -> Decoded {
    let transfers = token::transfers(tx);
    let discrepancies = unexplained_balance_changes(tx, &transfers);
    Decoded {
        vault_events: vault::events(tx),
        new_accounts: vault::new_accounts(tx),
        transfers,
        discrepancies,
    }
}

impl Decoded {
    /// Moves these rows into `batch`.
    pub fn add_to(self, batch: &mut Batch, slot: u64) {
        batch.transfers.extend(self.transfers);
        batch.vault_events.extend(self.vault_events);
        batch
            .discrepancies
            .extend(self.discrepancies.into_iter().map(|d| d.row(slot)));
        batch.tracked.extend(self.new_accounts);
    }
}
