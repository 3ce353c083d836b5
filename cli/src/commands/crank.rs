//! `paywire crank`: the keeper. Releases the revenue the ledger computes owed to each model's
//! vault (with the treasury's key; see `release`), then runs `buyback_and_burn` for every
//! tokenized model (or the ones named) whose guards allow it, and says why for the others. The
//! program enforces the guards; the crank only reports what it refused, by name from the
//! committed IDL.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use serde_json::Value;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_signer::Signer;

use crate::{release::Keeper, settings::Settings};

/// Release owed revenue to models' vaults, then buy back and burn.
///
/// With the treasury's keypair and the ledger, each model is first paid what the ledger
/// computes it is owed (calls served from balances, paid on Base or before it was tokenized,
/// less per-call surpluses its vault received), once, whoever else runs a crank. Then the
/// program decides (cooldown, price deviation from the reference price, price-impact
/// cap, nothing to buy back); the crank reports each refusal by name. Models come from
/// --model, or else every model tokenized on chain (the program's accounts).
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct CrankArgs {
    /// Solana JSON-RPC [default: the config file's rpc_url, else http://127.0.0.1:8899]
    #[arg(long, short = 'u', visible_alias = "url", env = "PAYWIRE_SOLANA_RPC")]
    rpc_url: Option<String>,
    /// Pays the transaction fees (a Solana CLI keypair file); the crank needs no other
    /// authority [default: the config file's keypair]
    #[arg(long, env = "PAYWIRE_KEYPAIR")]
    keypair: Option<PathBuf>,
    /// A model slug to crank (repeatable)
    #[arg(long = "model")]
    models: Vec<String>,
    /// The ledger, to release what it computes owed [default: the config file's database_url]
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// A priority fee, in microlamports per compute unit (the unit limit is always set)
    #[arg(long, env = "PAYWIRE_PRIORITY_FEE")]
    priority_fee: Option<u64>,
    /// The treasury's keypair: releases owed revenue to vaults (without it, only buybacks)
    #[arg(long, env = "PAYWIRE_TREASURY_KEYPAIR")]
    treasury_keypair: Option<PathBuf>,
    /// Release a model's owed revenue once it reaches this many USDC
    #[arg(long, default_value = "0.01", value_parser = ledger::parse_usdc)]
    min_release: u64,
    /// Keep cranking, a round every this many seconds
    #[arg(long)]
    every: Option<u64>,
}

pub async fn run(args: CrankArgs, settings: &Settings) -> anyhow::Result<()> {
    crank(CrankConfig {
        rpc_url: settings.rpc_url(args.rpc_url),
        keypair: settings.required_keypair(args.keypair)?,
        models: args.models,
        database_url: settings.database_url(args.database_url),
        every: args.every,
        priority_fee: args.priority_fee,
        treasury_keypair: args.treasury_keypair,
        min_release: args.min_release,
    })
    .await
}

/// What `crank` runs with, the config file's defaults applied.
struct CrankConfig {
    pub rpc_url: String,
    pub keypair: PathBuf,
    pub models: Vec<String>,
    pub database_url: Option<String>,
    /// Seconds between rounds; `None` runs one round.
    pub every: Option<u64>,
    /// Microlamports per compute unit.
    pub priority_fee: Option<u64>,
    pub treasury_keypair: Option<PathBuf>,
    /// Base units.
    pub min_release: u64,
}

const IDL: &str = include_str!("../../../idls/model_vault.json");

/// The model-vault error named by a custom program error code.
fn error_name(code: u32) -> Option<String> {
    let idl: Value = serde_json::from_str(IDL).ok()?;
    idl["errors"]
        .as_array()?
        .iter()
        .find(|e| e["code"].as_u64() == Some(code as u64))
        .and_then(|e| Some(format!("{}: {}", e["name"].as_str()?, e["msg"].as_str()?)))
}

/// The model-vault error a failed transaction carries, by name and message.
pub fn program_error(e: &solana_client::client_error::ClientError) -> Option<String> {
    match e.get_transaction_error()? {
        solana_transaction_error::TransactionError::InstructionError(
            _,
            solana_instruction::error::InstructionError::Custom(code),
        ) => error_name(code),
        _ => None,
    }
}

/// The model's running totals, as the chain has them now.
async fn totals(
    rpc: &RpcClient,
    model: &solana_pubkey::Pubkey,
) -> Option<model_vault::ModelTotals> {
    let account = rpc.get_account(model).await.ok()?;
    let model: model_vault::Model =
        anchor_lang::AccountDeserialize::try_deserialize(&mut account.data.as_slice()).ok()?;
    Some(model.totals)
}

async fn crank(config: CrankConfig) -> anyhow::Result<()> {
    let rpc = RpcClient::new_with_commitment(config.rpc_url.clone(), CommitmentConfig::confirmed());
    let payer = localnet::read_keypair(&config.keypair)?;
    let treasury = config
        .treasury_keypair
        .as_deref()
        .map(localnet::read_keypair)
        .transpose()?;
    let protocol = audit::vaults::protocol(&rpc).await?;
    if let Some(treasury) = &treasury {
        anyhow::ensure!(
            treasury.pubkey() == protocol.treasury,
            "--treasury-keypair is {} but the program's treasury is {}",
            treasury.pubkey(),
            protocol.treasury
        );
    }
    let ledger = match &config.database_url {
        Some(url) => Some(ledger::Ledger::connect(url).await?),
        None => None,
    };
    if treasury.is_some() && ledger.is_none() {
        anyhow::bail!("releasing owed revenue needs the ledger: pass --database-url");
    }
    loop {
        if let (Some(treasury), Some(ledger)) = (&treasury, &ledger) {
            let keeper = Keeper {
                rpc: &rpc,
                ledger,
                protocol: &protocol,
                treasury,
                fee_payer: &payer,
                priority_fee: config.priority_fee,
                minimum: config.min_release,
            };
            for line in release_round(&keeper, &config.models).await? {
                println!("{line}");
            }
        }
        let slugs = match config.models.is_empty() {
            false => config.models.clone(),
            true => audit::vaults::tokenized_slugs(&rpc).await?,
        };
        if slugs.is_empty() {
            eprintln!("no tokenized model to crank");
        }
        for slug in &slugs {
            buy_back(&rpc, &protocol, &payer, config.priority_fee, slug).await?;
        }
        match config.every {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs.max(1))).await,
            None => return Ok(()),
        }
    }
}

/// Releases what is owed to every model the catalog sells for a creator (or the ones named),
/// and says what it did for each, a line each.
pub async fn release_round(keeper: &Keeper<'_>, only: &[String]) -> anyhow::Result<Vec<String>> {
    keeper.settle_in_flight().await?;
    let mut lines = Vec::new();
    for totals in keeper.ledger.revenue_totals(None).await? {
        if !only.is_empty() && !only.contains(&totals.model) {
            continue;
        }
        lines.extend(
            keeper
                .release(&totals)
                .await?
                .said(&totals.model, keeper.minimum),
        );
    }
    Ok(lines)
}

/// One `buyback_and_burn` of `slug`, and what it did.
async fn buy_back(
    rpc: &RpcClient,
    protocol: &model_vault_client::Protocol,
    payer: &solana_keypair::Keypair,
    priority_fee: Option<u64>,
    slug: &str,
) -> anyhow::Result<()> {
    let keys = protocol.model(slug);
    let tx = solana_transaction::Transaction::new_signed_with_payer(
        &model_vault_client::with_compute_budget(&[protocol.buyback_and_burn(&keys)], priority_fee),
        Some(&payer.pubkey()),
        &[payer],
        rpc.get_latest_blockhash().await?,
    );
    let before = totals(rpc, &keys.model).await;
    match rpc.send_and_confirm_transaction(&tx).await {
        Ok(signature) => match (before, totals(rpc, &keys.model).await) {
            (Some(before), Some(after)) if after.tokens_burned > before.tokens_burned => {
                println!(
                    "{slug}: bought back and burned: {} USDC for {} token units ({signature})",
                    ledger::format_usdc(after.buyback_spent - before.buyback_spent),
                    after.tokens_burned - before.tokens_burned
                )
            }
            _ => println!("{slug}: split new revenue, bought nothing this round (the price guards allow no spend now, or it buys no whole token unit) ({signature})"),
        },
        Err(e) => match program_error(&e) {
            Some(reason) => println!("{slug}: skipped — {reason}"),
            None => println!("{slug}: failed — {e}"),
        },
    }
    Ok(())
}
