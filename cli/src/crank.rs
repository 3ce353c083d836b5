//! `paywire crank`: runs `buyback_and_burn` for every tokenized model (or the ones named)
//! whose guards allow it, and says why for the others. The program enforces the guards; the
//! crank only reports what it refused, by name from the committed IDL.

use std::{path::PathBuf, str::FromStr, time::Duration};

use anchor_lang::AccountDeserialize;
use anyhow::Context;
use model_vault_client::{config_pda, Protocol, PROGRAM_ID};
use serde_json::Value;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;
use solana_signer::Signer;

pub struct CrankConfig {
    pub rpc_url: String,
    pub keypair: PathBuf,
    pub models: Vec<String>,
    pub database_url: Option<String>,
    /// Seconds between rounds; `None` runs one round.
    pub every: Option<u64>,
}

const IDL: &str = include_str!("../../idls/model_vault.json");

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

pub async fn run(config: CrankConfig) -> anyhow::Result<()> {
    let rpc = RpcClient::new_with_commitment(config.rpc_url.clone(), CommitmentConfig::confirmed());
    let payer = localnet::read_keypair(&config.keypair)?;
    let protocol = protocol(&rpc).await?;
    loop {
        let slugs = match &config.database_url {
            _ if !config.models.is_empty() => config.models.clone(),
            Some(url) => tokenized_slugs(&rpc, &ledger::Ledger::connect(url).await?).await?,
            None => Vec::new(),
        };
        if slugs.is_empty() {
            eprintln!("no tokenized model to crank (name them with --model, or pass --database-url to find them)");
        }
        for slug in &slugs {
            let keys = protocol.model(slug);
            let tx = solana_transaction::Transaction::new_signed_with_payer(
                &[protocol.buyback_and_burn(&keys)],
                Some(&payer.pubkey()),
                &[&payer],
                rpc.get_latest_blockhash().await?,
            );
            match rpc.send_and_confirm_transaction(&tx).await {
                Ok(signature) => println!("{slug}: bought back and burned ({signature})"),
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

/// The protocol's USDC and treasury, from the program's `Config` account.
pub async fn protocol(rpc: &RpcClient) -> anyhow::Result<Protocol> {
    let account = rpc.get_account(&config_pda()).await.with_context(|| {
        format!(
            "reading the model-vault config at {} (is the program deployed?)",
            rpc.url()
        )
    })?;
    let config = model_vault::Config::try_deserialize(&mut account.data.as_slice())
        .context("decoding the model-vault config")?;
    Ok(Protocol::new(config.usdc_mint, config.treasury))
}

/// The slug of every model the ledger saw tokenized, read from its on-chain `Model`.
pub async fn tokenized_slugs(
    rpc: &RpcClient,
    ledger: &ledger::Ledger,
) -> anyhow::Result<Vec<String>> {
    let mut slugs = Vec::new();
    for address in ledger.tokenized_models().await? {
        let Ok(address) = Pubkey::from_str(&address) else {
            continue;
        };
        let Ok(account) = rpc.get_account(&address).await else {
            continue;
        };
        if account.owner != PROGRAM_ID {
            continue;
        }
        if let Ok(model) = model_vault::Model::try_deserialize(&mut account.data.as_slice()) {
            slugs.push(model.slug);
        }
    }
    Ok(slugs)
}
