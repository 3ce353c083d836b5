//! Where a model's USDC goes on Solana: the revenue vault of the model once its on-chain
//! `Model` account says tokenized by the creator the catalog expects, the treasury otherwise
//! (before tokenization, or when someone else registered the slug: anyone can register any
//! slug on chain, so the catalog, not the chain, says whose model it is). Read through RPC
//! and cached briefly; [`PayTo::forget`] drops an entry when the model is known to have
//! changed.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use anchor_lang::AccountDeserialize;
use model_vault_client::{config_pda, Protocol, PROGRAM_ID};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;

use crate::GatewayError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The `payTo` owner: the vault PDA or the treasury.
    pub owner: Pubkey,
    /// Paid into the model's vault (tokenized by the expected creator).
    pub tokenized: bool,
    /// The model is tokenized on chain by a creator the catalog does not name: its
    /// revenue is held by the treasury.
    pub unexpected_creator: Option<Pubkey>,
}

pub struct PayTo {
    rpc: RpcClient,
    protocol: Protocol,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Destination)>>,
}

impl PayTo {
    pub fn new(rpc_url: &str, protocol: Protocol, ttl: Duration) -> Self {
        PayTo {
            rpc: RpcClient::new_with_commitment(rpc_url.to_string(), CommitmentConfig::confirmed()),
            protocol,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Where `slug`'s payments go, given the creator the catalog expects for it.
    pub async fn solana(
        &self,
        slug: &str,
        creator: Option<Pubkey>,
    ) -> Result<Destination, GatewayError> {
        if let Some((at, destination)) = self.cache.lock().expect("not poisoned").get(slug) {
            if at.elapsed() < self.ttl {
                return Ok(*destination);
            }
        }
        let keys = self.protocol.model(slug);
        let account = self
            .rpc
            .get_account_with_commitment(&keys.model, CommitmentConfig::confirmed())
            .await
            .map_err(|e| GatewayError::Chain(format!("reading model {slug} on Solana: {e}")))?
            .value;
        let on_chain_creator = account
            .filter(|a| a.owner == PROGRAM_ID)
            .and_then(|a| model_vault::Model::try_deserialize(&mut a.data.as_slice()).ok())
            .filter(|m| m.is_tokenized())
            .map(|m| m.creator);
        let tokenized = on_chain_creator.is_some() && on_chain_creator == creator;
        if let (Some(found), false) = (on_chain_creator, tokenized) {
            tracing::warn!(slug, creator = %found, "model tokenized by a creator the catalog does not name; paying the treasury");
        }
        let destination = Destination {
            owner: if tokenized {
                keys.vault_authority
            } else {
                self.protocol.treasury
            },
            tokenized,
            unexpected_creator: on_chain_creator.filter(|_| !tokenized),
        };
        self.cache
            .lock()
            .expect("not poisoned")
            .insert(slug.to_string(), (Instant::now(), destination));
        Ok(destination)
    }

    /// Refuses a program whose on-chain `Config` names another USDC mint or treasury than
    /// ours: payments into vaults would sit where no instruction can move them.
    pub async fn check_config(&self) -> Result<(), GatewayError> {
        let account = self
            .rpc
            .get_account_with_commitment(&config_pda(), CommitmentConfig::confirmed())
            .await
            .map_err(|e| {
                GatewayError::Config(format!(
                    "reading the model-vault Config on Solana: {}",
                    x402::redact(&e.to_string())
                ))
            })?
            .value
            .filter(|a| a.owner == PROGRAM_ID)
            .ok_or_else(|| {
                GatewayError::Config(
                    "the model-vault program has no Config on this cluster: initialize it first"
                        .into(),
                )
            })?;
        let config = model_vault::Config::try_deserialize(&mut account.data.as_slice())
            .map_err(|e| GatewayError::Config(format!("the on-chain Config does not read: {e}")))?;
        for (what, ours, theirs) in [
            ("usdc_mint", self.protocol.usdc_mint, config.usdc_mint),
            ("treasury", self.protocol.treasury, config.treasury),
        ] {
            if ours != theirs {
                return Err(GatewayError::Config(format!(
                    "[solana] {what} is {ours} but the program's Config says {theirs}: fix the configuration"
                )));
            }
        }
        Ok(())
    }

    pub fn treasury(&self) -> Pubkey {
        self.protocol.treasury
    }

    /// The owner of `slug`'s revenue vault (its payTo once tokenized).
    pub fn vault_of(&self, slug: &str) -> Pubkey {
        self.protocol.model(slug).vault_authority
    }

    /// Forgets what is cached for `slug` (it was tokenized, say).
    pub fn forget(&self, slug: &str) {
        self.cache.lock().expect("not poisoned").remove(slug);
    }
}
