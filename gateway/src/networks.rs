//! Which chain each advertised network id really names. x402 clients accept only the public
//! networks' ids (the Python client knows Solana's mainnet, devnet and testnet, no other), so
//! a local chain is advertised under a public id: localnet's Solana under devnet's, its anvil
//! under Base Sepolia's chain id. `GET /v1/models` says what the node behind each id is, so
//! no one signs a payment believing it goes to the public network.

use std::time::Duration;

use alloy::providers::{Provider, ProviderBuilder};
use serde::Serialize;
use solana_client::nonblocking::rpc_client::RpcClient;

use crate::config::{BasePayments, SolanaPayments};

/// What the node behind an advertised network id is, read once at start.
#[derive(Clone, Debug, Serialize)]
pub struct Network {
    /// The CAIP-2 id payments are made under.
    pub network: String,
    /// What the node says it is: Solana's genesis hash, or Base's chain id.
    pub node: Option<String>,
    /// Whether the node is the chain the id names (`None`: not known).
    pub is_the_named_chain: Option<bool>,
    pub note: String,
}

/// How long start-up waits for a node to say what it is.
const ASK: Duration = Duration::from_secs(5);

/// CAIP-2 references of the public Solana clusters: the first 32 characters of their genesis
/// hashes.
const SOLANA_CLUSTERS: [(&str, &str); 3] = [
    ("5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "mainnet-beta"),
    ("EtWTRABZaYq6iMfeYKouRu166VU2xqa1", "devnet"),
    ("4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z", "testnet"),
];

impl Network {
    /// Logged at start when the node is not the chain its id names, for operators.
    pub fn warn_if_not_the_named_chain(&self) {
        if self.is_the_named_chain == Some(false) {
            tracing::warn!(network = %self.network, node = ?self.node, "{}", self.note);
        }
    }
}

pub async fn solana(config: &SolanaPayments) -> Network {
    let reference = config
        .network
        .strip_prefix("solana:")
        .unwrap_or(&config.network);
    let named = SOLANA_CLUSTERS
        .iter()
        .find(|(r, _)| *r == reference)
        .map_or("an unknown Solana cluster", |(_, name)| name);
    let genesis = RpcClient::new_with_timeout(config.rpc_url.clone(), ASK)
        .get_genesis_hash()
        .await
        .map(|h| h.to_string());
    match genesis {
        Ok(genesis) if genesis.starts_with(reference) => Network {
            network: config.network.clone(),
            node: Some(genesis.clone()),
            is_the_named_chain: Some(true),
            note: format!("Solana {named} (genesis hash {genesis})"),
        },
        Ok(genesis) => Network {
            network: config.network.clone(),
            node: Some(genesis.clone()),
            is_the_named_chain: Some(false),
            note: format!(
                "not Solana {named}: a chain of its own (genesis hash {genesis}), advertised under \
                 {named}'s id because x402 clients accept only the public clusters' ids; a payment \
                 signed for it only lands on it (its blockhashes exist nowhere else)"
            ),
        },
        Err(e) => unknown(&config.network, &x402::redact(&e.to_string())),
    }
}

pub async fn base(config: &BasePayments) -> Network {
    let named = config
        .network
        .strip_prefix("eip155:")
        .and_then(|id| id.parse::<u64>().ok());
    let provider = match config.rpc_url.parse() {
        Ok(url) => ProviderBuilder::new().connect_http(url),
        Err(e) => return unknown(&config.network, &e.to_string()),
    };
    let id = match tokio::time::timeout(ASK, provider.get_chain_id()).await {
        Ok(Ok(id)) => id,
        Ok(Err(e)) => return unknown(&config.network, &x402::redact(&e.to_string())),
        Err(_) => return unknown(&config.network, "no answer in 5 s"),
    };
    // Which client it is only tells a development node apart; not knowing is no failure.
    let client = match tokio::time::timeout(ASK, provider.get_client_version()).await {
        Ok(Ok(client)) => client,
        _ => "client unknown".to_string(),
    };
    // A development node runs under whatever chain id it is given.
    let dev_node = ["anvil", "hardhat", "ganache"]
        .iter()
        .any(|dev| client.to_lowercase().starts_with(dev));
    let domain = format!(
        "the USDC contract {} is in the signed EIP-712 domain, so a payment signed for it is \
         valid on no other contract",
        config.usdc
    );
    Network {
        network: config.network.clone(),
        node: Some(format!("eip155:{id} ({client})")),
        is_the_named_chain: Some(named == Some(id) && !dev_node),
        note: if dev_node {
            format!(
                "not the public chain: a local {client} node under chain id {id}, advertised \
                 under that id because x402 clients accept only the public networks' ids; {domain}"
            )
        } else {
            format!("chain id {id}; {domain}")
        },
    }
}

fn unknown(network: &str, why: &str) -> Network {
    Network {
        network: network.to_string(),
        node: None,
        is_the_named_chain: None,
        note: format!("the node could not be asked at start ({why})"),
    }
}
