//! The keeper's release of revenue owed to a model's vault (docs/money.md): what the ledger
//! computes owed, sent from the treasury by `release_held_revenue`, at most once for the same
//! ledger state whoever runs it (`paywire crank` on any number of machines, or `paywire model
//! release-held`).
//!
//! A release is signed first, then recorded with its transaction and blockhash (the ledger
//! refuses it if another is in flight for the model or less is owed by then), then sent. One
//! left in flight by a keeper that stopped is settled by the next from the chain: landed is
//! sent; its blockhash expired with nothing landed (and nothing indexed) is failed, and owed
//! again.

use std::str::FromStr;

use anchor_lang::AccountDeserialize;
use anyhow::Context;
use ledger::{Chain, Ledger, NewRelease, PayoutStatus, Release, ReleaseClaim, RevenueTotals};
use model_vault_client::{Protocol, PROGRAM_ID};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;

/// What a release round did for one model.
#[derive(Debug, PartialEq, Eq)]
pub enum Released {
    /// Released this amount (the transaction).
    Sent(u64, String),
    /// Owed, but not releasable yet: why.
    Held(String),
    /// Sent (the transaction), not confirmed yet: the next round settles it.
    Pending(String),
    /// Nothing owed above the minimum; a negative amount is a per-call surplus the vault
    /// received and the payer was credited, netted against the next releases.
    Nothing(i128),
}

impl Released {
    /// What a keeper says of it for `slug` (owed amounts wait for `minimum`), if anything.
    pub fn said(&self, slug: &str, minimum: u64) -> Option<String> {
        let usdc = ledger::format_usdc;
        match self {
            Released::Sent(amount, signature) => Some(format!(
                "{slug}: released {} USDC of owed revenue to its vault ({signature})",
                usdc(*amount)
            )),
            Released::Held(why) => Some(format!("{slug}: owed revenue not released — {why}")),
            Released::Pending(signature) => Some(format!(
                "{slug}: release sent, not confirmed yet ({signature}): the next round settles it"
            )),
            Released::Nothing(owed) if *owed < 0 => Some(format!(
                "{slug}: its vault received {} USDC more than it earned (per-call surpluses credited to payers), netted against its next releases",
                usdc(owed.unsigned_abs() as u64)
            )),
            Released::Nothing(owed) if *owed > 0 => Some(format!(
                "{slug}: owed {} USDC, below the {} minimum release",
                usdc(*owed as u64),
                usdc(minimum)
            )),
            Released::Nothing(_) => None,
        }
    }
}

/// A model's revenue read as amounts.
struct Owed {
    earned: u128,
    /// Paid into the vault directly, plus released (landed or in flight).
    received: u128,
    in_flight: u128,
}

impl Owed {
    fn read(t: &RevenueTotals) -> anyhow::Result<Self> {
        let amount = |what: &str, text: &str| {
            text.parse::<u128>().with_context(|| {
                format!(
                    "the ledger's {what} for {} is not an amount: {text}",
                    t.model
                )
            })
        };
        let released = amount("released revenue", &t.released)?;
        let in_flight = amount("revenue in flight", &t.in_flight)?;
        Ok(Owed {
            earned: amount("earned revenue", &t.earned)?,
            received: amount("revenue paid into the vault directly", &t.direct)?
                + released
                + in_flight,
            in_flight,
        })
    }

    fn owed(&self) -> i128 {
        self.earned as i128 - self.received as i128
    }
}

/// Sends what the ledger computes owed to models' vaults, signed by the treasury.
pub struct Keeper<'a> {
    pub rpc: &'a RpcClient,
    pub ledger: &'a Ledger,
    pub protocol: &'a Protocol,
    pub treasury: &'a Keypair,
    pub fee_payer: &'a Keypair,
    pub priority_fee: Option<u64>,
    /// Owed amounts below this (base units) wait for more.
    pub minimum: u64,
}

impl Keeper<'_> {
    /// Settles every release a keeper left in flight, from the chain.
    pub async fn settle_in_flight(&self) -> anyhow::Result<()> {
        for release in self.ledger.releases(Some(PayoutStatus::Sending)).await? {
            if let Some((landed, error)) = self.outcome(&release).await? {
                if landed {
                    self.ledger.release_sent(release.id).await?;
                } else {
                    self.ledger.release_failed(release.id, &error).await?;
                }
            }
        }
        Ok(())
    }

    /// Where release's transaction stands: `Some((true, _))` landed, `Some((false, why))`
    /// failed or can no longer land, `None` may still land (or cannot be told yet).
    ///
    /// Only a confirmed status counts (a processed one can still be dropped with its fork).
    /// "Never landed" takes three witnesses: its blockhash is no longer valid, the RPC knows no
    /// status for it, and the indexer, which has followed the chain past the moment the
    /// blockhash was seen expired, recorded nothing of it.
    async fn outcome(&self, release: &Release) -> anyhow::Result<Option<(bool, String)>> {
        let signature = solana_signature::Signature::from_str(&release.tx)
            .with_context(|| format!("release {} names no signature", release.id))?;
        let blockhash = solana_hash::Hash::from_str(&release.blockhash)
            .with_context(|| format!("release {} names no blockhash", release.id))?;
        let expired_at = match self
            .rpc
            .is_blockhash_valid(&blockhash, CommitmentConfig::confirmed())
            .await?
        {
            true => None,
            false => Some(
                self.rpc
                    .get_slot_with_commitment(CommitmentConfig::confirmed())
                    .await?,
            ),
        };
        let status = self
            .rpc
            .get_signature_statuses_with_history(&[signature])
            .await?
            .value
            .into_iter()
            .next()
            .flatten()
            .filter(|s| s.satisfies_commitment(CommitmentConfig::confirmed()));
        if let Some(s) = status {
            return Ok(Some(match s.err {
                None => (true, String::new()),
                Some(e) => (false, format!("failed on chain: {e}")),
            }));
        }
        let Some(expired_at) = expired_at else {
            return Ok(None);
        };
        let indexed_past = match self.ledger.followed_up_to(Chain::Solana).await? {
            Some(position) => position >= expired_at,
            // Nothing indexes Solana here: the RPC's history is the only witness.
            None => true,
        };
        let seen = self
            .ledger
            .transaction_seen(Chain::Solana, &release.tx)
            .await?;
        Ok(match (indexed_past, seen) {
            (true, false) => Some((false, "its blockhash expired before it landed".into())),
            (_, true) => Some((true, String::new())),
            (false, false) => None,
        })
    }

    /// Releases what is owed to `totals.model` if it is at least the minimum, it is tokenized
    /// on chain by its recorded creator, and no other release of it is in flight.
    pub async fn release(&self, totals: &RevenueTotals) -> anyhow::Result<Released> {
        let owed = Owed::read(totals)?;
        if owed.in_flight > 0 {
            return Ok(Released::Held(
                "a release is in flight (another keeper's, or one not yet confirmed)".into(),
            ));
        }
        let amount = owed.owed();
        if amount < i128::from(self.minimum.max(1)) {
            return Ok(Released::Nothing(amount));
        }
        let amount = u64::try_from(amount).context("the owed revenue exceeds a u64")?;
        let keys = self.protocol.model(&totals.model);
        let on_chain = self
            .rpc
            .get_account(&keys.model)
            .await
            .ok()
            .filter(|a| a.owner == PROGRAM_ID)
            .and_then(|a| model_vault::Model::try_deserialize(&mut a.data.as_slice()).ok());
        match on_chain {
            Some(m) if m.is_tokenized() && m.creator.to_string() == totals.creator => {}
            Some(m) if m.is_tokenized() => {
                return Ok(Released::Held(format!(
                "tokenized by {} on chain, not by the catalog's creator {}: held by the treasury",
                m.creator, totals.creator
            )))
            }
            _ => {
                return Ok(Released::Held(
                    "not tokenized yet: held by the treasury until it is".into(),
                ))
            }
        }
        let instructions = model_vault_client::with_compute_budget(
            &[self.protocol.release_held_revenue(&keys, amount)],
            self.priority_fee,
        );
        let blockhash = self.rpc.get_latest_blockhash().await?;
        let mut signers = vec![self.fee_payer];
        if self.treasury.pubkey() != self.fee_payer.pubkey() {
            signers.push(self.treasury);
        }
        let tx = solana_transaction::Transaction::new_signed_with_payer(
            &instructions,
            Some(&self.fee_payer.pubkey()),
            &signers,
            blockhash,
        );
        let signature = tx.signatures[0].to_string();
        let claim = self
            .ledger
            .claim_release(&NewRelease {
                model: &totals.model,
                amount,
                earned: owed.earned,
                received: owed.received,
                tx: &signature,
                blockhash: &blockhash.to_string(),
            })
            .await?;
        let id =
            match claim {
                ReleaseClaim::Claimed(id) => id,
                ReleaseClaim::InFlight => {
                    return Ok(Released::Held(
                        "another keeper is releasing it right now".into(),
                    ))
                }
                ReleaseClaim::Changed => return Ok(Released::Held(
                    "what is owed changed while this round computed it: the next round releases it"
                        .into(),
                )),
            };
        match self.rpc.send_and_confirm_transaction(&tx).await {
            Ok(_) => {
                self.ledger.release_sent(id).await?;
                Ok(Released::Sent(amount, signature))
            }
            Err(e) if e.get_transaction_error().is_some() => {
                let reason =
                    crate::commands::crank::program_error(&e).unwrap_or_else(|| e.to_string());
                self.ledger.release_failed(id, &reason).await?;
                // Owed again: the next round tries again (a treasury short of USDC on Solana
                // waits for the operator to move some across).
                Ok(Released::Held(format!(
                    "the program refused the release of {}: {reason}",
                    ledger::format_usdc(amount)
                )))
            }
            // Sent, not confirmed: the next round settles it from the chain.
            Err(e) => {
                tracing::warn!(signature, error = %e, "release sent, not confirmed");
                Ok(Released::Pending(signature))
            }
        }
    }
}
