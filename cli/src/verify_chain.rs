//! `paywire audit --verify-chain`: the ledger's rows against the chains themselves. Every
//! transaction behind the ledger's transfer rows (all, or a random sample) is read again from
//! RPC; a row the chain does not confirm is reported. On Solana the transaction is decoded as
//! the indexer decodes it, and its legs must be the ledger's, no more, no less; on Base each
//! row must be a `Transfer` log of a successful receipt, and each charge's EIP-3009 nonce the
//! one its settlement used. An insider who edits a charge and its transfer row alike can fool
//! the matching; not this.

use std::str::FromStr;

use alloy::sol_types::SolEvent;
use anyhow::Context;
use ledger::{Chain, Ledger, TransferRow};
use rand::seq::SliceRandom;
use serde::Serialize;
use solana_client::{nonblocking::rpc_client::RpcClient, rpc_config::RpcTransactionConfig};
use solana_commitment_config::CommitmentConfig;
use solana_transaction_status_client_types::UiTransactionEncoding;

/// A transaction whose rows the chain does not confirm, and why.
#[derive(Debug, Serialize)]
pub struct Unconfirmed {
    pub tx: String,
    pub why: String,
}

/// What `--verify-chain` read and found on one chain.
#[derive(Debug, Serialize)]
pub struct ChainVerification {
    pub chain: Chain,
    /// Transactions the ledger holds rows of.
    pub transactions: usize,
    /// Of them, how many were read again.
    pub checked: usize,
    pub unconfirmed: Vec<Unconfirmed>,
}

impl ChainVerification {
    pub fn confirmed(&self) -> bool {
        self.unconfirmed.is_empty()
    }

    /// What the check says, and, for a sample, what confidence it gives.
    pub fn summary(&self) -> String {
        let verdict = if self.confirmed() {
            "every row confirmed".to_string()
        } else {
            format!("{} NOT CONFIRMED", self.unconfirmed.len())
        };
        let mut out = format!(
            "verify-chain: {} of {} {} transactions re-read from the chain: {verdict}\n",
            self.checked,
            self.transactions,
            self.chain.as_str()
        );
        if self.checked < self.transactions {
            // A forged share f of transactions escapes a sample of n with probability (1 − f)^n.
            let catch = 1.0 - 0.99f64.powi(self.checked as i32);
            out.push_str(&format!(
                "  a random sample: if 1% of transactions were forged, it finds one with probability {:.1}%; re-read all with --verify-chain alone\n",
                catch * 100.0
            ));
        }
        for u in &self.unconfirmed {
            out.push_str(&format!("  transaction {}: {}\n", u.tx, u.why));
        }
        out
    }
}

/// Reads again from `rpc_url` every Solana transaction the ledger holds live transfer rows of
/// (or `sample` of them, drawn at random) and compares each row with what the chain says.
pub async fn verify_solana(
    ledger: &Ledger,
    rpc_url: &str,
    sample: Option<usize>,
) -> anyhow::Result<ChainVerification> {
    let rpc = RpcClient::new_with_commitment(rpc_url.to_string(), CommitmentConfig::confirmed());
    let mut txs = ledger.transactions(Chain::Solana).await?;
    let transactions = txs.len();
    if let Some(n) = sample {
        txs.shuffle(&mut rand::thread_rng());
        txs.truncate(n);
    }
    let mut unconfirmed = Vec::new();
    for (i, tx) in txs.iter().enumerate() {
        if i > 0 && i % 100 == 0 {
            eprintln!("verify-chain: {i} of {} transactions re-read", txs.len());
        }
        if let Some(why) = check(&rpc, ledger, tx).await? {
            unconfirmed.push(Unconfirmed {
                tx: tx.clone(),
                why,
            });
        }
    }
    Ok(ChainVerification {
        chain: Chain::Solana,
        transactions,
        checked: txs.len(),
        unconfirmed,
    })
}

/// A leg as compared: its path, kind, mint, owners, amount and outcome.
type Key = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    bool,
);

fn key_of_chain(row: &TransferRow) -> Key {
    (
        row.leg.clone(),
        <&str>::from(row.kind).to_string(),
        row.mint.clone(),
        row.source_owner.clone(),
        row.destination_owner.clone(),
        row.amount.to_string(),
        row.success,
    )
}

/// The ledger's live rows of `tx`, as compared.
async fn held_rows(ledger: &Ledger, chain: Chain, tx: &str) -> anyhow::Result<Vec<Key>> {
    Ok(ledger
        .transaction_rows(chain, tx)
        .await?
        .into_iter()
        .map(row_key)
        .collect())
}

/// A ledger row as compared.
fn row_key(l: ledger::Leg) -> Key {
    (
        l.leg,
        l.kind,
        l.mint,
        l.source_owner,
        l.destination_owner,
        l.amount,
        l.success,
    )
}

/// What is wrong with a ledger row the chain does not hold.
fn not_on_chain((leg, kind, mint, from, to, amount, success): &Key) -> String {
    format!(
        "leg {leg} ({kind} of {amount} {mint} from {} to {}, {}) is not on chain",
        from.as_deref().unwrap_or("?"),
        to.as_deref().unwrap_or("?"),
        if *success { "succeeded" } else { "failed" }
    )
}

/// Why the ledger's rows of `tx` are not what the chain says, if they are not.
async fn check(rpc: &RpcClient, ledger: &Ledger, tx: &str) -> anyhow::Result<Option<String>> {
    let signature = match solana_signature::Signature::from_str(tx) {
        Ok(s) => s,
        Err(_) => return Ok(Some("not a Solana signature".into())),
    };
    let config = RpcTransactionConfig {
        encoding: Some(UiTransactionEncoding::Base64),
        commitment: Some(CommitmentConfig::confirmed()),
        max_supported_transaction_version: Some(0),
    };
    let found = match rpc.get_transaction_with_config(&signature, config).await {
        Ok(found) => found,
        Err(e)
            if e.to_string().contains("not found")
                || e.to_string().contains("invalid type: null") =>
        {
            return Ok(Some("the chain has no such transaction".into()))
        }
        Err(e) => {
            return Err(e).with_context(|| format!("reading transaction {tx} at {}", rpc.url()))
        }
    };
    let raw = indexer::solana::backfill::raw_tx(&found)
        .with_context(|| format!("transaction {tx} came without its meta"))?;
    let chain: Vec<Key> = indexer::decode::decode(&raw)
        .transfers
        .iter()
        .map(key_of_chain)
        .collect();
    let mut held = held_rows(ledger, Chain::Solana, tx).await?;
    held.sort();
    let mut chain = chain;
    chain.sort();
    if held == chain {
        return Ok(None);
    }
    let differs: Vec<String> = held
        .iter()
        .filter(|row| !chain.contains(row))
        .map(not_on_chain)
        .chain(
            chain
                .iter()
                .filter(|row| !held.contains(row))
                .map(|(leg, ..)| format!("the chain's leg {leg} is not in the ledger")),
        )
        .collect();
    Ok(Some(differs.join("; ")))
}

alloy::sol! {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
}

/// Reads again from `rpc_url` every Base transaction the ledger holds live transfer rows of (or
/// `sample` of them): each row must be a `Transfer` log of its token in a successful receipt
/// (the follower records only the logs that touch the addresses it watches, so the chain may
/// hold more); and every Base charge's EIP-3009 nonce must be the one its settlement used,
/// for its payer (an `AuthorizationUsed` log of the receipt).
pub async fn verify_base(
    ledger: &Ledger,
    rpc_url: &str,
    sample: Option<usize>,
) -> anyhow::Result<ChainVerification> {
    use alloy::providers::{Provider, ProviderBuilder};
    let provider = ProviderBuilder::new().connect_http(
        rpc_url
            .parse()
            .with_context(|| format!("--base-rpc {rpc_url} is not a URL"))?,
    );
    let mut txs = ledger.transactions(Chain::Base).await?;
    let transactions = txs.len();
    if let Some(n) = sample {
        txs.shuffle(&mut rand::thread_rng());
        txs.truncate(n);
    }
    let nonces = ledger.base_nonces().await?;
    let mut unconfirmed = Vec::new();
    for tx in &txs {
        let why = match tx.parse::<alloy::primitives::TxHash>() {
            Err(_) => Some("not a Base transaction hash".to_string()),
            Ok(hash) => match provider
                .get_transaction_receipt(hash)
                .await
                .with_context(|| format!("reading the receipt of {tx} at {rpc_url}"))?
            {
                None => Some("the chain has no such transaction".into()),
                Some(receipt) if !receipt.status() => {
                    Some("the transaction failed on chain".into())
                }
                Some(receipt) => {
                    let logs = receipt.inner.logs();
                    let chain: Vec<Key> = logs
                        .iter()
                        .filter_map(|log| {
                            let event = Transfer::decode_log(&log.inner).ok()?;
                            Some((
                                log.log_index?.to_string(),
                                <&str>::from(ledger::TransferKind::Erc20Transfer).to_string(),
                                log.address().to_string(),
                                Some(event.from.to_string()),
                                Some(event.to.to_string()),
                                event.value.to_string(),
                                true,
                            ))
                        })
                        .collect();
                    let used: Vec<(String, String)> = logs
                        .iter()
                        .filter_map(|log| {
                            let event = AuthorizationUsed::decode_log(&log.inner).ok()?;
                            Some((event.authorizer.to_string(), event.nonce.to_string()))
                        })
                        .collect();
                    let mut problems: Vec<String> = held_rows(ledger, Chain::Base, tx)
                        .await?
                        .into_iter()
                        .filter(|row| !chain.contains(row))
                        .map(|row| not_on_chain(&row))
                        .collect();
                    problems.extend(
                        nonces
                            .iter()
                            .filter(|(t, ..)| t == tx)
                            .filter(|(_, payer, nonce)| {
                                !used.iter().any(|(a, n)| a == payer && n.eq_ignore_ascii_case(nonce))
                            })
                            .map(|(_, payer, nonce)| {
                                format!("the charge's authorization nonce {nonce} of {payer} is not the one this settlement used")
                            }),
                    );
                    (!problems.is_empty()).then(|| problems.join("; "))
                }
            },
        };
        if let Some(why) = why {
            unconfirmed.push(Unconfirmed {
                tx: tx.clone(),
                why,
            });
        }
    }
    Ok(ChainVerification {
        chain: Chain::Base,
        transactions,
        checked: txs.len(),
        unconfirmed,
    })
}
