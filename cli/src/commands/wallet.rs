//! The agent's wallet as the balance commands use it: which chain, its key, the gateway, and
//! signing in with sign-in-with-x to the challenge a gateway's 402 carries.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use reqwest::{RequestBuilder, Response};
use solana_client::nonblocking::rpc_client::RpcClient;
use x402::{client, siwx, wire};

use crate::settings::Settings;

/// Who signs: the wallet on one chain.
#[derive(Args, Debug)]
pub struct WalletArgs {
    /// The gateway's base URL [default: the config file's gateway, else http://127.0.0.1:8402]
    #[arg(long, global = true, env = "PAYWIRE_GATEWAY")]
    pub gateway: Option<String>,
    /// The wallet's chain: solana or base
    #[arg(long, global = true, default_value = "solana")]
    pub chain: String,
    /// Solana wallet: a Solana CLI keypair file [default: the config file's keypair]
    #[arg(long, global = true, env = "PAYWIRE_KEYPAIR")]
    pub keypair: Option<PathBuf>,
    /// Base wallet: a hex private key
    #[arg(long, global = true, env = "PAYWIRE_BASE_PRIVATE_KEY")]
    pub private_key: Option<String>,
}

pub enum Wallet {
    Solana(solana_keypair::Keypair),
    Base(alloy::signers::local::PrivateKeySigner),
}

impl Wallet {
    /// The wallet of `chain` from the key given for it.
    pub fn new(
        chain: &str,
        keypair: Option<PathBuf>,
        private_key: Option<String>,
    ) -> anyhow::Result<Wallet> {
        Ok(match chain {
            "solana" => {
                let path = keypair
                    .context("a Solana wallet needs --keypair (a Solana CLI keypair file)")?;
                Wallet::Solana(localnet::read_keypair(&path)?)
            }
            "base" => Wallet::Base(
                private_key
                    .context("a Base wallet needs --private-key (or PAYWIRE_BASE_PRIVATE_KEY)")?
                    .parse()
                    .context("--private-key")?,
            ),
            other => bail!("--chain must be solana or base, not {other}"),
        })
    }

    /// The wallet and gateway of `args`, the config file's defaults applied.
    pub fn from_args(args: WalletArgs, settings: &Settings) -> anyhow::Result<(Wallet, String)> {
        let wallet = Wallet::new(
            &args.chain,
            settings.keypair(args.keypair),
            args.private_key,
        )?;
        let gateway = settings
            .gateway(args.gateway)
            .trim_end_matches('/')
            .to_string();
        Ok((wallet, gateway))
    }

    /// The CAIP-2 prefix of the wallet's networks.
    pub fn prefix(&self) -> &'static str {
        match self {
            Wallet::Solana(_) => "solana:",
            Wallet::Base(_) => "eip155:",
        }
    }

    /// A `SIGN-IN-WITH-X` header answering the challenge of `required`, on the wallet's chain.
    pub fn sign_in(&self, required: &wire::PaymentRequired) -> anyhow::Result<String> {
        let extension = required
            .extensions
            .as_ref()
            .and_then(|e| e.get(siwx::EXTENSION))
            .context("the gateway's 402 offers no sign-in (sign-in-with-x)")?;
        let challenge: siwx::Challenge = serde_json::from_value(extension["info"].clone())
            .context("reading the sign-in challenge")?;
        let chains: Vec<siwx::SupportedChain> =
            serde_json::from_value(extension["supportedChains"].clone())
                .context("reading the sign-in chains")?;
        let chain = chains
            .iter()
            .find(|c| c.chain_id.starts_with(self.prefix()))
            .with_context(|| format!("the gateway takes no sign-in on {}", self.prefix()))?;
        Ok(match self {
            Wallet::Solana(keypair) => challenge.sign_solana(&chain.chain_id, keypair),
            Wallet::Base(signer) => challenge
                .sign_evm(&chain.chain_id, signer)
                .map_err(anyhow::Error::msg)?,
        })
    }

    /// A payment of `offer` (one of a 402's `accepts` on the wallet's chain), once its asset is
    /// checked to be the USDC expected: `usdc`, or Circle's on the network.
    pub async fn pay(
        &self,
        offer: &wire::PaymentRequirements,
        rpc_url: &str,
        usdc: Option<&str>,
    ) -> anyhow::Result<wire::PaymentPayload> {
        // A gateway (or whoever sits between us on plain http) could name another token the
        // payer holds: pay only the USDC we expect.
        let usdc = match (usdc, client::known_usdc(&offer.network)) {
            (Some(usdc), _) => usdc.to_string(),
            (None, Some(usdc)) => usdc.to_string(),
            (None, None) => bail!(
                "{} is not a network whose USDC is known here: pass --usdc <its USDC> (the gateway asks for {}); nothing was paid",
                offer.network,
                offer.asset
            ),
        };
        if !offer.asset.eq_ignore_ascii_case(&usdc) {
            bail!(
                "the gateway asks for asset {} on {}, not USDC ({usdc}): nothing was paid (pass --usdc {} only if you trust it)",
                offer.asset,
                offer.network,
                offer.asset
            );
        }
        match self {
            Wallet::Solana(payer) => {
                let rpc = RpcClient::new_with_commitment(
                    rpc_url.to_string(),
                    solana_commitment_config::CommitmentConfig::confirmed(),
                );
                let blockhash = rpc
                    .get_latest_blockhash()
                    .await
                    .with_context(|| format!("getting a blockhash from {rpc_url}"))?;
                client::solana_exact(offer, payer, blockhash).map_err(anyhow::Error::msg)
            }
            Wallet::Base(signer) => client::base_payment(offer, signer)
                .await
                .map_err(anyhow::Error::msg),
        }
    }

    /// The offer of `required` on the wallet's chain.
    pub fn offer<'a>(
        &self,
        required: &'a wire::PaymentRequired,
    ) -> anyhow::Result<&'a wire::PaymentRequirements> {
        required
            .accepts
            .iter()
            .find(|o| o.network.starts_with(self.prefix()))
            .with_context(|| format!("the gateway takes no payment on {}", self.prefix()))
    }

    /// Sends the request `make` builds, signed in: first without a sign-in, to get the
    /// challenge (a 402), then again answering it.
    pub async fn signed_in(&self, make: impl Fn() -> RequestBuilder) -> anyhow::Result<Response> {
        let first = make().send().await.context("reaching the gateway")?;
        if first.status() != 402 {
            return Ok(first);
        }
        let required: wire::PaymentRequired = first.json().await.context("reading the 402")?;
        let header = self.sign_in(&required)?;
        make()
            .header(siwx::HEADER, header)
            .send()
            .await
            .context("reaching the gateway")
    }
}

/// The JSON of a successful answer, or an error with the gateway's own message.
pub async fn json(response: Response) -> anyhow::Result<serde_json::Value> {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        let message = body["error"]["message"]
            .as_str()
            .or(body["error"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| body.to_string());
        bail!("the gateway answered {status}: {message}");
    }
    Ok(body)
}
