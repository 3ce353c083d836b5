//! SPL Token and Token-2022 movements: Transfer, TransferChecked, MintTo(Checked),
//! Burn(Checked), also inside a Batch (tag 255), keyed on the program id.

use ledger::{TransferKind, TransferRow};

use super::raw::{Instruction, RawTx};

pub const TOKEN_PROGRAM: &str = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
pub const TOKEN_2022_PROGRAM: &str = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb";

const TRANSFER: u8 = 3;
const MINT_TO: u8 = 7;
const BURN: u8 = 8;
const TRANSFER_CHECKED: u8 = 12;
const MINT_TO_CHECKED: u8 = 14;
const BURN_CHECKED: u8 = 15;
const BATCH: u8 = 255;

/// Every token movement in `tx`, one row per leg. A failed transaction moved nothing, but its
/// legs are kept (with `success = false`) so an auditor sees what was attempted.
pub fn transfers(tx: &RawTx) -> Vec<TransferRow> {
    let mut rows = Vec::new();
    for ix in &tx.instructions {
        if ix.program != TOKEN_PROGRAM && ix.program != TOKEN_2022_PROGRAM {
            continue;
        }
        if ix.data.first() == Some(&BATCH) {
            for (n, sub) in batch_items(ix).into_iter().enumerate() {
                if let Some(row) = movement(tx, &sub, &format!("{}#{n}", ix.path)) {
                    rows.push(row);
                }
            }
        } else if let Some(row) = movement(tx, ix, &ix.path) {
            rows.push(row);
        }
    }
    rows
}

/// The sub-instructions of a Batch: each is `[account count u8][data length u8][data]`,
/// taking its accounts in order from the batch instruction's accounts.
fn batch_items(ix: &Instruction) -> Vec<Instruction> {
    let mut items = Vec::new();
    let (mut data, mut accounts) = (&ix.data[1..], ix.accounts.as_slice());
    while data.len() >= 2 {
        let (n_accounts, len) = (data[0] as usize, data[1] as usize);
        if data.len() < 2 + len || accounts.len() < n_accounts {
            break; // malformed: decode what came before, never guess
        }
        items.push(Instruction {
            path: ix.path.clone(),
            program: ix.program.clone(),
            accounts: accounts[..n_accounts].to_vec(),
            data: data[2..2 + len].to_vec(),
        });
        data = &data[2 + len..];
        accounts = &accounts[n_accounts..];
    }
    items
}

fn movement(tx: &RawTx, ix: &Instruction, leg: &str) -> Option<TransferRow> {
    let (&tag, rest) = ix.data.split_first()?;
    let amount = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    let decimals = rest.get(8).copied();
    let a = |i: usize| ix.accounts.get(i).cloned();
    // (kind, mint, source, destination, authority)
    let (kind, mint, source, destination, authority) = match tag {
        TRANSFER => (TransferKind::Transfer, None, a(0), a(1), a(2)),
        TRANSFER_CHECKED => (TransferKind::TransferChecked, a(1), a(0), a(2), a(3)),
        MINT_TO => (TransferKind::MintTo, a(0), None, a(1), a(2)),
        MINT_TO_CHECKED => (TransferKind::MintToChecked, a(0), None, a(1), a(2)),
        BURN => (TransferKind::Burn, a(1), a(0), None, a(2)),
        BURN_CHECKED => (TransferKind::BurnChecked, a(1), a(0), None, a(2)),
        _ => return None,
    };
    let checked = matches!(tag, TRANSFER_CHECKED | MINT_TO_CHECKED | BURN_CHECKED);
    let balance = |account: &Option<String>| {
        let account = account.as_ref()?;
        tx.pre_token_balances
            .iter()
            .chain(&tx.post_token_balances)
            .find(|b| &b.account == account)
    };
    // A plain Transfer names no mint: the token balances of its accounts do.
    let mint = mint.or_else(|| {
        balance(&source)
            .or(balance(&destination))
            .map(|b| b.mint.clone())
    })?;
    let decimals = if checked {
        decimals
    } else {
        balance(&source)
            .or(balance(&destination))
            .map(|b| b.decimals)
    };
    Some(TransferRow {
        tx: tx.signature.clone(),
        leg: leg.to_string(),
        block: tx.slot,
        block_hash: None,
        block_time: tx.block_time,
        tx_index: tx.index,
        program: ix.program.clone(),
        kind,
        mint,
        source_owner: balance(&source).and_then(|b| b.owner.clone()),
        destination_owner: balance(&destination).and_then(|b| b.owner.clone()),
        source,
        destination,
        authority,
        amount,
        decimals,
        success: tx.success,
    })
}
