//! `paywire crank`: runs `buyback_and_burn` for every tokenized model (or the ones named)
//! whose guards allow it, and says why for the others. The program enforces the guards; the
//! crank only reports what it refused, by name from the committed IDL.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use serde_json::Value;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_signer::Signer;

use crate::settings::Settings;

/// Run buyback_and_burn for every tokenized model whose guards allow it.
///
/// The program decides (cooldown, price deviation from the reference price, price-impact
/// cap, nothing to buy back); the crank reports each refusal by name. Models come from
/// --model, or from the ledger (--database-url) where the indexer recorded tokenizations.
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
    /// The ledger, to find every tokenized model [default: the config file's database_url]
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// A priority fee, in microlamports per compute unit (the unit limit is always set)
    #[arg(long, env = "PAYWIRE_PRIORITY_FEE")]
    priority_fee: Option<u64>,
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
    let protocol = audit::vaults::protocol(&rpc).await?;
    loop {
        let slugs = match &config.database_url {
            _ if !config.models.is_empty() => config.models.clone(),
            Some(url) => {
                let ledger = ledger::Ledger::connect(url).await?;
                audit::vaults::tokenized_slugs(&rpc, &ledger).await?
            }
            None => Vec::new(),
        };
        if slugs.is_empty() {
            eprintln!("no tokenized model to crank (name them with --model, or pass --database-url to find them)");
        }
        for slug in &slugs {
            let keys = protocol.model(slug);
            let tx = solana_transaction::Transaction::new_signed_with_payer(
                &model_vault_client::with_compute_budget(
                    &[protocol.buyback_and_burn(&keys)],
                    config.priority_fee,
                ),
                Some(&payer.pubkey()),
                &[&payer],
                rpc.get_latest_blockhash().await?,
            );
            let before = totals(&rpc, &keys.model).await;
            match rpc.send_and_confirm_transaction(&tx).await {
                Ok(signature) => match (before, totals(&rpc, &keys.model).await) {
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
        }
        match config.every {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs.max(1))).await,
            None => return Ok(()),
        }
    }
}
