//! The in-process Solana: a program-test bank with model-vault loaded natively, advanced one
//! slot at a time, recording every transaction with the metadata an RPC node would keep.
#![allow(deprecated)] // program-test 3.1 marks its context "Agave Unstable API"

use std::collections::{BTreeMap, HashMap};

use solana_account::Account;
use solana_hash::Hash;
use solana_message::inner_instruction::InnerInstructions;
use solana_program_test::{processor, ProgramTest, ProgramTestContext};
use solana_pubkey::Pubkey;
use solana_rent::Rent;
use solana_sdk_ids::bpf_loader;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;
use tokio::sync::broadcast;

use super::bank_thread::{BankThread, LocalFuture};
use crate::{error::LocalnetError, program::ProgramBuild};

/// How many slots behind the newest closed slot a slot becomes finalized.
pub const FINALIZATION_DEPTH: u64 = 2;
/// How many blocks after it became the newest a blockhash is still accepted: 150, as on a
/// cluster, so a blockhash lives 150 slots (one is registered per slot, see `bank_thread`).
const MAX_PROCESSING_AGE: u64 = solana_clock::MAX_PROCESSING_AGE as u64;

/// One token account's balance before or after a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBalance {
    pub account_index: u8,
    pub mint: Pubkey,
    pub owner: Pubkey,
    pub program_id: Pubkey,
    pub amount: u64,
    pub decimals: u8,
}

/// What the runtime said about a transaction.
#[derive(Clone, Debug)]
pub struct TxMeta {
    pub err: Option<TransactionError>,
    pub fee: u64,
    pub pre_balances: Vec<u64>,
    pub post_balances: Vec<u64>,
    pub pre_token_balances: Vec<TokenBalance>,
    pub post_token_balances: Vec<TokenBalance>,
    pub inner_instructions: Vec<InnerInstructions>,
    pub logs: Vec<String>,
    pub compute_units: u64,
}

#[derive(Clone, Debug)]
pub struct TxRecord {
    pub slot: u64,
    /// Position within its block.
    pub index: usize,
    pub transaction: VersionedTransaction,
    pub meta: TxMeta,
}

impl TxRecord {
    pub fn signature(&self) -> Signature {
        self.transaction.signatures[0]
    }
}

#[derive(Clone, Debug)]
pub struct Block {
    pub slot: u64,
    pub parent_slot: u64,
    pub blockhash: Hash,
    pub previous_blockhash: Hash,
    pub block_height: u64,
    pub block_time: i64,
    pub signatures: Vec<Signature>,
}

/// Commitment of a slot, as clients ask for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Commitment {
    Processed,
    Confirmed,
    Finalized,
}

/// What the chain announces to subscribers (the gRPC service).
#[derive(Clone, Debug)]
pub enum ChainEvent {
    Transaction(Box<TxRecord>),
    Slot {
        slot: u64,
        parent: u64,
        commitment: Commitment,
    },
    Block(Block),
}

struct Inner {
    ctx: ProgramTestContext,
    /// The slot transactions are currently processed in.
    working_slot: u64,
    working_signatures: Vec<Signature>,
    working_previous_blockhash: Hash,
    blocks: BTreeMap<u64, Block>,
    transactions: HashMap<Signature, TxRecord>,
    /// Per address, the signatures that touched it, oldest first.
    history: HashMap<Pubkey, Vec<Signature>>,
    /// Every blockhash the bank still keeps, with the block height at which it became the
    /// newest; it is accepted through that height + `MAX_PROCESSING_AGE`.
    blockhashes: HashMap<Hash, u64>,
    newest_blockhash: Hash,
    /// Sent from the bank's thread, so `subscribe_from` sees each event exactly once.
    events: broadcast::Sender<ChainEvent>,
}

pub struct Chain {
    bank: BankThread<Inner>,
    genesis_hash: Hash,
    faucet: solana_keypair::Keypair,
}

/// model-vault's entrypoint for program-test's `processor!` (the program run natively).
/// Anchor's `entry` binds its arguments to one lifetime that `processor!` cannot express;
/// leaking copies gives them that lifetime (a few bytes per instruction).
pub fn native_entry(
    program_id: &Pubkey,
    accounts: &[solana_account_info::AccountInfo],
    data: &[u8],
) -> solana_program_error::ProgramResult {
    let program_id: &'static Pubkey = Box::leak(Box::new(*program_id));
    let accounts = Box::leak(accounts.to_vec().into_boxed_slice());
    let data: &'static [u8] = Box::leak(data.to_vec().into_boxed_slice());
    model_vault::entry(program_id, accounts, data)
}

impl Chain {
    pub async fn start(program: &ProgramBuild) -> Result<Self, LocalnetError> {
        let elf = program.elf()?;
        let bank = BankThread::start(move || Inner::start(elf)).await?;
        let (genesis_hash, faucet) = bank
            .read(|inner| (inner.newest_blockhash, inner.ctx.payer.insecure_clone()))
            .await;
        Ok(Chain {
            bank,
            genesis_hash,
            faucet,
        })
    }

    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// Closes the working slot and opens the next one.
    pub async fn advance_slot(&self) -> Result<u64, LocalnetError> {
        self.bank
            .run(|inner: &mut Inner| -> LocalFuture<'_, _> { Box::pin(inner.advance_slot()) })
            .await
    }

    /// A receiver of everything from now on, and the events since `from_slot` that it will
    /// not see (closed blocks, then the working slot's transactions), cut at the same instant.
    pub async fn subscribe_from(
        &self,
        from_slot: Option<u64>,
    ) -> (broadcast::Receiver<ChainEvent>, Vec<ChainEvent>) {
        self.bank
            .read(move |inner| {
                let receiver = inner.events.subscribe();
                let Some(from) = from_slot else {
                    return (receiver, Vec::new());
                };
                let mut backlog = Vec::new();
                for (slot, block) in inner.blocks.range(from..) {
                    for s in &block.signatures {
                        if let Some(r) = inner.transactions.get(s) {
                            backlog.push(ChainEvent::Transaction(Box::new(r.clone())));
                        }
                    }
                    let next = inner
                        .blocks
                        .range(slot + 1..)
                        .next()
                        .map_or(inner.working_slot, |(s, _)| *s);
                    backlog.extend(slot_events(block.clone(), next));
                }
                if inner.working_slot >= from {
                    for s in &inner.working_signatures {
                        if let Some(r) = inner.transactions.get(s) {
                            backlog.push(ChainEvent::Transaction(Box::new(r.clone())));
                        }
                    }
                }
                (receiver, backlog)
            })
            .await
    }

    /// The newest slot at `commitment`.
    pub async fn slot(&self, commitment: Commitment) -> u64 {
        self.bank.read(move |inner| inner.slot_at(commitment)).await
    }

    pub async fn block_height(&self, commitment: Commitment) -> u64 {
        self.bank
            .read(move |inner| inner.block_height_at(commitment))
            .await
    }

    /// Where `commitment`'s newest slot sits in its epoch.
    pub async fn epoch_info(&self, commitment: Commitment) -> solana_epoch_info::EpochInfo {
        self.bank
            .read(move |inner| {
                let slot = inner.slot_at(commitment);
                let schedule = &inner.ctx.genesis_config().epoch_schedule;
                let (epoch, slot_index) = schedule.get_epoch_and_slot_index(slot);
                solana_epoch_info::EpochInfo {
                    epoch,
                    slot_index,
                    slots_in_epoch: schedule.get_slots_in_epoch(epoch),
                    absolute_slot: slot,
                    block_height: inner.block_height_at(commitment),
                    // As a node counts: every transaction processed, failed ones too.
                    transaction_count: Some(inner.transactions.len() as u64),
                }
            })
            .await
    }

    /// The newest blockhash and the last block height at which it is still accepted.
    pub async fn latest_blockhash(&self) -> (Hash, u64) {
        self.bank
            .read(|inner| {
                let hash = inner.newest_blockhash;
                (hash, inner.last_valid_block_height(&hash).unwrap_or(0))
            })
            .await
    }

    /// Whether a transaction with this blockhash is still accepted.
    pub async fn is_blockhash_valid(&self, hash: &Hash) -> bool {
        let hash = *hash;
        self.bank
            .read(move |inner| inner.is_blockhash_valid(&hash))
            .await
    }

    pub async fn account(&self, address: &Pubkey) -> Result<Option<Account>, LocalnetError> {
        let address = *address;
        self.bank
            .run(move |inner: &mut Inner| -> LocalFuture<'_, _> {
                Box::pin(async move { Ok(inner.ctx.banks_client.get_account(address).await?) })
            })
            .await
    }

    /// Every account owned by `program` that a transaction touched, by address. Like a node's
    /// account index: accounts only ever set up at genesis (and never touched) are not listed.
    pub async fn accounts_owned_by(
        &self,
        program: &Pubkey,
    ) -> Result<Vec<(Pubkey, Account)>, LocalnetError> {
        let program = *program;
        self.bank
            .run(move |inner: &mut Inner| -> LocalFuture<'_, _> {
                Box::pin(async move {
                    let mut addresses: Vec<Pubkey> = inner.history.keys().copied().collect();
                    addresses.sort();
                    let mut owned = Vec::new();
                    for address in addresses {
                        if let Some(account) = inner.ctx.banks_client.get_account(address).await? {
                            if account.owner == program {
                                owned.push((address, account));
                            }
                        }
                    }
                    Ok(owned)
                })
            })
            .await
    }

    pub async fn rent_exempt_minimum(&self, len: usize) -> Result<u64, LocalnetError> {
        self.bank
            .run(move |inner: &mut Inner| -> LocalFuture<'_, _> {
                Box::pin(async move {
                    Ok(inner
                        .ctx
                        .banks_client
                        .get_rent()
                        .await?
                        .minimum_balance(len))
                })
            })
            .await
    }

    pub async fn fee_for_message(
        &self,
        message: solana_message::Message,
    ) -> Result<Option<u64>, LocalnetError> {
        self.bank
            .run(move |inner: &mut Inner| -> LocalFuture<'_, _> {
                Box::pin(
                    async move { Ok(inner.ctx.banks_client.get_fee_for_message(message).await?) },
                )
            })
            .await
    }

    /// Runs a transaction without committing it. Like a node's, the bank's simulation refuses
    /// a blockhash a few blocks before processing does (144 blocks old, not 150).
    pub async fn simulate(&self, tx: VersionedTransaction) -> Result<Simulation, LocalnetError> {
        self.bank
            .run(move |inner: &mut Inner| -> LocalFuture<'_, _> { Box::pin(inner.simulate(tx)) })
            .await
    }

    /// Processes a transaction in the working slot and records it, failed or not (a failed
    /// transaction still pays its fee). Errors before execution (bad signature, unknown
    /// blockhash, replay) come back as `Err` and record nothing.
    pub async fn process(&self, tx: VersionedTransaction) -> Result<TxRecord, LocalnetError> {
        self.bank
            .run(move |inner: &mut Inner| -> LocalFuture<'_, _> {
                Box::pin(async move {
                    let record = inner.process(tx).await?;
                    let _ = inner
                        .events
                        .send(ChainEvent::Transaction(Box::new(record.clone())));
                    Ok(record)
                })
            })
            .await
    }

    pub async fn transaction(
        &self,
        signature: &Signature,
    ) -> Option<(TxRecord, Option<i64>, Commitment)> {
        let signature = *signature;
        self.bank
            .read(move |inner| {
                let record = inner.transactions.get(&signature)?.clone();
                let block_time = inner.blocks.get(&record.slot).map(|b| b.block_time);
                let commitment = inner.commitment_of(record.slot);
                Some((record, block_time, commitment))
            })
            .await
    }

    pub async fn commitment_of(&self, slot: u64) -> Commitment {
        self.bank.read(move |inner| inner.commitment_of(slot)).await
    }

    /// Signatures touching `address`, newest first, starting after `before` and stopping at
    /// `until` (both exclusive), at most `limit`.
    pub async fn signatures_for_address(
        &self,
        address: &Pubkey,
        before: Option<Signature>,
        until: Option<Signature>,
        limit: usize,
    ) -> Vec<(TxRecord, Option<i64>, Commitment)> {
        let address = *address;
        self.bank
            .read(move |inner| {
                let Some(all) = inner.history.get(&address) else {
                    return Vec::new();
                };
                let mut newest_first = all.iter().rev().peekable();
                if let Some(before) = before {
                    for s in newest_first.by_ref() {
                        if *s == before {
                            break;
                        }
                    }
                }
                newest_first
                    .take_while(|s| Some(**s) != until)
                    .take(limit)
                    .filter_map(|s| inner.transactions.get(s))
                    .map(|r| {
                        (
                            r.clone(),
                            inner.blocks.get(&r.slot).map(|b| b.block_time),
                            inner.commitment_of(r.slot),
                        )
                    })
                    .collect()
            })
            .await
    }

    /// A closed block and its transactions.
    pub async fn block(&self, slot: u64) -> Option<(Block, Vec<TxRecord>, Commitment)> {
        self.bank
            .read(move |inner| {
                let block = inner.blocks.get(&slot)?.clone();
                let txs = inner.block_transactions(&block);
                Some((block, txs, inner.commitment_of(slot)))
            })
            .await
    }

    /// Closed blocks from `from` on, oldest first (for replay to late subscribers).
    pub async fn blocks_since(&self, from: u64) -> Vec<(Block, Vec<TxRecord>)> {
        self.bank
            .read(move |inner| {
                inner
                    .blocks
                    .range(from..)
                    .map(|(_, b)| (b.clone(), inner.block_transactions(b)))
                    .collect()
            })
            .await
    }

    /// Names `authority` as model-vault's upgrade authority, as deploying it with the
    /// upgradeable loader would (here the program is loaded natively, so no loader wrote its
    /// `ProgramData`). `initialize` accepts only that key as admin.
    #[allow(deprecated)] // `set_account` is "Agave Unstable API" in program-test 3.1
    pub async fn set_program_upgrade_authority(&self, authority: &Pubkey) {
        let account = model_vault_client::program_data_account(authority);
        self.bank
            .read(move |inner| {
                inner.ctx.set_account(
                    &model_vault_client::program_data_pda(),
                    &solana_account::AccountSharedData::from(account),
                )
            })
            .await
    }

    /// Sends `lamports` from the faucet.
    pub async fn airdrop(&self, to: &Pubkey, lamports: u64) -> Result<TxRecord, LocalnetError> {
        let ix =
            solana_system_interface::instruction::transfer(&self.faucet.pubkey(), to, lamports);
        self.submit(&[ix], &[]).await
    }

    /// Processes `instructions` in one transaction paid by the faucet; a failed instruction
    /// is an error.
    pub async fn submit(
        &self,
        instructions: &[solana_instruction::Instruction],
        signers: &[&solana_keypair::Keypair],
    ) -> Result<TxRecord, LocalnetError> {
        let (blockhash, _) = self.latest_blockhash().await;
        let mut all = vec![&self.faucet];
        all.extend_from_slice(signers);
        let tx = solana_transaction::Transaction::new_signed_with_payer(
            instructions,
            Some(&self.faucet.pubkey()),
            &all,
            blockhash,
        );
        let record = self.process(VersionedTransaction::from(tx)).await?;
        match &record.meta.err {
            None => Ok(record),
            Some(e) => Err(LocalnetError::Rejected(e.clone())),
        }
    }
}

/// The result of a simulation, as `simulateTransaction` reports it.
pub struct Simulation {
    pub err: Option<TransactionError>,
    pub logs: Vec<String>,
    pub units_consumed: u64,
    pub inner_instructions: Vec<InnerInstructions>,
}

impl Inner {
    /// Starts the bank (on its thread): model-vault natively, or the given SBF build.
    async fn start(elf: Option<Vec<u8>>) -> Result<Self, LocalnetError> {
        let pt = match elf {
            None => {
                let mut pt =
                    ProgramTest::new("model_vault", model_vault::ID, processor!(native_entry));
                pt.prefer_bpf(false);
                pt
            }
            // Loaded the way program-test loads a `.so` it finds itself, from any path.
            Some(elf) => {
                let mut pt = ProgramTest::default();
                pt.add_account(
                    model_vault::ID,
                    Account {
                        lamports: Rent::default().minimum_balance(elf.len()).max(1),
                        data: elf,
                        owner: bpf_loader::ID,
                        executable: true,
                        rent_epoch: 0,
                    },
                );
                pt
            }
        };
        let ctx = pt.start_with_context().await;
        let genesis_hash = ctx.last_blockhash;
        let clock: solana_clock::Clock = ctx.banks_client.get_sysvar().await?;
        let (events, _) = broadcast::channel(4096);
        Ok(Inner {
            ctx,
            working_slot: clock.slot,
            working_signatures: Vec::new(),
            working_previous_blockhash: genesis_hash,
            blocks: BTreeMap::new(),
            transactions: HashMap::new(),
            history: HashMap::new(),
            blockhashes: HashMap::from([(genesis_hash, 0)]),
            newest_blockhash: genesis_hash,
            events,
        })
    }

    /// Closes the working slot (the bank registers one blockhash for it) and opens the next.
    async fn advance_slot(&mut self) -> Result<u64, LocalnetError> {
        // Only closing a slot may register a blockhash: were program-test's timer to fire (its
        // clock moved), blockhashes would age by the millisecond again. Say so, loudly.
        let latest = self.ctx.banks_client.get_latest_blockhash().await?;
        if latest != self.newest_blockhash {
            tracing::error!(
                "the bank registered a blockhash of its own: blockhashes now expire sooner than \
                 lastValidBlockHeight says (a bug in localnet's bank thread)"
            );
            self.newest_blockhash = latest;
            self.blockhashes.insert(latest, self.blocks.len() as u64);
        }
        let slot = self.working_slot;
        let next = slot + 1;
        self.ctx
            .warp_to_slot(next)
            .map_err(|e| LocalnetError::Bank(format!("{e:?}")))?;
        let blockhash = self.ctx.banks_client.get_latest_blockhash().await?;
        let parent_slot = self
            .blocks
            .keys()
            .next_back()
            .copied()
            .unwrap_or(slot.saturating_sub(1));
        let block_height = self.blocks.len() as u64 + 1;
        let block = Block {
            slot,
            parent_slot,
            blockhash,
            previous_blockhash: self.working_previous_blockhash,
            block_height,
            block_time: unix_now(),
            signatures: std::mem::take(&mut self.working_signatures),
        };
        self.working_previous_blockhash = blockhash;
        self.working_slot = next;
        self.blocks.insert(slot, block.clone());
        self.newest_blockhash = blockhash;
        self.blockhashes.insert(blockhash, block_height);
        self.blockhashes
            .retain(|_, height| *height + MAX_PROCESSING_AGE >= block_height);
        for event in slot_events(block, next) {
            let _ = self.events.send(event);
        }
        Ok(next)
    }

    /// Closed blocks up to the newest slot at `commitment`.
    fn block_height_at(&self, commitment: Commitment) -> u64 {
        let slot = self.slot_at(commitment);
        self.blocks.range(..=slot).count() as u64
    }

    fn last_valid_block_height(&self, hash: &Hash) -> Option<u64> {
        self.blockhashes
            .get(hash)
            .map(|height| height + MAX_PROCESSING_AGE)
    }

    fn is_blockhash_valid(&self, hash: &Hash) -> bool {
        self.last_valid_block_height(hash)
            .is_some_and(|last| self.blocks.len() as u64 <= last)
    }

    fn block_transactions(&self, block: &Block) -> Vec<TxRecord> {
        block
            .signatures
            .iter()
            .filter_map(|s| self.transactions.get(s).cloned())
            .collect()
    }

    fn slot_at(&self, commitment: Commitment) -> u64 {
        let confirmed = self.blocks.keys().next_back().copied().unwrap_or(0);
        match commitment {
            Commitment::Processed => self.working_slot,
            Commitment::Confirmed => confirmed,
            Commitment::Finalized => confirmed.saturating_sub(FINALIZATION_DEPTH),
        }
    }

    fn commitment_of(&self, slot: u64) -> Commitment {
        if slot <= self.slot_at(Commitment::Finalized) && self.blocks.contains_key(&slot) {
            Commitment::Finalized
        } else if self.blocks.contains_key(&slot) {
            Commitment::Confirmed
        } else {
            Commitment::Processed
        }
    }

    async fn simulate(&mut self, tx: VersionedTransaction) -> Result<Simulation, LocalnetError> {
        let sim = self.ctx.banks_client.simulate_transaction(tx).await?;
        let details = sim.simulation_details.unwrap_or_else(|| {
            solana_banks_interface::TransactionSimulationDetails {
                logs: vec![],
                units_consumed: 0,
                loaded_accounts_data_size: 0,
                return_data: None,
                inner_instructions: None,
            }
        });
        Ok(Simulation {
            err: sim.result.and_then(|r| r.err()),
            logs: details.logs,
            units_consumed: details.units_consumed,
            inner_instructions: details.inner_instructions.unwrap_or_default(),
        })
    }

    async fn process(&mut self, tx: VersionedTransaction) -> Result<TxRecord, LocalnetError> {
        let keys: Vec<Pubkey> = tx.message.static_account_keys().to_vec();
        let signature = *tx.signatures.first().ok_or(LocalnetError::Invalid(
            "transaction has no signature".into(),
        ))?;
        if self.transactions.contains_key(&signature) {
            return Err(LocalnetError::Rejected(TransactionError::AlreadyProcessed));
        }
        // Inner instructions are only reported by simulation; on the bank's thread nothing
        // else runs between the simulation and the real execution, so they are the same. The
        // simulation runs under the newest blockhash: it refuses one 144 blocks old, which
        // processing still takes (signatures are not checked by simulation).
        let mut simulated = tx.clone();
        simulated
            .message
            .set_recent_blockhash(self.newest_blockhash);
        let simulation = self.simulate(simulated).await?;
        let (pre_balances, pre_token_balances) = self.balances(&keys).await?;
        let fee = match tx.message.clone() {
            solana_message::VersionedMessage::Legacy(m) => self
                .ctx
                .banks_client
                .get_fee_for_message(m)
                .await?
                .unwrap_or(0),
            solana_message::VersionedMessage::V0(_) => {
                5_000 * u64::from(tx.message.header().num_required_signatures)
            }
        };
        let result = self
            .ctx
            .banks_client
            .process_transaction_with_metadata(tx.clone())
            .await?;
        let err = result.result.err();
        if let Some(e) = &err {
            if !charges_fee(e) {
                return Err(LocalnetError::Rejected(e.clone()));
            }
        }
        let (post_balances, post_token_balances) = self.balances(&keys).await?;
        let metadata =
            result
                .metadata
                .unwrap_or_else(|| solana_banks_interface::TransactionMetadata {
                    log_messages: simulation.logs.clone(),
                    compute_units_consumed: simulation.units_consumed,
                    return_data: None,
                });
        let record = TxRecord {
            slot: self.working_slot,
            index: self.working_signatures.len(),
            transaction: tx,
            meta: TxMeta {
                err,
                fee,
                pre_balances,
                post_balances,
                pre_token_balances,
                post_token_balances,
                inner_instructions: simulation.inner_instructions,
                logs: metadata.log_messages,
                compute_units: metadata.compute_units_consumed,
            },
        };
        self.working_signatures.push(signature);
        for key in &keys {
            self.history.entry(*key).or_default().push(signature);
        }
        self.transactions.insert(signature, record.clone());
        Ok(record)
    }

    /// Lamports of every key, and token balances of those that are token accounts.
    async fn balances(
        &mut self,
        keys: &[Pubkey],
    ) -> Result<(Vec<u64>, Vec<TokenBalance>), LocalnetError> {
        let mut lamports = Vec::with_capacity(keys.len());
        let mut tokens = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let account = self.ctx.banks_client.get_account(*key).await?;
            lamports.push(account.as_ref().map_or(0, |a| a.lamports));
            let Some(account) = account else { continue };
            if let Some(parsed) = crate::solana::token::parse_token_account(&account) {
                let decimals = match self.ctx.banks_client.get_account(parsed.mint).await? {
                    Some(mint) => crate::solana::token::mint_decimals(&mint).unwrap_or(0),
                    None => 0,
                };
                tokens.push(TokenBalance {
                    account_index: i as u8,
                    mint: parsed.mint,
                    owner: parsed.owner,
                    program_id: account.owner,
                    amount: parsed.amount,
                    decimals,
                });
            }
        }
        Ok((lamports, tokens))
    }
}

/// What closing `block` announces: it is confirmed (with its meta), the slot
/// `FINALIZATION_DEPTH` behind it is finalized, and `next` is now processing.
fn slot_events(block: Block, next: u64) -> Vec<ChainEvent> {
    let slot = block.slot;
    let mut events = vec![
        ChainEvent::Slot {
            slot,
            parent: block.parent_slot,
            commitment: Commitment::Confirmed,
        },
        ChainEvent::Block(block),
    ];
    if let Some(finalized) = slot.checked_sub(FINALIZATION_DEPTH) {
        events.push(ChainEvent::Slot {
            slot: finalized,
            parent: finalized.saturating_sub(1),
            commitment: Commitment::Finalized,
        });
    }
    events.push(ChainEvent::Slot {
        slot: next,
        parent: slot,
        commitment: Commitment::Processed,
    });
    events
}

/// Errors the runtime reports after charging the fee: the transaction lands in a block.
fn charges_fee(e: &TransactionError) -> bool {
    matches!(
        e,
        TransactionError::InstructionError(..) | TransactionError::InsufficientFundsForRent { .. }
    )
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
