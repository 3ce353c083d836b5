//! RPC backfill: what happened to the tracked accounts between the cursor and a slot (the
//! confirmed tip by default), read with `getSignaturesForAddress` + `getTransaction` and
//! written slot by slot. Run on start, and by the live follower whenever it finds a gap.

use std::{
    collections::{BTreeMap, BTreeSet},
    str::FromStr,
};

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
    IndexerError, Metrics,
};

const PAGE: usize = 1_000;

fn rpc_error(e: impl std::fmt::Display) -> IndexerError {
    IndexerError::Source(format!("rpc: {e}"))
}

/// Backfills from the slot after `cursor` to `until` (default: the confirmed tip) and leaves
/// the cursor there. Accounts that come into being on the way (a tokenized model's vault) join
/// `tracked` and are backfilled too. Returns the number of transactions read. What it writes,
/// and the tip it read, go to `metrics`.
pub async fn run(
    rpc: &RpcClient,
    ledger: &Ledger,
    metrics: &Metrics,
    tracked: &mut BTreeSet<String>,
    cursor: &str,
    until: Option<u64>,
) -> Result<usize, IndexerError> {
    let from = ledger.cursor(cursor).await?.map_or(0, |c| c + 1);
    let to = match until {
        Some(slot) => slot,
        None => {
            let tip = rpc
                .get_slot_with_commitment(CommitmentConfig::confirmed())
                .await
                .map_err(rpc_error)?;
            metrics.head(Chain::Solana, tip);
            tip
        }
    };
    let mut decoded: BTreeMap<(u64, String), decode::Decoded> = BTreeMap::new();
    let mut to_scan: Vec<(String, u64)> = tracked.iter().map(|a| (a.clone(), from)).collect();
    while let Some((address, since)) = to_scan.pop() {
        for (slot, signature) in signatures(rpc, &address, since, to).await? {
            if decoded.contains_key(&(slot, signature.to_string())) {
                continue;
            }
            let tx = transaction(rpc, &signature).await?;
            let found = decode::decode(&tx);
            for learned in &found.new_accounts {
                if tracked.insert(learned.address.clone()) {
                    to_scan.push((learned.address.clone(), learned.since_block.max(from)));
                }
            }
            decoded.insert((slot, signature.to_string()), found);
        }
    }
    let count = decoded.len();
    let mut by_slot: BTreeMap<u64, Batch> = BTreeMap::new();
    for ((slot, _), found) in decoded {
        let batch = by_slot
            .entry(slot)
            .or_insert_with(|| Batch::new(Chain::Solana, ledger::Ingest::RpcBackfill));
        found.add_to(batch, slot);
    }
    // Slot by slot, so an interrupted backfill resumes where it stopped; then the cursor moves
    // to `to`: nothing of ours happened after the last written slot.
    by_slot
        .entry(to)
        .or_insert_with(|| Batch::new(Chain::Solana, ledger::Ingest::RpcBackfill));
    for (slot, mut batch) in by_slot {
        batch.cursor = Some(Cursor {
            name: cursor.to_string(),
            position: slot,
        });
        metrics.write(ledger, &batch).await?;
    }
    Ok(count)
}

/// Signatures of the transactions touching `address` in slots `from..=to`, oldest first.
async fn signatures(
    rpc: &RpcClient,
    address: &str,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, Signature)>, IndexerError> {
    let address = Pubkey::from_str(address).map_err(rpc_error)?;
    let mut found = Vec::new();
    let mut before = None;
    loop {
        let page = rpc
            .get_signatures_for_address_with_config(
                &address,
                GetConfirmedSignaturesForAddress2Config {
                    before,
                    until: None,
                    limit: Some(PAGE),
                    commitment: Some(CommitmentConfig::confirmed()),
                },
            )
            .await
            .map_err(rpc_error)?;
        for entry in &page {
            if entry.slot < from {
                found.reverse();
                return Ok(found);
            }
            if entry.slot <= to {
                let signature = Signature::from_str(&entry.signature).map_err(rpc_error)?;
                found.push((entry.slot, signature));
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => {
                before = Some(Signature::from_str(&last.signature).map_err(rpc_error)?)
            }
            _ => break,
        }
    }
    found.reverse();
    Ok(found)
}

async fn transaction(rpc: &RpcClient, signature: &Signature) -> Result<RawTx, IndexerError> {
    let tx = rpc
        .get_transaction_with_config(
            signature,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::Base64),
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .map_err(rpc_error)?;
    raw_tx(&tx).ok_or_else(|| rpc_error(format!("transaction {signature} has no meta")))
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
