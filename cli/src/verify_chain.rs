//! `paywire audit --verify-chain`: the ledger's Solana rows against the chain itself. Every
//! transaction behind the ledger's transfer rows (all, or a random sample) is read again from
//! RPC and decoded as the indexer decodes it; a row the chain does not confirm — a transaction
//! that does not exist, or a leg whose token, owners, amount or outcome differ, or a leg the
//! ledger lacks — is reported. An insider who edits a charge and its transfer row alike can
//! fool the matching; not this.

use std::str::FromStr;

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

/// What `--verify-chain` read and found.
#[derive(Debug, Serialize)]
pub struct ChainVerification {
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
            "verify-chain: {} of {} Solana transactions re-read from the chain: {verdict}\n",
            self.checked, self.transactions
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
pub async fn verify(
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
    let mut held: Vec<Key> = ledger
        .transaction_rows(Chain::Solana, tx)
        .await?
        .into_iter()
        .map(|l| {
            (
                l.leg,
                l.kind,
                l.mint,
                l.source_owner,
                l.destination_owner,
                l.amount,
                l.success,
            )
        })
        .collect();
    held.sort();
    let mut chain = chain;
    chain.sort();
    if held == chain {
        return Ok(None);
    }
    let differs: Vec<String> = held
        .iter()
        .filter(|row| !chain.contains(row))
        .map(|(leg, kind, mint, from, to, amount, success)| {
            format!(
                "leg {leg} ({kind} of {amount} {mint} from {} to {}, {}) is not on chain",
                from.as_deref().unwrap_or("?"),
                to.as_deref().unwrap_or("?"),
                if *success { "succeeded" } else { "failed" }
            )
        })
        .chain(
            chain
                .iter()
                .filter(|row| !held.contains(row))
                .map(|(leg, ..)| format!("the chain's leg {leg} is not in the ledger")),
        )
        .collect();
    Ok(Some(differs.join("; ")))
}
