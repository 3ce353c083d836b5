//! Yellowstone gRPC (the `geyser_server` of `yellowstone-grpc-proto`): transaction, slot and
//! block-meta subscriptions with `from_slot` replay, pings, and the unary calls indexers use.

use std::{
    collections::HashMap,
    ops::RangeInclusive,
    pin::Pin,
    str::FromStr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use solana_pubkey::Pubkey;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::{wrappers::ReceiverStream, Stream};
use tonic::{Request, Response, Status, Streaming};
use yellowstone_grpc_proto::{
    geyser::{
        geyser_server::{Geyser, GeyserServer},
        subscribe_update::UpdateOneof,
        *,
    },
    solana::storage::confirmed_block as pb,
};

use super::chain::{Block, Chain, ChainEvent, Commitment, TokenBalance, TxRecord};

/// How often an idle stream is pinged, as Yellowstone servers do.
const PING_INTERVAL: Duration = Duration::from_secs(15);

/// What tests see of the server and the faults they can inject into it, as real providers
/// misbehave: ending every stream, or losing blocks without ending any.
pub struct StreamControls {
    disconnect: tokio::sync::broadcast::Sender<()>,
    opened: AtomicU64,
    lost_from: AtomicU64,
    lost_through: AtomicU64,
}

impl Default for StreamControls {
    fn default() -> Self {
        StreamControls {
            disconnect: tokio::sync::broadcast::channel(1).0,
            opened: AtomicU64::new(0),
            // an empty range: nothing lost
            lost_from: AtomicU64::new(1),
            lost_through: AtomicU64::new(0),
        }
    }
}

impl StreamControls {
    /// Ends every open subscription with `UNAVAILABLE`, as a provider restarting would.
    pub fn disconnect(&self) {
        let _ = self.disconnect.send(());
    }

    /// How many subscriptions have been opened so far.
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// From now on, blocks of `slots` (their transactions and block meta) are silently not
    /// sent on any stream, as a provider dropping messages would; replays skip them too.
    pub fn lose_blocks(&self, slots: RangeInclusive<u64>) {
        self.lost_from.store(*slots.start(), Ordering::SeqCst);
        self.lost_through.store(*slots.end(), Ordering::SeqCst);
    }

    fn lost(&self, slot: u64) -> bool {
        (self.lost_from.load(Ordering::SeqCst)..=self.lost_through.load(Ordering::SeqCst))
            .contains(&slot)
    }
}

/// The Geyser service over `chain`, steered by `controls`.
pub fn service(chain: Arc<Chain>, controls: Arc<StreamControls>) -> GeyserServer<GeyserService> {
    GeyserServer::new(GeyserService { chain, controls })
}

pub struct GeyserService {
    chain: Arc<Chain>,
    controls: Arc<StreamControls>,
}

type UpdateStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// One client's filters, as its latest `SubscribeRequest` set them.
#[derive(Default)]
struct Filters {
    transactions: HashMap<String, SubscribeRequestFilterTransactions>,
    slots: HashMap<String, SubscribeRequestFilterSlots>,
    blocks_meta: Vec<String>,
    commitment: Option<Commitment>,
}

impl Filters {
    fn from_request(req: &SubscribeRequest) -> Result<Self, Status> {
        for (name, f) in &req.transactions {
            for key in f
                .account_include
                .iter()
                .chain(&f.account_exclude)
                .chain(&f.account_required)
            {
                Pubkey::from_str(key).map_err(|_| {
                    Status::invalid_argument(format!("filter {name}: invalid account {key}"))
                })?;
            }
        }
        let commitment = match req.commitment.map(CommitmentLevel::try_from) {
            None => None,
            Some(Ok(CommitmentLevel::Processed)) => Some(Commitment::Processed),
            Some(Ok(CommitmentLevel::Confirmed)) => Some(Commitment::Confirmed),
            Some(Ok(CommitmentLevel::Finalized)) => Some(Commitment::Finalized),
            Some(Err(_)) => return Err(Status::invalid_argument("unknown commitment level")),
        };
        Ok(Filters {
            transactions: req.transactions.clone(),
            slots: req.slots.clone(),
            blocks_meta: req.blocks_meta.keys().cloned().collect(),
            commitment,
        })
    }

    fn commitment(&self) -> Commitment {
        self.commitment.unwrap_or(Commitment::Processed)
    }

    /// Names of the transaction filters `record` matches.
    fn matching(&self, record: &TxRecord) -> Vec<String> {
        let keys: Vec<String> = record
            .transaction
            .message
            .static_account_keys()
            .iter()
            .map(|k| k.to_string())
            .collect();
        let failed = record.meta.err.is_some();
        let signature = record.signature().to_string();
        self.transactions
            .iter()
            .filter(|(_, f)| {
                f.vote != Some(true)
                    && f.failed.is_none_or(|want| want == failed)
                    && f.signature.as_ref().is_none_or(|s| *s == signature)
                    && (f.account_include.is_empty()
                        || f.account_include.iter().any(|a| keys.contains(a)))
                    && !f.account_exclude.iter().any(|a| keys.contains(a))
                    && f.account_required.iter().all(|a| keys.contains(a))
            })
            .map(|(name, _)| name.clone())
            .collect()
    }
}

#[tonic::async_trait]
impl Geyser for GeyserService {
    type SubscribeStream = UpdateStream<SubscribeUpdate>;
    type SubscribeDeshredStream = UpdateStream<SubscribeUpdateDeshred>;
    type SubscribeGossipStream = UpdateStream<SubscribeUpdateGossip>;

    async fn subscribe(
        &self,
        request: Request<Streaming<SubscribeRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let mut inbound = request.into_inner();
        // Clients send their first request with the call; registering it before answering
        // means that once `subscribe` returns to the client, nothing after it can be missed.
        let first = inbound.message().await?.ok_or_else(|| {
            Status::invalid_argument("the stream ended before a SubscribeRequest")
        })?;
        let filters = Filters::from_request(&first)?;
        let (events, backlog) = self.chain.subscribe_from(first.from_slot).await;
        self.controls.opened.fetch_add(1, Ordering::Relaxed);
        let (out, rx) = mpsc::channel(4096);
        let chain = self.chain.clone();
        let disconnect = self.controls.disconnect.subscribe();
        let controls = self.controls.clone();
        tokio::spawn(async move {
            let subscription = Subscription {
                filters,
                events,
                backlog,
                first_ping: first.ping.map(|p| p.id),
                disconnect,
            };
            let served = serve_subscription(&chain, &controls, subscription, &mut inbound, &out);
            if let Err(status) = served.await {
                let _ = out.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn subscribe_deshred(
        &self,
        _: Request<Streaming<SubscribeDeshredRequest>>,
    ) -> Result<Response<Self::SubscribeDeshredStream>, Status> {
        Err(Status::unimplemented("localnet has no shreds"))
    }

    async fn subscribe_gossip(
        &self,
        _: Request<SubscribeGossipRequest>,
    ) -> Result<Response<Self::SubscribeGossipStream>, Status> {
        Err(Status::unimplemented("localnet has no gossip"))
    }

    async fn subscribe_replay_info(
        &self,
        _: Request<SubscribeReplayInfoRequest>,
    ) -> Result<Response<SubscribeReplayInfoResponse>, Status> {
        // Every slot since genesis is kept.
        Ok(Response::new(SubscribeReplayInfoResponse {
            first_available: Some(0),
        }))
    }

    async fn ping(&self, request: Request<PingRequest>) -> Result<Response<PongResponse>, Status> {
        Ok(Response::new(PongResponse {
            count: request.into_inner().count,
        }))
    }

    async fn get_latest_blockhash(
        &self,
        _: Request<GetLatestBlockhashRequest>,
    ) -> Result<Response<GetLatestBlockhashResponse>, Status> {
        let (hash, last_valid_block_height) = self.chain.latest_blockhash().await;
        Ok(Response::new(GetLatestBlockhashResponse {
            slot: self.chain.slot(Commitment::Processed).await,
            blockhash: hash.to_string(),
            last_valid_block_height,
        }))
    }

    async fn get_block_height(
        &self,
        request: Request<GetBlockHeightRequest>,
    ) -> Result<Response<GetBlockHeightResponse>, Status> {
        let c = unary_commitment(request.into_inner().commitment);
        Ok(Response::new(GetBlockHeightResponse {
            block_height: self.chain.block_height(c).await,
        }))
    }

    async fn get_slot(
        &self,
        request: Request<GetSlotRequest>,
    ) -> Result<Response<GetSlotResponse>, Status> {
        let c = unary_commitment(request.into_inner().commitment);
        Ok(Response::new(GetSlotResponse {
            slot: self.chain.slot(c).await,
        }))
    }

    async fn is_blockhash_valid(
        &self,
        request: Request<IsBlockhashValidRequest>,
    ) -> Result<Response<IsBlockhashValidResponse>, Status> {
        let hash = solana_hash::Hash::from_str(&request.into_inner().blockhash)
            .map_err(|_| Status::invalid_argument("invalid blockhash"))?;
        Ok(Response::new(IsBlockhashValidResponse {
            slot: self.chain.slot(Commitment::Processed).await,
            valid: self.chain.is_blockhash_valid(&hash).await,
        }))
    }

    async fn get_version(
        &self,
        _: Request<GetVersionRequest>,
    ) -> Result<Response<GetVersionResponse>, Status> {
        let version = serde_json::json!({
            "package": "paywire-localnet",
            "version": env!("CARGO_PKG_VERSION"),
            "solana": super::rpc::SOLANA_CORE_VERSION,
        });
        Ok(Response::new(GetVersionResponse {
            version: version.to_string(),
        }))
    }
}

fn unary_commitment(level: Option<i32>) -> Commitment {
    match level.map(CommitmentLevel::try_from) {
        Some(Ok(CommitmentLevel::Processed)) => Commitment::Processed,
        Some(Ok(CommitmentLevel::Confirmed)) => Commitment::Confirmed,
        _ => Commitment::Finalized,
    }
}

type Outbound = mpsc::Sender<Result<SubscribeUpdate, Status>>;

/// A registered subscription: its filters, the live events, and what it missed before.
struct Subscription {
    filters: Filters,
    events: tokio::sync::broadcast::Receiver<ChainEvent>,
    backlog: Vec<ChainEvent>,
    first_ping: Option<i32>,
    disconnect: tokio::sync::broadcast::Receiver<()>,
}

/// Reads the client's requests and forwards the chain's events through its filters until
/// either side goes away.
async fn serve_subscription(
    chain: &Chain,
    controls: &StreamControls,
    subscription: Subscription,
    inbound: &mut Streaming<SubscribeRequest>,
    out: &Outbound,
) -> Result<(), Status> {
    let Subscription {
        mut filters,
        mut events,
        backlog,
        first_ping,
        mut disconnect,
    } = subscription;
    if let Some(id) = first_ping {
        send(out, vec![], UpdateOneof::Pong(SubscribeUpdatePong { id })).await?;
    }
    for event in backlog {
        forward(chain, controls, &filters, event, out).await?;
    }
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    loop {
        tokio::select! {
            request = inbound.message() => match request {
                Ok(Some(req)) => {
                    if let Some(p) = req.ping {
                        send(out, vec![], UpdateOneof::Pong(SubscribeUpdatePong { id: p.id })).await?;
                    }
                    // A request that only pings keeps the filters; any other replaces them.
                    let only_ping = req.transactions.is_empty() && req.slots.is_empty() && req.blocks_meta.is_empty();
                    if !only_ping {
                        filters = Filters::from_request(&req)?;
                    }
                }
                Ok(None) | Err(_) => return Ok(()),
            },
            event = events.recv() => match event {
                Ok(event) => forward(chain, controls, &filters, event, out).await?,
                Err(RecvError::Lagged(n)) => {
                    return Err(Status::data_loss(format!("subscriber fell {n} events behind; resubscribe with from_slot")));
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            _ = ping.tick() => send(out, vec![], UpdateOneof::Ping(SubscribeUpdatePing {})).await?,
            _ = disconnect.recv() => return Err(Status::unavailable("the server closed the stream")),
        }
    }
}

async fn send(out: &Outbound, filters: Vec<String>, update: UpdateOneof) -> Result<(), Status> {
    let update = SubscribeUpdate {
        filters,
        update_oneof: Some(update),
        created_at: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
    };
    out.send(Ok(update))
        .await
        .map_err(|_| Status::cancelled("client went away"))
}

/// Sends what `event` means to this client. Transactions go out when their slot reaches the
/// subscription's commitment.
async fn forward(
    chain: &Chain,
    controls: &StreamControls,
    filters: &Filters,
    event: ChainEvent,
    out: &Outbound,
) -> Result<(), Status> {
    let commitment = filters.commitment();
    match event {
        ChainEvent::Block(block) if controls.lost(block.slot) => {}
        ChainEvent::Transaction(record) if commitment == Commitment::Processed => {
            send_transaction(filters, &record, out).await?;
        }
        ChainEvent::Transaction(_) => {}
        ChainEvent::Block(block) => {
            if commitment == Commitment::Confirmed {
                if let Some((_, txs, _)) = chain.block(block.slot).await {
                    for record in &txs {
                        send_transaction(filters, record, out).await?;
                    }
                }
            }
            if !filters.blocks_meta.is_empty() {
                send(
                    out,
                    filters.blocks_meta.clone(),
                    UpdateOneof::BlockMeta(block_meta(&block)),
                )
                .await?;
            }
        }
        ChainEvent::Slot {
            slot,
            parent,
            commitment: level,
        } => {
            if level == Commitment::Finalized && commitment == Commitment::Finalized {
                if let Some((_, txs, _)) = chain.block(slot).await {
                    for record in &txs {
                        send_transaction(filters, record, out).await?;
                    }
                }
            }
            let names: Vec<String> = filters
                .slots
                .iter()
                .filter(|(_, f)| !f.filter_by_commitment.unwrap_or(false) || level == commitment)
                .map(|(n, _)| n.clone())
                .collect();
            if !names.is_empty() {
                let status = match level {
                    Commitment::Processed => SlotStatus::SlotProcessed,
                    Commitment::Confirmed => SlotStatus::SlotConfirmed,
                    Commitment::Finalized => SlotStatus::SlotFinalized,
                };
                let update = SubscribeUpdateSlot {
                    slot,
                    parent: Some(parent),
                    status: status as i32,
                    ..Default::default()
                };
                send(out, names, UpdateOneof::Slot(update)).await?;
            }
        }
    }
    Ok(())
}

async fn send_transaction(
    filters: &Filters,
    record: &TxRecord,
    out: &Outbound,
) -> Result<(), Status> {
    let names = filters.matching(record);
    if names.is_empty() {
        return Ok(());
    }
    let update = SubscribeUpdateTransaction {
        transaction: Some(transaction_info(record)),
        slot: record.slot,
        bank_id: record.slot,
    };
    send(out, names, UpdateOneof::Transaction(update)).await
}

fn block_meta(block: &Block) -> SubscribeUpdateBlockMeta {
    SubscribeUpdateBlockMeta {
        slot: block.slot,
        blockhash: block.blockhash.to_string(),
        rewards: Some(pb::Rewards::default()),
        block_time: Some(pb::UnixTimestamp {
            timestamp: block.block_time,
        }),
        block_height: Some(pb::BlockHeight {
            block_height: block.block_height,
        }),
        parent_slot: block.parent_slot,
        parent_blockhash: block.previous_blockhash.to_string(),
        executed_transaction_count: block.signatures.len() as u64,
        entries_count: 1,
        bank_id: block.slot,
    }
}

fn transaction_info(record: &TxRecord) -> SubscribeUpdateTransactionInfo {
    let tx = &record.transaction;
    let message = &tx.message;
    let header = message.header();
    let versioned = !matches!(message, solana_message::VersionedMessage::Legacy(_));
    let m = &record.meta;
    SubscribeUpdateTransactionInfo {
        signature: record.signature().as_ref().to_vec(),
        is_vote: false,
        transaction: Some(pb::Transaction {
            signatures: tx.signatures.iter().map(|s| s.as_ref().to_vec()).collect(),
            message: Some(pb::Message {
                header: Some(pb::MessageHeader {
                    num_required_signatures: header.num_required_signatures.into(),
                    num_readonly_signed_accounts: header.num_readonly_signed_accounts.into(),
                    num_readonly_unsigned_accounts: header.num_readonly_unsigned_accounts.into(),
                }),
                account_keys: message
                    .static_account_keys()
                    .iter()
                    .map(|k| k.to_bytes().to_vec())
                    .collect(),
                recent_blockhash: message.recent_blockhash().to_bytes().to_vec(),
                instructions: message
                    .instructions()
                    .iter()
                    .map(|i| pb::CompiledInstruction {
                        program_id_index: i.program_id_index.into(),
                        accounts: i.accounts.clone(),
                        data: i.data.clone(),
                    })
                    .collect(),
                versioned,
                ..Default::default()
            }),
        }),
        meta: Some(pb::TransactionStatusMeta {
            err: m.err.as_ref().map(|e| pb::TransactionError {
                err: bincode::serialize(e).unwrap_or_default(),
            }),
            fee: m.fee,
            pre_balances: m.pre_balances.clone(),
            post_balances: m.post_balances.clone(),
            inner_instructions: m
                .inner_instructions
                .iter()
                .enumerate()
                .filter(|(_, list)| !list.is_empty())
                .map(|(index, list)| pb::InnerInstructions {
                    index: index as u32,
                    instructions: list
                        .iter()
                        .map(|i| pb::InnerInstruction {
                            program_id_index: i.instruction.program_id_index.into(),
                            accounts: i.instruction.accounts.clone(),
                            data: i.instruction.data.clone(),
                            stack_height: Some(i.stack_height.into()),
                        })
                        .collect(),
                })
                .collect(),
            log_messages: m.logs.clone(),
            pre_token_balances: m.pre_token_balances.iter().map(token_balance).collect(),
            post_token_balances: m.post_token_balances.iter().map(token_balance).collect(),
            compute_units_consumed: Some(m.compute_units),
            return_data_none: true,
            ..Default::default()
        }),
        index: record.index as u64,
    }
}

fn token_balance(b: &TokenBalance) -> pb::TokenBalance {
    pb::TokenBalance {
        account_index: b.account_index.into(),
        mint: b.mint.to_string(),
        ui_token_amount: Some(pb::UiTokenAmount {
            ui_amount: b.amount as f64 / 10f64.powi(i32::from(b.decimals)),
            decimals: b.decimals.into(),
            amount: b.amount.to_string(),
            ui_amount_string: super::token::ui_amount_string(b.amount, b.decimals),
        }),
        owner: b.owner.to_string(),
        program_id: b.program_id.to_string(),
    }
}
