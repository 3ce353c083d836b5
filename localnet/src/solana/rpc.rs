//! JSON-RPC over HTTP: the subset of the Solana RPC API that `RpcClient` and the official x402
//! clients use, with the standard JSON shapes and error codes.

use std::{str::FromStr, sync::Arc};

use axum::{extract::State, routing::post, Json, Router};
use base64::{prelude::BASE64_STANDARD, Engine};
use serde_json::{json, Value};
use solana_account_decoder::{
    encode_ui_account,
    parse_account_data::{AccountAdditionalDataV3, SplTokenAdditionalDataV2},
    UiAccount, UiAccountEncoding,
};
use solana_account_decoder_client_types::token::UiTokenAmount;
use solana_hash::Hash;
use solana_pubkey::Pubkey;
use solana_rpc_client_api::custom_error as codes;
use solana_rpc_client_types::{
    config::RpcProgramAccountsConfig,
    filter::RpcFilterType,
    response::{
        RpcBlockhash, RpcConfirmedTransactionStatusWithSignature, RpcSimulateTransactionResult,
    },
};
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_status_client_types::{
    EncodedConfirmedTransactionWithStatusMeta, EncodedTransaction,
    EncodedTransactionWithStatusMeta, TransactionBinaryEncoding, TransactionConfirmationStatus,
    UiCompiledInstruction, UiConfirmedBlock, UiInnerInstructions, UiInstruction, UiMessage,
    UiRawMessage, UiTransaction, UiTransactionEncoding, UiTransactionStatusMeta,
    UiTransactionTokenBalance,
};

use super::{
    chain::{Chain, Commitment, TokenBalance, TxRecord},
    token,
};
use crate::LocalnetError;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;
/// The Agave release whose RPC this imitates.
pub const SOLANA_CORE_VERSION: &str = "3.1.12";

/// A JSON-RPC error object.
#[derive(Debug)]
pub struct RpcError {
    code: i64,
    message: String,
    data: Option<Value>,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }
    fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }
}

impl From<LocalnetError> for RpcError {
    fn from(e: LocalnetError) -> Self {
        match e {
            LocalnetError::Invalid(m) => Self::invalid_params(m),
            LocalnetError::Rejected(err) => preflight_failure(err, Vec::new(), 0),
            other => Self::new(INTERNAL_ERROR, other.to_string()),
        }
    }
}

type RpcResult = Result<Value, RpcError>;

pub fn router(chain: Arc<Chain>) -> Router {
    Router::new().route("/", post(handle)).with_state(chain)
}

/// Accepts a single request or a batch, as raw bytes so malformed JSON gets the standard
/// parse error instead of a framework rejection.
async fn handle(State(chain): State<Arc<Chain>>, body: axum::body::Bytes) -> Json<Value> {
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return Json(error_response(
                Value::Null,
                RpcError::new(PARSE_ERROR, format!("Parse error: {e}")),
            ))
        }
    };
    match parsed {
        Value::Array(requests) if !requests.is_empty() => {
            let mut out = Vec::with_capacity(requests.len());
            for r in requests {
                out.push(handle_one(&chain, r).await);
            }
            Json(Value::Array(out))
        }
        other => Json(handle_one(&chain, other).await),
    }
}

async fn handle_one(chain: &Chain, request: Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let (Some(method), Some("2.0")) = (
        request.get("method").and_then(Value::as_str),
        request.get("jsonrpc").and_then(Value::as_str),
    ) else {
        return error_response(id, RpcError::new(INVALID_REQUEST, "Invalid request"));
    };
    let params = match request.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return error_response(id, RpcError::invalid_params("params must be an array")),
    };
    match dispatch(chain, method, &params).await {
        Ok(result) => json!({"jsonrpc": "2.0", "result": result, "id": id}),
        Err(e) => error_response(id, e),
    }
}

fn error_response(id: Value, e: RpcError) -> Value {
    let mut error = json!({"code": e.code, "message": e.message});
    if let Some(data) = e.data {
        error["data"] = data;
    }
    json!({"jsonrpc": "2.0", "error": error, "id": id})
}

async fn dispatch(chain: &Chain, method: &str, params: &[Value]) -> RpcResult {
    let config = params
        .iter()
        .find(|p| p.is_object())
        .cloned()
        .unwrap_or(Value::Null);
    let commitment = commitment(&config)?;
    match method {
        "getHealth" => Ok(json!("ok")),
        "getVersion" => Ok(json!({"solana-core": SOLANA_CORE_VERSION, "feature-set": 0})),
        "getGenesisHash" => Ok(json!(chain.genesis_hash().to_string())),
        "getSlot" => Ok(json!(chain.slot(commitment).await)),
        "getBlockHeight" => Ok(json!(chain.block_height(commitment).await)),
        "getLatestBlockhash" => {
            let (hash, last_valid_block_height) = chain.latest_blockhash().await;
            let value = RpcBlockhash {
                blockhash: hash.to_string(),
                last_valid_block_height,
            };
            with_context(chain, commitment, json!(value)).await
        }
        "isBlockhashValid" => {
            let hash = Hash::from_str(str_param(params, 0)?)
                .map_err(|_| RpcError::invalid_params("invalid blockhash"))?;
            with_context(
                chain,
                commitment,
                json!(chain.is_blockhash_valid(&hash).await),
            )
            .await
        }
        "getBalance" => {
            let account = chain.account(&pubkey_param(params, 0)?).await?;
            with_context(chain, commitment, json!(account.map_or(0, |a| a.lamports))).await
        }
        "getAccountInfo" => {
            let address = pubkey_param(params, 0)?;
            let encoding = account_encoding(&config)?;
            let value = account_at(chain, &address, encoding).await?;
            with_context(chain, commitment, json!(value)).await
        }
        "getMultipleAccounts" => {
            let addresses = params
                .first()
                .and_then(Value::as_array)
                .ok_or_else(|| RpcError::invalid_params("expected an array of addresses"))?;
            let encoding = account_encoding(&config)?;
            let mut values = Vec::with_capacity(addresses.len());
            for a in addresses {
                let address = parse_pubkey(a.as_str().unwrap_or_default())?;
                values.push(account_at(chain, &address, encoding).await?);
            }
            with_context(chain, commitment, json!(values)).await
        }
        "getTokenAccountBalance" => {
            let address = pubkey_param(params, 0)?;
            let account = chain
                .account(&address)
                .await?
                .ok_or_else(|| RpcError::invalid_params("Invalid param: could not find account"))?;
            let parsed = token::parse_token_account(&account)
                .ok_or_else(|| RpcError::invalid_params("Invalid param: not a Token account"))?;
            let decimals = match chain.account(&parsed.mint).await? {
                Some(mint) => token::mint_decimals(&mint).unwrap_or(0),
                None => 0,
            };
            with_context(
                chain,
                commitment,
                json!(ui_token_amount(parsed.amount, decimals)),
            )
            .await
        }
        "getTokenSupply" => {
            let address = pubkey_param(params, 0)?;
            let account = chain
                .account(&address)
                .await?
                .ok_or_else(|| RpcError::invalid_params("Invalid param: could not find account"))?;
            let (supply, decimals) = token::mint_supply(&account)
                .ok_or_else(|| RpcError::invalid_params("Invalid param: not a Token mint"))?;
            with_context(chain, commitment, json!(ui_token_amount(supply, decimals))).await
        }
        "getProgramAccounts" => {
            let program = pubkey_param(params, 0)?;
            let encoding = account_encoding(&config)?;
            let config: RpcProgramAccountsConfig = match config {
                Value::Null => RpcProgramAccountsConfig::default(),
                config => serde_json::from_value(config)
                    .map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}")))?,
            };
            let filters = config.filters.unwrap_or_default();
            for filter in &filters {
                filter
                    .verify()
                    .map_err(|e| RpcError::invalid_params(format!("Invalid param: {e}")))?;
            }
            let mut values = Vec::new();
            for (address, account) in chain.accounts_owned_by(&program).await? {
                let kept = filters.iter().all(|filter| match filter {
                    RpcFilterType::DataSize(size) => account.data.len() as u64 == *size,
                    RpcFilterType::Memcmp(compare) => compare.bytes_match(&account.data),
                    RpcFilterType::TokenAccountState => {
                        token::parse_token_account(&account).is_some()
                    }
                });
                if kept {
                    values.push(json!({
                        "pubkey": address.to_string(),
                        "account": ui_account(chain, &address, &account, encoding).await?,
                    }));
                }
            }
            if config.with_context == Some(true) {
                with_context(chain, commitment, json!(values)).await
            } else {
                Ok(json!(values))
            }
        }
        "getTokenAccountsByOwner" => token_accounts_by(chain, params, |t| Some(t.owner)).await,
        "getTokenAccountsByDelegate" => token_accounts_by(chain, params, |t| t.delegate).await,
        "getEpochInfo" => Ok(json!(chain.epoch_info(commitment).await)),
        "getMinimumBalanceForRentExemption" => {
            let len = params
                .first()
                .and_then(Value::as_u64)
                .ok_or_else(|| RpcError::invalid_params("expected a data length"))?;
            Ok(json!(chain.rent_exempt_minimum(len as usize).await?))
        }
        "getFeeForMessage" => {
            let bytes = BASE64_STANDARD
                .decode(str_param(params, 0)?)
                .map_err(|e| RpcError::invalid_params(format!("invalid base64 message: {e}")))?;
            let message: solana_message::VersionedMessage = bincode::deserialize(&bytes)
                .map_err(|e| RpcError::invalid_params(format!("invalid message: {e}")))?;
            let fee = match message {
                solana_message::VersionedMessage::Legacy(m) => chain.fee_for_message(m).await?,
                v0 => Some(5_000 * u64::from(v0.header().num_required_signatures)),
            };
            with_context(chain, commitment, json!(fee)).await
        }
        "getRecentPrioritizationFees" => {
            let slot = chain.slot(Commitment::Confirmed).await;
            Ok(json!([{"slot": slot, "prioritizationFee": 0}]))
        }
        "requestAirdrop" => {
            let to = pubkey_param(params, 0)?;
            let lamports = params
                .get(1)
                .and_then(Value::as_u64)
                .ok_or_else(|| RpcError::invalid_params("expected lamports"))?;
            let record = chain.airdrop(&to, lamports).await?;
            Ok(json!(record.signature().to_string()))
        }
        "sendTransaction" => send_transaction(chain, params, &config).await,
        "simulateTransaction" => simulate_transaction(chain, params, &config, commitment).await,
        "getSignatureStatuses" => {
            let signatures = params
                .first()
                .and_then(Value::as_array)
                .ok_or_else(|| RpcError::invalid_params("expected an array of signatures"))?;
            let mut values = Vec::with_capacity(signatures.len());
            for s in signatures {
                let signature = parse_signature(s.as_str().unwrap_or_default())?;
                values.push(chain.transaction(&signature).await.map(|(record, _, c)| {
                    let confirmations = (c != Commitment::Finalized).then_some(0);
                    json!({
                        "slot": record.slot,
                        "confirmations": confirmations,
                        "err": record.meta.err,
                        "status": match &record.meta.err { None => json!({"Ok": null}), Some(e) => json!({"Err": e}) },
                        "confirmationStatus": confirmation_status(c),
                    })
                }));
            }
            with_context(chain, Commitment::Processed, json!(values)).await
        }
        "getTransaction" => {
            let signature = parse_signature(str_param(params, 0)?)?;
            let encoding = tx_encoding(&config)?;
            match chain.transaction(&signature).await {
                Some((record, block_time, c)) if c >= commitment.max(Commitment::Confirmed) => {
                    Ok(json!(EncodedConfirmedTransactionWithStatusMeta {
                        slot: record.slot,
                        transaction: encode_transaction(&record, encoding),
                        block_time,
                    }))
                }
                _ => Ok(Value::Null),
            }
        }
        "getSignaturesForAddress" => {
            let address = pubkey_param(params, 0)?;
            let limit = config.get("limit").and_then(Value::as_u64).unwrap_or(1_000);
            if limit == 0 || limit > 1_000 {
                return Err(RpcError::invalid_params("Invalid limit; max 1000"));
            }
            let sig = |k: &str| {
                config
                    .get(k)
                    .and_then(Value::as_str)
                    .map(parse_signature)
                    .transpose()
            };
            let rows = chain
                .signatures_for_address(&address, sig("before")?, sig("until")?, limit as usize)
                .await;
            let rows: Vec<_> = rows
                .into_iter()
                .filter(|(_, _, c)| *c >= commitment.max(Commitment::Confirmed))
                .map(
                    |(r, block_time, c)| RpcConfirmedTransactionStatusWithSignature {
                        signature: r.signature().to_string(),
                        slot: r.slot,
                        err: r.meta.err.clone().map(Into::into),
                        memo: None,
                        block_time,
                        confirmation_status: Some(confirmation_status(c)),
                    },
                )
                .collect();
            Ok(json!(rows))
        }
        "getBlock" => {
            let slot = params
                .first()
                .and_then(Value::as_u64)
                .ok_or_else(|| RpcError::invalid_params("expected a slot"))?;
            let encoding = tx_encoding(&config)?;
            let details = config
                .get("transactionDetails")
                .and_then(Value::as_str)
                .unwrap_or("full");
            match chain.block(slot).await {
                Some((block, txs, c)) if c >= commitment.max(Commitment::Confirmed) => {
                    let (transactions, signatures) = match details {
                        "full" => (
                            Some(
                                txs.iter()
                                    .map(|r| encode_transaction(r, encoding))
                                    .collect(),
                            ),
                            None,
                        ),
                        "signatures" => (
                            None,
                            Some(txs.iter().map(|r| r.signature().to_string()).collect()),
                        ),
                        "none" => (None, None),
                        other => {
                            return Err(RpcError::invalid_params(format!(
                                "unsupported transactionDetails {other}"
                            )))
                        }
                    };
                    Ok(json!(UiConfirmedBlock {
                        previous_blockhash: block.previous_blockhash.to_string(),
                        blockhash: block.blockhash.to_string(),
                        parent_slot: block.parent_slot,
                        transactions,
                        signatures,
                        rewards: Some(vec![]),
                        num_reward_partitions: None,
                        block_time: Some(block.block_time),
                        block_height: Some(block.block_height),
                    }))
                }
                _ => Err(RpcError::new(
                    codes::JSON_RPC_SERVER_ERROR_BLOCK_NOT_AVAILABLE,
                    format!("Block not available for slot {slot}"),
                )),
            }
        }
        other => Err(RpcError::new(
            METHOD_NOT_FOUND,
            format!("Method not found: {other}"),
        )),
    }
}

async fn send_transaction(chain: &Chain, params: &[Value], config: &Value) -> RpcResult {
    let tx = decode_transaction(params, config)?;
    let skip_preflight = config
        .get("skipPreflight")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !skip_preflight {
        let sim = chain.simulate(tx.clone()).await?;
        if let Some(err) = sim.err {
            return Err(preflight_failure(err, sim.logs, sim.units_consumed));
        }
    }
    // Without preflight a cluster would take the transaction and drop it unseen (the client
    // waits for its blockhash to expire); here the bank says why at once, in the shape of a
    // preflight failure (`From<LocalnetError>`), the only -32002 clients know (solders cannot
    // read one without data).
    let record = chain.process(tx).await?;
    Ok(json!(record.signature().to_string()))
}

/// `-32002` with the simulation's result as `data`, as a node answers a refused transaction.
fn preflight_failure(
    err: solana_transaction_error::TransactionError,
    logs: Vec<String>,
    units_consumed: u64,
) -> RpcError {
    let mut e = RpcError::new(
        codes::JSON_RPC_SERVER_ERROR_SEND_TRANSACTION_PREFLIGHT_FAILURE,
        format!("Transaction simulation failed: {err}"),
    );
    e.data = Some(json!(RpcSimulateTransactionResult {
        err: Some(err.into()),
        logs: Some(logs),
        units_consumed: Some(units_consumed),
        ..empty_simulation()
    }));
    e
}

async fn simulate_transaction(
    chain: &Chain,
    params: &[Value],
    config: &Value,
    commitment: Commitment,
) -> RpcResult {
    let mut tx = decode_transaction(params, config)?;
    let replace = config
        .get("replaceRecentBlockhash")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut replacement = None;
    if replace {
        let (hash, last_valid_block_height) = chain.latest_blockhash().await;
        tx.message.set_recent_blockhash(hash);
        replacement = Some(RpcBlockhash {
            blockhash: hash.to_string(),
            last_valid_block_height,
        });
    }
    let sim = chain.simulate(tx).await?;
    let inner = config
        .get("innerInstructions")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let value = RpcSimulateTransactionResult {
        err: sim.err.map(Into::into),
        logs: Some(sim.logs),
        units_consumed: Some(sim.units_consumed),
        inner_instructions: inner.then(|| ui_inner_instructions(&sim.inner_instructions)),
        replacement_blockhash: replacement,
        ..empty_simulation()
    };
    with_context(chain, commitment, json!(value)).await
}

fn empty_simulation() -> RpcSimulateTransactionResult {
    RpcSimulateTransactionResult {
        err: None,
        logs: None,
        accounts: None,
        units_consumed: None,
        loaded_accounts_data_size: None,
        return_data: None,
        inner_instructions: None,
        replacement_blockhash: None,
        fee: None,
        pre_balances: None,
        post_balances: None,
        pre_token_balances: None,
        post_token_balances: None,
        loaded_addresses: None,
    }
}

fn decode_transaction(params: &[Value], config: &Value) -> Result<VersionedTransaction, RpcError> {
    let wire = str_param(params, 0)?;
    let encoding = config
        .get("encoding")
        .and_then(Value::as_str)
        .unwrap_or("base58");
    let bytes = match encoding {
        "base58" => bs58::decode(wire)
            .into_vec()
            .map_err(|e| RpcError::invalid_params(format!("invalid base58 encoding: {e}")))?,
        "base64" => BASE64_STANDARD
            .decode(wire)
            .map_err(|e| RpcError::invalid_params(format!("invalid base64 encoding: {e}")))?,
        other => {
            return Err(RpcError::invalid_params(format!(
                "unsupported encoding: {other}. Supported encodings: base58, base64"
            )))
        }
    };
    let tx: VersionedTransaction = bincode::deserialize(&bytes).map_err(|e| {
        RpcError::invalid_params(format!("failed to deserialize VersionedTransaction: {e}"))
    })?;
    if tx.verify_with_results().iter().any(|ok| !ok) {
        return Err(RpcError::new(
            codes::JSON_RPC_SERVER_ERROR_TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
            "Transaction signature verification failure",
        ));
    }
    Ok(tx)
}

async fn with_context(chain: &Chain, commitment: Commitment, value: Value) -> RpcResult {
    let slot = chain.slot(commitment).await;
    Ok(json!({"context": {"slot": slot, "apiVersion": SOLANA_CORE_VERSION}, "value": value}))
}

fn commitment(config: &Value) -> Result<Commitment, RpcError> {
    match config.get("commitment").and_then(Value::as_str) {
        None | Some("finalized") | Some("max") | Some("root") => Ok(Commitment::Finalized),
        Some("confirmed") | Some("single") | Some("singleGossip") => Ok(Commitment::Confirmed),
        Some("processed") | Some("recent") => Ok(Commitment::Processed),
        Some(other) => Err(RpcError::invalid_params(format!(
            "unknown commitment {other}"
        ))),
    }
}

fn account_encoding(config: &Value) -> Result<UiAccountEncoding, RpcError> {
    Ok(match config.get("encoding").and_then(Value::as_str) {
        None | Some("binary") => UiAccountEncoding::Binary,
        Some("base58") => UiAccountEncoding::Base58,
        Some("base64") => UiAccountEncoding::Base64,
        Some("base64+zstd") => UiAccountEncoding::Base64Zstd,
        Some("jsonParsed") => UiAccountEncoding::JsonParsed,
        Some(other) => {
            return Err(RpcError::invalid_params(format!(
                "unsupported encoding: {other}. Supported encodings: binary, base58, base64, base64+zstd, jsonParsed"
            )))
        }
    })
}

/// The account at `address`, if any, as `encoding` asks.
async fn account_at(
    chain: &Chain,
    address: &Pubkey,
    encoding: UiAccountEncoding,
) -> Result<Option<UiAccount>, RpcError> {
    match chain.account(address).await? {
        Some(account) => Ok(Some(ui_account(chain, address, &account, encoding).await?)),
        None => Ok(None),
    }
}

/// An account as `encoding` asks. For `jsonParsed` a token account's amounts need its mint's
/// decimals, read as a node reads them; accounts no parser knows come in base64, as a node
/// answers them.
async fn ui_account(
    chain: &Chain,
    address: &Pubkey,
    account: &solana_account::Account,
    encoding: UiAccountEncoding,
) -> Result<UiAccount, RpcError> {
    let mut additional = None;
    if encoding == UiAccountEncoding::JsonParsed {
        if let Some(parsed) = token::parse_token_account(account) {
            if let Some(decimals) = chain
                .account(&parsed.mint)
                .await?
                .and_then(|mint| token::mint_decimals(&mint))
            {
                additional = Some(AccountAdditionalDataV3 {
                    spl_token_additional_data: Some(SplTokenAdditionalDataV2::with_decimals(
                        decimals,
                    )),
                });
            }
        }
    }
    Ok(encode_ui_account(
        address, account, encoding, additional, None,
    ))
}

/// `getTokenAccountsByOwner` / `…ByDelegate`: the token accounts whose `role` (owner or
/// delegate) is `params[0]`, of one mint or of one token program.
async fn token_accounts_by(
    chain: &Chain,
    params: &[Value],
    role: impl Fn(&token::ParsedTokenAccount) -> Option<Pubkey>,
) -> RpcResult {
    let who = pubkey_param(params, 0)?;
    let filter = params.get(1).and_then(Value::as_object);
    let (mint, programs) = match (
        filter.and_then(|f| f.get("mint")).and_then(Value::as_str),
        filter.and_then(|f| f.get("programId")).and_then(Value::as_str),
    ) {
        (Some(mint), None) => {
            let mint = parse_pubkey(mint)?;
            // As a node answers a mint it does not have.
            let program = chain
                .account(&mint)
                .await?
                .filter(|a| token::mint_decimals(a).is_some())
                .map(|a| a.owner)
                .ok_or_else(|| RpcError::invalid_params("Invalid param: could not find mint"))?;
            (Some(mint), vec![program])
        }
        (None, Some(program)) => {
            let program = parse_pubkey(program)?;
            if !token::is_token_program(&program) {
                return Err(RpcError::invalid_params(format!(
                    "Invalid param: unrecognized Token program id {program}"
                )));
            }
            (None, vec![program])
        }
        _ => {
            return Err(RpcError::invalid_params(
                "Invalid params: expected {\"mint\": <address>} or {\"programId\": <address>} at params[1]",
            ))
        }
    };
    // Here the config is the third parameter (the second is the filter).
    let config = params.get(2).cloned().unwrap_or(Value::Null);
    let encoding = account_encoding(&config)?;
    let commitment = commitment(&config)?;
    let mut values = Vec::new();
    for program in programs {
        for (address, account) in chain.accounts_owned_by(&program).await? {
            let Some(parsed) = token::parse_token_account(&account) else {
                continue;
            };
            if role(&parsed) == Some(who) && mint.is_none_or(|m| m == parsed.mint) {
                values.push(json!({
                    "pubkey": address.to_string(),
                    "account": ui_account(chain, &address, &account, encoding).await?,
                }));
            }
        }
    }
    with_context(chain, commitment, json!(values)).await
}

/// How `getTransaction` / `getBlock` spell a transaction: binary, or `json` (the raw message
/// as JSON). `jsonParsed` would need every program's instruction parser: refused, not
/// answered in another encoding.
fn tx_encoding(config: &Value) -> Result<UiTransactionEncoding, RpcError> {
    match config.get("encoding").and_then(Value::as_str) {
        None | Some("json") => Ok(UiTransactionEncoding::Json),
        Some("base64") => Ok(UiTransactionEncoding::Base64),
        Some("base58") => Ok(UiTransactionEncoding::Base58),
        Some(other) => Err(RpcError::invalid_params(format!(
            "unsupported encoding: {other}. Supported encodings: json, base58, base64"
        ))),
    }
}

fn str_param(params: &[Value], i: usize) -> Result<&str, RpcError> {
    params
        .get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params(format!("expected a string at params[{i}]")))
}

fn parse_pubkey(s: &str) -> Result<Pubkey, RpcError> {
    Pubkey::from_str(s).map_err(|_| {
        RpcError::invalid_params(format!("Invalid param: {s:?} is not a valid address"))
    })
}

fn pubkey_param(params: &[Value], i: usize) -> Result<Pubkey, RpcError> {
    parse_pubkey(str_param(params, i)?)
}

fn parse_signature(s: &str) -> Result<Signature, RpcError> {
    Signature::from_str(s).map_err(|_| {
        RpcError::invalid_params(format!("Invalid param: {s:?} is not a valid signature"))
    })
}

fn confirmation_status(c: Commitment) -> TransactionConfirmationStatus {
    match c {
        Commitment::Processed => TransactionConfirmationStatus::Processed,
        Commitment::Confirmed => TransactionConfirmationStatus::Confirmed,
        Commitment::Finalized => TransactionConfirmationStatus::Finalized,
    }
}

fn ui_token_amount(amount: u64, decimals: u8) -> UiTokenAmount {
    UiTokenAmount {
        ui_amount: Some(amount as f64 / 10f64.powi(i32::from(decimals))),
        decimals,
        amount: amount.to_string(),
        ui_amount_string: token::ui_amount_string(amount, decimals),
    }
}

fn ui_token_balances(balances: &[TokenBalance]) -> Vec<UiTransactionTokenBalance> {
    balances
        .iter()
        .map(|b| UiTransactionTokenBalance {
            account_index: b.account_index,
            mint: b.mint.to_string(),
            ui_token_amount: ui_token_amount(b.amount, b.decimals),
            owner: Some(b.owner.to_string()).into(),
            program_id: Some(b.program_id.to_string()).into(),
        })
        .collect()
}

fn ui_inner_instructions(
    inner: &[solana_message::inner_instruction::InnerInstructions],
) -> Vec<UiInnerInstructions> {
    inner
        .iter()
        .enumerate()
        .filter(|(_, list)| !list.is_empty())
        .map(|(index, list)| UiInnerInstructions {
            index: index as u8,
            instructions: list
                .iter()
                .map(|i| {
                    UiInstruction::Compiled(UiCompiledInstruction::from(
                        &i.instruction,
                        Some(u32::from(i.stack_height)),
                    ))
                })
                .collect(),
        })
        .collect()
}

fn encode_transaction(
    record: &TxRecord,
    encoding: UiTransactionEncoding,
) -> EncodedTransactionWithStatusMeta {
    let transaction = match encoding.into_binary_encoding() {
        Some(binary) => {
            let bytes = bincode::serialize(&record.transaction)
                .expect("a processed transaction serializes");
            let blob = match binary {
                TransactionBinaryEncoding::Base58 => bs58::encode(bytes).into_string(),
                TransactionBinaryEncoding::Base64 => BASE64_STANDARD.encode(bytes),
            };
            EncodedTransaction::Binary(blob, binary)
        }
        None => EncodedTransaction::Json(json_transaction(&record.transaction)),
    };
    let m = &record.meta;
    let meta = UiTransactionStatusMeta {
        err: m.err.clone().map(Into::into),
        status: match &m.err {
            None => Ok(()),
            Some(e) => Err(e.clone().into()),
        },
        fee: m.fee,
        pre_balances: m.pre_balances.clone(),
        post_balances: m.post_balances.clone(),
        inner_instructions: Some(ui_inner_instructions(&m.inner_instructions)).into(),
        log_messages: Some(m.logs.clone()).into(),
        pre_token_balances: Some(ui_token_balances(&m.pre_token_balances)).into(),
        post_token_balances: Some(ui_token_balances(&m.post_token_balances)).into(),
        rewards: Some(vec![]).into(),
        loaded_addresses:
            solana_transaction_status_client_types::option_serializer::OptionSerializer::Skip,
        return_data:
            solana_transaction_status_client_types::option_serializer::OptionSerializer::Skip,
        compute_units_consumed: Some(m.compute_units).into(),
        cost_units:
            solana_transaction_status_client_types::option_serializer::OptionSerializer::Skip,
    };
    EncodedTransactionWithStatusMeta {
        transaction,
        meta: Some(meta),
        version: Some(match record.transaction.version() {
            solana_transaction::versioned::TransactionVersion::Legacy(_) => {
                solana_transaction::versioned::TransactionVersion::LEGACY
            }
            v => v,
        }),
    }
}

/// The `json` encoding: the message as it was compiled, keys and data spelled out.
fn json_transaction(tx: &VersionedTransaction) -> UiTransaction {
    let message = &tx.message;
    UiTransaction {
        signatures: tx.signatures.iter().map(ToString::to_string).collect(),
        message: UiMessage::Raw(UiRawMessage {
            header: *message.header(),
            account_keys: message
                .static_account_keys()
                .iter()
                .map(ToString::to_string)
                .collect(),
            recent_blockhash: message.recent_blockhash().to_string(),
            instructions: message
                .instructions()
                .iter()
                .map(|i| UiCompiledInstruction::from(i, None))
                .collect(),
            address_table_lookups: message
                .address_table_lookups()
                .map(|lookups| lookups.iter().map(Into::into).collect()),
        }),
    }
}
