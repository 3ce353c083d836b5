//! Each tokenized model's vault and token as the ledger explains them, against the chain:
//! revenue in (payments, held revenue released) = vault balance + what left, by cause
//! (buybacks, their protocol fee, creator claims, anything else), and minted − burned = supply. Used by `paywire audit` and the
//! ledger API's `/ledger/models`.

use std::{
    str::FromStr,
    time::{Duration, Instant},
};

use anchor_lang::AccountDeserialize;
use ledger::{AccountFlows, Ledger};
use model_vault_client::{config_pda, Protocol, PROGRAM_ID};
use serde_json::json;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_pubkey::Pubkey;

use crate::{config::SOLANA_CURSOR, IndexerError};

/// One tokenized model, as the ledger explains it and as the chain holds it.
#[derive(Debug)]
pub struct ModelCheck {
    pub slug: String,
    pub vault: String,
    pub flows: AccountFlows,
    pub chain_balance: u64,
    pub minted: u128,
    pub burned: u128,
    pub chain_supply: u64,
}

impl ModelCheck {
    pub fn balance_adds_up(&self) -> bool {
        self.flows.balance() == self.chain_balance as i128
    }

    pub fn supply_adds_up(&self) -> bool {
        self.minted as i128 - self.burned as i128 == self.chain_supply as i128
    }

    /// The check as JSON, amounts as decimal strings (they can exceed a double's precision).
    pub fn json(&self) -> serde_json::Value {
        json!({
            "model": self.slug, "vault": self.vault,
            "revenue_in": self.flows.inflow_total().to_string(),
            "inflows": by_cause(&self.flows.inflow),
            "outflows": by_cause(&self.flows.outflow),
            "ledger_balance": self.flows.balance().to_string(), "chain_balance": self.chain_balance.to_string(),
            "balance_adds_up": self.balance_adds_up(),
            "minted": self.minted.to_string(), "burned": self.burned.to_string(), "chain_supply": self.chain_supply.to_string(),
            "supply_adds_up": self.supply_adds_up(),
        })
    }
}

/// `{cause: "amount"}`.
fn by_cause(flows: &[(String, u128)]) -> serde_json::Value {
    flows
        .iter()
        .map(|(k, a)| (k.clone(), json!(a.to_string())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn rpc_error(rpc: &RpcClient, what: &str, e: impl std::fmt::Display) -> IndexerError {
    IndexerError::Source(format!("{what} at {}: {e}", rpc.url()))
}

/// The protocol's USDC and treasury, from the program's `Config` account.
pub async fn protocol(rpc: &RpcClient) -> Result<Protocol, IndexerError> {
    let account = rpc.get_account(&config_pda()).await.map_err(|e| {
        rpc_error(
            rpc,
            "reading the model-vault config (is the program deployed?)",
            e,
        )
    })?;
    let config = model_vault::Config::try_deserialize(&mut account.data.as_slice())
        .map_err(|e| rpc_error(rpc, "decoding the model-vault config", e))?;
    Ok(Protocol::new(config.usdc_mint, config.treasury))
}

/// The slug of every model the ledger saw tokenized, read from its on-chain `Model`.
pub async fn tokenized_slugs(
    rpc: &RpcClient,
    ledger: &Ledger,
) -> Result<Vec<String>, IndexerError> {
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

/// How long a check that does not add up is read again while the ledger catches up.
const CATCH_UP: Duration = Duration::from_secs(20);

/// Checks every tokenized model the ledger knows (or only `only`) against the chain at `rpc`.
///
/// The indexer follows the chain a slot or two behind, so a vault read right after a payment
/// would not add up for no fault of anyone. A check that does not add up is read again until
/// the ledger's Solana cursor (`solana`) has reached the slot the chain answered at, twice in a
/// row with the chain's figures unchanged between the reads; only then, or after 20 s, is it
/// reported.
pub async fn check_models(
    ledger: &Ledger,
    rpc: &RpcClient,
    only: Option<&str>,
) -> Result<Vec<ModelCheck>, IndexerError> {
    let protocol = protocol(rpc).await?;
    let mut checks = Vec::new();
    for slug in tokenized_slugs(rpc, ledger).await? {
        if only.is_some_and(|m| m != slug) {
            continue;
        }
        let deadline = Instant::now() + CATCH_UP;
        let mut settled_figures = None;
        let check = loop {
            let (check, slot) = check_model(ledger, rpc, &protocol, &slug).await?;
            let figures = (check.chain_balance, check.chain_supply);
            let caught_up = ledger
                .cursor(SOLANA_CURSOR)
                .await?
                .is_some_and(|c| c >= slot);
            let adds_up = check.balance_adds_up() && check.supply_adds_up();
            if adds_up
                || Instant::now() >= deadline
                || (caught_up && settled_figures == Some(figures))
            {
                break check;
            }
            settled_figures = caught_up.then_some(figures);
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        checks.push(check);
    }
    Ok(checks)
}

/// One read of `slug`'s vault and supply, and the newest slot the chain answered at.
async fn check_model(
    ledger: &Ledger,
    rpc: &RpcClient,
    protocol: &Protocol,
    slug: &str,
) -> Result<(ModelCheck, u64), IndexerError> {
    let keys = protocol.model(slug);
    let balance = rpc
        .get_token_account_balance_with_commitment(&keys.vault, rpc.commitment())
        .await
        .map_err(|e| rpc_error(rpc, "reading the vault balance", e))?;
    let supply = rpc
        .get_token_supply_with_commitment(&keys.mint, rpc.commitment())
        .await
        .map_err(|e| rpc_error(rpc, "reading the token supply", e))?;
    let amount = |text: &str, what| text.parse::<u64>().map_err(|e| rpc_error(rpc, what, e));
    let (minted, burned) = ledger.mint_totals(&keys.mint.to_string()).await?;
    let check = ModelCheck {
        flows: ledger
            .account_flows(&keys.vault.to_string(), &protocol.treasury.to_string())
            .await?,
        vault: keys.vault.to_string(),
        slug: slug.to_string(),
        chain_balance: amount(&balance.value.amount, "reading the vault balance")?,
        minted,
        burned,
        chain_supply: amount(&supply.value.amount, "reading the token supply")?,
    };
    Ok((check, balance.context.slot.max(supply.context.slot)))
}
