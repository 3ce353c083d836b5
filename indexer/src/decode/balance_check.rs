//! The audit invariant: for every token account, the decoded movements sum to the change
//! of its balance. A mismatch is recorded, never dropped (a movement we could not decode:
//! an unknown program, a confidential transfer, a transfer fee).

use std::collections::BTreeMap;

use ledger::TransferRow;

use super::raw::RawTx;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discrepancy {
    pub signature: String,
    pub account: String,
    pub mint: String,
    /// post − pre, from the transaction's token balances.
    pub balance_change: i128,
    /// incoming − outgoing, from the decoded movements.
    pub decoded_change: i128,
}

impl Discrepancy {
    /// As the ledger stores it.
    pub fn row(self, block: u64) -> ledger::DiscrepancyRow {
        ledger::DiscrepancyRow {
            tx: self.signature,
            account: self.account,
            mint: self.mint,
            block,
            balance_change: self.balance_change,
            decoded_change: self.decoded_change,
        }
    }
}

pub fn unexplained_balance_changes(tx: &RawTx, transfers: &[TransferRow]) -> Vec<Discrepancy> {
    // account → (mint, pre, post)
    let mut balances: BTreeMap<&str, (&str, i128, i128)> = BTreeMap::new();
    for b in &tx.pre_token_balances {
        balances.entry(&b.account).or_insert((&b.mint, 0, 0)).1 = i128::from(b.amount);
    }
    for b in &tx.post_token_balances {
        balances.entry(&b.account).or_insert((&b.mint, 0, 0)).2 = i128::from(b.amount);
    }
    let mut decoded: BTreeMap<&str, i128> = BTreeMap::new();
    for t in transfers.iter().filter(|t| t.success) {
        if let Some(d) = &t.destination {
            *decoded.entry(d).or_default() += i128::from(t.amount);
        }
        if let Some(s) = &t.source {
            *decoded.entry(s).or_default() -= i128::from(t.amount);
        }
    }
    balances
        .into_iter()
        .filter_map(|(account, (mint, pre, post))| {
            let decoded_change = decoded.get(account).copied().unwrap_or(0);
            (post - pre != decoded_change).then(|| Discrepancy {
                signature: tx.signature.clone(),
                account: account.to_string(),
                mint: mint.to_string(),
                balance_change: post - pre,
                decoded_change,
            })
        })
        .collect()
}
