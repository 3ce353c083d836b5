//! The Base follower: USDC `Transfer` logs from or to the tracked addresses, read with
//! `eth_getLogs` over block ranges that shrink when the node refuses them and grow back when
//! it does not, then by polling the head. Reorg-safe: each step first checks that the block
//! at the cursor is still canonical (walking back over stored hashes to the last one that is,
//! and rolling everything after it back), each range's first block must name the cursor's
//! block as its parent, and rows become final `confirmations` blocks below the head. Started
//! after block 0, it first records what the tracked addresses held just before (their opening
//! balances), so the audit can weigh the balances on chain against the ledger.

use std::{collections::BTreeMap, time::Duration};

use alloy::{
    eips::{BlockId, BlockNumberOrTag},
    primitives::{Address, B256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{Filter, Log},
    sol,
    sol_types::SolEvent,
};
use chrono::{DateTime, Utc};
use ledger::{Batch, BlockRow, Chain, Cursor, Ledger, OpeningBalance, TransferRow};

use crate::{retry::Retry, IndexerError, Metrics};

sol! {
    event Transfer(address indexed from, address indexed to, uint256 value);

    #[sol(rpc)]
    interface Erc20 {
        function balanceOf(address owner) external view returns (uint256);
    }
}

#[derive(Clone, Debug)]
pub struct BaseConfig {
    pub rpc_url: String,
    pub usdc: Address,
    pub usdc_decimals: u8,
    /// Addresses whose incoming and outgoing transfers are ingested (the treasury).
    pub tracked: Vec<Address>,
    /// Name of the cursor row in the ledger.
    pub cursor: String,
    /// Where to start while the ledger has no cursor yet (`None`: the current head).
    pub start_block: Option<u64>,
    /// Rows this many blocks below the head are final.
    pub confirmations: u64,
    pub poll_interval: Duration,
    /// The widest `eth_getLogs` range asked for.
    pub max_range: u64,
    /// Where the rows written, the cursor and the chain's head are reported.
    pub metrics: Metrics,
}

/// How far back a reorg is looked for among stored blocks.
const REORG_SEARCH: u32 = 256;

fn source_error(e: impl std::fmt::Display) -> IndexerError {
    IndexerError::Source(format!("base rpc: {e}"))
}

pub struct BaseFollower {
    config: BaseConfig,
    ledger: Ledger,
    provider: DynProvider,
    range: u64,
}

/// What one step did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Ingested blocks up to this one.
    Ingested(u64),
    /// The node refused the range; it is now this wide.
    Narrowed(u64),
    /// Blocks from this one on were orphaned and rolled back.
    RolledBack(u64),
    /// Nothing new.
    AtHead,
}

impl BaseFollower {
    pub fn new(config: BaseConfig, ledger: Ledger) -> Result<Self, IndexerError> {
        let url = config
            .rpc_url
            .parse()
            .map_err(|e| IndexerError::Config(format!("base rpc_url {}: {e}", config.rpc_url)))?;
        let provider = ProviderBuilder::new().connect_http(url).erased();
        Ok(BaseFollower {
            range: config.max_range.max(1),
            config,
            ledger,
            provider,
        })
    }

    /// Follows for ever, polling the head once caught up; errors are logged (a `tracing`
    /// warning) and retried.
    pub async fn run(mut self) -> Result<(), IndexerError> {
        let mut retry = Retry::default();
        loop {
            match self.step().await {
                Ok(Step::AtHead) => tokio::time::sleep(self.config.poll_interval).await,
                Ok(_) => retry.reset(),
                Err(e) => {
                    self.config.metrics.follower_error(Chain::Base);
                    let wait = retry.next_wait();
                    tracing::warn!(chain = "base", error = %e, retry_in = ?wait, "follower failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One unit of work: a reorg check, then at most one range of logs.
    pub async fn step(&mut self) -> Result<Step, IndexerError> {
        let head = self
            .provider
            .get_block_number()
            .await
            .map_err(source_error)?;
        self.config.metrics.head(Chain::Base, head);
        let cursor = self.ledger.cursor(&self.config.cursor).await?;
        if let Some(at) = cursor {
            if let Some(orphaned_from) = self.orphaned_from(at).await? {
                self.ledger
                    .roll_back(Chain::Base, orphaned_from, at, Some(&self.config.cursor))
                    .await?;
                return Ok(Step::RolledBack(orphaned_from));
            }
        }
        let from = match (cursor, self.config.start_block) {
            (Some(c), _) => c + 1,
            (None, Some(start)) => start,
            (None, None) => head,
        };
        if from > head {
            self.ledger
                .finalize(Chain::Base, head.saturating_sub(self.config.confirmations))
                .await?;
            return Ok(Step::AtHead);
        }
        let to = head.min(from + self.range - 1);
        let logs = match self.transfer_logs(from, to).await {
            Ok(logs) => logs,
            Err(e) if refused_as_too_large(&e) && self.range > 1 => {
                self.range = (self.range / 2).max(1);
                return Ok(Step::Narrowed(self.range));
            }
            Err(e) => return Err(source_error(e)),
        };

        let mut batch = Batch::new(Chain::Base, ledger::Ingest::EvmLogs);
        if cursor.is_none() && from > 0 {
            batch.openings = self.openings(from - 1).await?;
        }
        let mut headers: BTreeMap<u64, BlockRow> = BTreeMap::new();
        for number in logs.iter().filter_map(|l| l.block_number).chain([from, to]) {
            if let std::collections::btree_map::Entry::Vacant(slot) = headers.entry(number) {
                slot.insert(self.block(number).await?);
            }
        }
        if let Some(at) = cursor {
            let parent = headers[&from].parent_hash.clone();
            let stored = self.ledger.blocks_at_or_below(Chain::Base, at, 1).await?;
            if stored
                .first()
                .is_some_and(|b| b.number == at && Some(&b.hash) != parent.as_ref())
            {
                // A reorg between the check above and now: the next step rolls it back.
                return Err(IndexerError::Source(format!(
                    "block {from} does not extend the stored block {at}; re-checking for a reorg"
                )));
            }
        }
        for log in &logs {
            let row = self.transfer_row(log, &headers)?;
            batch.transfers.push(row);
        }
        batch.blocks.extend(headers.into_values());
        batch.cursor = Some(Cursor {
            name: self.config.cursor.clone(),
            position: to,
        });
        self.config.metrics.write(&self.ledger, &batch).await?;
        self.ledger
            .finalize(Chain::Base, head.saturating_sub(self.config.confirmations))
            .await?;
        self.range = (self.range * 2).min(self.config.max_range.max(1));
        Ok(Step::Ingested(to))
    }

    /// `None` if the stored block at `at` is still canonical; else the first block number
    /// whose stored rows are orphaned.
    async fn orphaned_from(&self, at: u64) -> Result<Option<u64>, IndexerError> {
        let stored = self
            .ledger
            .blocks_at_or_below(Chain::Base, at, REORG_SEARCH)
            .await?;
        let mut orphaned_from = None;
        for block in &stored {
            let canonical = self.block(block.number).await?;
            if canonical.hash == block.hash {
                return Ok(orphaned_from.map(|_| block.number + 1));
            }
            orphaned_from = Some(block.number);
        }
        // Deeper than every stored block: everything stored is suspect.
        Ok(orphaned_from)
    }

    async fn block(&self, number: u64) -> Result<BlockRow, IndexerError> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(source_error)?
            .ok_or_else(|| IndexerError::Source(format!("base rpc: block {number} not found")))?;
        Ok(BlockRow {
            number,
            hash: block.header.hash.to_string(),
            parent_hash: Some(block.header.parent_hash.to_string()),
            block_time: DateTime::<Utc>::from_timestamp(block.header.timestamp as i64, 0),
        })
    }

    /// USDC transfers from or to a tracked address in `from..=to`, each once, in chain order.
    async fn transfer_logs(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, alloy::transports::TransportError> {
        let tracked: Vec<B256> = self.config.tracked.iter().map(|a| a.into_word()).collect();
        let base = Filter::new()
            .address(self.config.usdc)
            .event_signature(Transfer::SIGNATURE_HASH)
            .from_block(from)
            .to_block(to);
        let mut logs = BTreeMap::new();
        for filter in [base.clone().topic1(tracked.clone()), base.topic2(tracked)] {
            for log in self.provider.get_logs(&filter).await? {
                logs.insert((log.block_number, log.log_index), log);
            }
        }
        Ok(logs.into_values().collect())
    }

    /// What each tracked address held at the end of `block`, the one before the first this
    /// follower reads: the audit starts from it.
    async fn openings(&self, block: u64) -> Result<Vec<OpeningBalance>, IndexerError> {
        let token = Erc20::new(self.config.usdc, &self.provider);
        let mut openings = Vec::new();
        for owner in &self.config.tracked {
            let amount = token
                .balanceOf(*owner)
                .block(BlockId::number(block))
                .call()
                .await
                .map_err(source_error)?;
            openings.push(OpeningBalance {
                owner: owner.to_string(),
                mint: self.config.usdc.to_string(),
                block,
                amount: u64::try_from(amount).map_err(|_| {
                    IndexerError::Source(format!(
                        "{owner} holds {amount} base units: more than a u64"
                    ))
                })?,
            });
        }
        Ok(openings)
    }

    fn transfer_row(
        &self,
        log: &Log,
        headers: &BTreeMap<u64, BlockRow>,
    ) -> Result<TransferRow, IndexerError> {
        let incomplete = || IndexerError::Source("base rpc: a log without its block".into());
        let number = log.block_number.ok_or_else(incomplete)?;
        let header = &headers[&number];
        let hash = log.block_hash.ok_or_else(incomplete)?.to_string();
        if hash != header.hash {
            return Err(IndexerError::Source(format!(
                "block {number} changed while it was read; retrying"
            )));
        }
        let event = Transfer::decode_log(&log.inner).map_err(|e| {
            IndexerError::Source(format!("base rpc: undecodable Transfer log: {e}"))
        })?;
        let amount = u64::try_from(event.value).map_err(|_| {
            IndexerError::Source(format!(
                "base: a Transfer of {} does not fit u64",
                event.value
            ))
        })?;
        let from = event.from.to_string();
        let to = event.to.to_string();
        Ok(TransferRow {
            tx: log.transaction_hash.ok_or_else(incomplete)?.to_string(),
            leg: log.log_index.ok_or_else(incomplete)?.to_string(),
            block: number,
            block_hash: Some(hash),
            block_time: header.block_time,
            tx_index: log.transaction_index.unwrap_or_default() as u32,
            program: self.config.usdc.to_string(),
            kind: ledger::TransferKind::Erc20Transfer,
            mint: self.config.usdc.to_string(),
            source: Some(from.clone()),
            source_owner: Some(from),
            destination: Some(to.clone()),
            destination_owner: Some(to),
            authority: None,
            amount,
            decimals: Some(self.config.usdc_decimals),
            success: true,
        })
    }
}

/// Whether a node refused `eth_getLogs` for the size of the range or of the answer (wording
/// differs across providers: "block range too large", "query returned more than 10000
/// results", "response size exceeded", "limit exceeded").
fn refused_as_too_large(e: &alloy::transports::TransportError) -> bool {
    let text = e.to_string().to_lowercase();
    [
        "range",
        "too large",
        "too big",
        "more than",
        "exceed",
        "limit",
    ]
    .iter()
    .any(|w| text.contains(w))
}
