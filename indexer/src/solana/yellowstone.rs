//! Yellowstone gRPC transaction updates as [`RawTx`].

use chrono::{DateTime, Utc};
use yellowstone_grpc_proto::{
    geyser::SubscribeUpdateTransaction, solana::storage::confirmed_block as pb,
};

use crate::decode::{Compiled, RawTx, TokenBalance};

fn base58(bytes: &[u8]) -> String {
    bs58::encode(bytes).into_string()
}

/// The transaction of `update`, or `None` when the update carries no transaction or meta.
/// `block_time` comes from the slot's block meta (transaction updates do not carry it).
pub fn raw_tx(
    update: &SubscribeUpdateTransaction,
    block_time: Option<DateTime<Utc>>,
) -> Option<RawTx> {
    let info = update.transaction.as_ref()?;
    let meta = info.meta.as_ref()?;
    let message = info.transaction.as_ref()?.message.as_ref()?;
    // Static keys, then addresses loaded from lookup tables (writable, then read-only).
    let keys: Vec<String> = message
        .account_keys
        .iter()
        .chain(&meta.loaded_writable_addresses)
        .chain(&meta.loaded_readonly_addresses)
        .map(|k| base58(k))
        .collect();
    fn compiled<'a>(program_id_index: u32, accounts: &'a [u8], data: &'a [u8]) -> Compiled<'a> {
        Compiled {
            program_index: program_id_index as u8,
            accounts,
            data,
        }
    }
    let instructions = RawTx::instructions_from_compiled(
        &keys,
        message
            .instructions
            .iter()
            .map(|i| compiled(i.program_id_index, &i.accounts, &i.data)),
        |top| {
            meta.inner_instructions
                .iter()
                .filter(|group| group.index as usize == top)
                .flat_map(|group| &group.instructions)
                .map(|i| {
                    (
                        compiled(i.program_id_index, &i.accounts, &i.data),
                        i.stack_height.unwrap_or(2),
                    )
                })
                .collect()
        },
    );
    let balances = |list: &[pb::TokenBalance]| -> Vec<TokenBalance> {
        list.iter()
            .filter_map(|b| {
                let amount = b.ui_token_amount.as_ref()?;
                Some(TokenBalance {
                    account: keys.get(b.account_index as usize)?.clone(),
                    mint: b.mint.clone(),
                    owner: (!b.owner.is_empty()).then(|| b.owner.clone()),
                    amount: amount.amount.parse().ok()?,
                    decimals: amount.decimals as u8,
                })
            })
            .collect()
    };
    Some(RawTx {
        signature: base58(&info.signature),
        slot: update.slot,
        block_time,
        index: info.index as u32,
        success: meta.err.is_none(),
        instructions,
        pre_token_balances: balances(&meta.pre_token_balances),
        post_token_balances: balances(&meta.post_token_balances),
    })
}
