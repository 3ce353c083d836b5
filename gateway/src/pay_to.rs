//! Where a model's USDC goes on Solana: the revenue vault of the model once its on-chain
//! `Model` account says tokenized, the treasury before. Read through RPC and cached briefly;
//! [`PayTo::forget`] drops an entry when the model is known to have changed.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use anchor_lang::AccountDeserialize;
use model_vault_client::{Protocol, PROGRAM_ID};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;

use crate::GatewayError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The `payTo` owner: the vault PDA or the treasury.
    pub owner: Pubkey,
    pub tokenized: bool,
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

    pub async fn solana(&self, slug: &str) -> Result<Destination, GatewayError> {
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
        let tokenized = account.is_some_and(|a| {
            a.owner == PROGRAM_ID
                && model_vault::Model::try_deserialize(&mut a.data.as_slice())
                    .is_ok_and(|m| m.is_tokenized())
        });
        let destination = Destination {
            owner: if tokenized {
                keys.vault_authority
            } else {
                self.protocol.treasury
            },
            tokenized,
        };
        self.cache
            .lock()
            .expect("not poisoned")
            .insert(slug.to_string(), (Instant::now(), destination));
        Ok(destination)
    }

    /// Forgets what is cached for `slug` (it was tokenized, say).
    pub fn forget(&self, slug: &str) {
        self.cache.lock().expect("not poisoned").remove(slug);
    }
}
