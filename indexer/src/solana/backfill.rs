//! RPC backfill: what happened to the tracked accounts between the cursor and the confirmed
//! tip, read with `getSignaturesForAddress` + `getTransaction` and written slot by slot.
//! Run on start (and whenever a gap is suspected) before following live.

use std::{collections::BTreeMap, str::FromStr};

use chrono::{DateTime, Utc};
use ledger::{Batch, Chain, Cursor, Ledger};
use solana_client::{
    nonblocking::rpc_client::RpcClient, rpc_client::GetConfirmedSignaturesForAddress2Config,
    rpc_config::RpcTransactionConfig,
};
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_transaction_status_client_types::{
    option_serializer::OptionSerializer, EncodedConfirmedTransactionWithStatusMeta, UiInstruction,
    UiTransactionEncoding, UiTransactionTokenBalance,
};

use crate::{
    decode::{self, Compiled, RawTx, TokenBalance},
    IndexerError,
};

const PAGE: usize = 1_000;

fn rpc_error(e: impl std::fmt::Display) -> IndexerError {
    IndexerError::Stream(format!("rpc: {e}"))
}

/// Backfills from the slot after `cursor` to the confirmed tip and leaves the cursor at the
/// tip. Returns the number of transactions read.
pub async fn run(
    rpc: &RpcClient,
    ledger: &Ledger,
    tracked: &[Pubkey],
    cursor: &str,
) -> Result<usize, IndexerError> {
    let from = ledger.cursor(cursor).await?.map_or(0, |c| c + 1);
    let confirmed = CommitmentConfig::confirmed();
    let tip = rpc
        .get_slot_with_commitment(confirmed)
        .await
        .map_err(rpc_error)?;
    // (slot, signature) of everything newer than the cursor, deduplicated across addresses.
    let mut wanted: BTreeMap<(u64, String), Signature> = BTreeMap::new();
    for address in tracked {
        let mut before = None;
        'pages: loop {
            let page = rpc
                .get_signatures_for_address_with_config(
                    address,
                    GetConfirmedSignaturesForAddress2Config {
                        before,
                        until: None,
                        limit: Some(PAGE),
                        commitment: Some(confirmed),
                    },
                )
                .await
                .map_err(rpc_error)?;
            for entry in &page {
                if entry.slot < from {
                    break 'pages;
                }
                if entry.slot <= tip {
                    let signature = Signature::from_str(&entry.signature).map_err(rpc_error)?;
                    wanted.insert((entry.slot, entry.signature.clone()), signature);
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE => {
                    before = Some(Signature::from_str(&last.signature).map_err(rpc_error)?)
                }
                _ => break,
            }
        }
    }

    let mut by_slot: BTreeMap<u64, Vec<RawTx>> = BTreeMap::new();
    for ((slot, _), signature) in &wanted {
        let tx = rpc
            .get_transaction_with_config(
                signature,
                RpcTransactionConfig {
                    encoding: Some(UiTransactionEncoding::Base64),
                    commitment: Some(confirmed),
                    max_supported_transaction_version: Some(0),
                },
            )
            .await
            .map_err(rpc_error)?;
        let raw =
            raw_tx(&tx).ok_or_else(|| rpc_error(format!("transaction {signature} has no meta")))?;
        by_slot.entry(*slot).or_default().push(raw);
    }
    let count = wanted.len();
    for (slot, txs) in by_slot {
        let mut batch = Batch::new(Chain::Solana, "rpc_backfill");
        for raw in txs {
            let decoded = decode::decode(&raw);
            batch.transfers.extend(decoded.transfers);
            batch.vault_events.extend(decoded.vault_events);
            batch
                .discrepancies
                .extend(decoded.discrepancies.into_iter().map(|d| d.row(slot)));
        }
        batch.cursor = Some(Cursor {
            name: cursor.to_string(),
            position: slot,
        });
        ledger.write(&batch).await?;
    }
    // Nothing of ours happened after the last written slot up to the tip: the cursor may move.
    let mut done = Batch::new(Chain::Solana, "rpc_backfill");
    done.cursor = Some(Cursor {
        name: cursor.to_string(),
        position: tip,
    });
    ledger.write(&done).await?;
    Ok(count)
}

/// An inner instruction of a `getTransaction` answer, decoded from its JSON form.
struct InnerIx {
    top: u8,
    height: u32,
    program: u8,
    accounts: Vec<u8>,
    data: Vec<u8>,
}

/// A `getTransaction` answer as [`RawTx`].
pub fn raw_tx(tx: &EncodedConfirmedTransactionWithStatusMeta) -> Option<RawTx> {
    let meta = tx.transaction.meta.as_ref()?;
    let versioned = tx.transaction.transaction.decode()?;
    let mut keys: Vec<String> = versioned
        .message
        .static_account_keys()
        .iter()
        .map(|k| k.to_string())
        .collect();
    if let OptionSerializer::Some(loaded) = &meta.loaded_addresses {
        keys.extend(loaded.writable.iter().cloned());
        keys.extend(loaded.readonly.iter().cloned());
    }
    let inner: Vec<InnerIx> = match &meta.inner_instructions {
        OptionSerializer::Some(groups) => groups
            .iter()
            .flat_map(|g| {
                g.instructions.iter().filter_map(move |i| match i {
                    UiInstruction::Compiled(c) => Some(InnerIx {
                        top: g.index,
                        height: c.stack_height.unwrap_or(2),
                        program: c.program_id_index,
                        accounts: c.accounts.clone(),
                        data: bs58::decode(&c.data).into_vec().ok()?,
                    }),
                    UiInstruction::Parsed(_) => None,
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    let instructions = RawTx::instructions_from_compiled(
        &keys,
        versioned.message.instructions().iter().map(|i| Compiled {
            program_index: i.program_id_index,
            accounts: &i.accounts,
            data: &i.data,
        }),
        |top| {
            inner
                .iter()
                .filter(|i| i.top as usize == top)
                .map(|i| {
                    let compiled = Compiled {
                        program_index: i.program,
                        accounts: &i.accounts,
                        data: &i.data,
                    };
                    (compiled, i.height)
                })
                .collect()
        },
    );
    let balances = |list: &OptionSerializer<Vec<UiTransactionTokenBalance>>| -> Vec<TokenBalance> {
        let OptionSerializer::Some(list) = list else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|b| {
                Some(TokenBalance {
                    account: keys.get(b.account_index as usize)?.clone(),
                    mint: b.mint.clone(),
                    owner: match &b.owner {
                        OptionSerializer::Some(o) => Some(o.clone()),
                        _ => None,
                    },
                    amount: b.ui_token_amount.amount.parse().ok()?,
                    decimals: b.ui_token_amount.decimals,
                })
            })
            .collect()
    };
    Some(RawTx {
        signature: versioned.signatures.first()?.to_string(),
        slot: tx.slot,
        block_time: tx
            .block_time
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)),
        index: 0,
        success: meta.err.is_none(),
        instructions,
        pre_token_balances: balances(&meta.pre_token_balances),
        post_token_balances: balances(&meta.post_token_balances),
    })
}
