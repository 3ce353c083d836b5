//! The gateway's state, built once from its config and shared by every handler.

use std::{str::FromStr, sync::Arc, time::Duration};

use ledger::{Chain, Ledger};
use model_vault_client::Protocol;
use serde_json::json;
use solana_pubkey::Pubkey;

use crate::{
    catalog::{Catalog, CatalogFile, Model},
    config::{read_keypair, GatewayConfig},
    limiter::RateLimiter,
    metrics::Metrics,
    pay_to::PayTo,
    quote::QuoteSigner,
    upstream::Upstreams,
    x402::{
        evm::{EvmConfig, EvmExact},
        facilitator::Facilitator,
        svm::{SvmConfig, SvmExact},
        wire::PaymentRequirements,
    },
    GatewayError,
};

/// How long a client has to pay once it has the requirements.
pub const PAYMENT_TIMEOUT_SECS: u64 = 60;

pub struct App {
    pub catalog: Catalog,
    pub quotes: QuoteSigner,
    pub quote_ttl: Duration,
    pub public_url: String,
    pub facilitator: Arc<Facilitator>,
    pub pay_to: Option<PayTo>,
    pub base_treasury: Option<String>,
    pub ledger: Ledger,
    pub upstreams: Upstreams,
    pub limiter: RateLimiter,
    pub metrics: Metrics,
}

impl App {
    pub fn new(config: &GatewayConfig, ledger: Ledger) -> Result<Self, GatewayError> {
        let bad = |what: String| GatewayError::Config(what);
        let catalog = Catalog::from_file(CatalogFile {
            models: config.models.clone(),
        })?;
        if catalog.models().is_empty() {
            return Err(bad(
                "the catalog is empty: add [[models]] with their [[models.providers]]".into(),
            ));
        }
        if config.solana.is_none() && config.base.is_none() {
            return Err(bad("no chain to be paid on: add [solana] or [base]".into()));
        }
        let (svm, pay_to) = match &config.solana {
            Some(s) => {
                let key = |text: &str, what: &str| {
                    Pubkey::from_str(text).map_err(|e| bad(format!("[solana] {what} {text}: {e}")))
                };
                let usdc_mint = key(&s.usdc_mint, "usdc_mint")?;
                let treasury = key(&s.treasury, "treasury")?;
                let svm = SvmExact::new(
                    SvmConfig {
                        network: s.network.clone(),
                        usdc_mint,
                        fee_payer: Arc::new(read_keypair(&s.fee_payer_keypair)?),
                        max_compute_unit_price: s.max_compute_unit_price,
                        max_compute_units: s.max_compute_units,
                        confirm_timeout: Duration::from_secs(s.confirm_timeout_secs),
                    },
                    &s.rpc_url,
                );
                let pay_to = PayTo::new(
                    &s.rpc_url,
                    Protocol::new(usdc_mint, treasury),
                    Duration::from_millis(s.pay_to_cache_ms),
                );
                (Some(svm), Some(pay_to))
            }
            None => (None, None),
        };
        let evm = match &config.base {
            Some(b) => {
                let key = match &b.facilitator_private_key {
                    Some(k) => k.clone(),
                    None => std::env::var("PAYWIRE_BASE_FACILITATOR_KEY").map_err(|_| {
                        bad(
                            "[base] needs facilitator_private_key or PAYWIRE_BASE_FACILITATOR_KEY"
                                .into(),
                        )
                    })?,
                };
                let chain_id = b
                    .network
                    .strip_prefix("eip155:")
                    .and_then(|id| id.parse().ok())
                    .ok_or_else(|| {
                        bad(format!(
                            "[base] network {} is not eip155:<chain id>",
                            b.network
                        ))
                    })?;
                Some(
                    EvmExact::new(EvmConfig {
                        network: b.network.clone(),
                        chain_id,
                        usdc: b
                            .usdc
                            .parse()
                            .map_err(|e| bad(format!("[base] usdc {}: {e}", b.usdc)))?,
                        usdc_name: b.usdc_name.clone(),
                        usdc_version: b.usdc_version.clone(),
                        facilitator: key
                            .parse()
                            .map_err(|e| bad(format!("[base] facilitator key: {e}")))?,
                        rpc_url: b.rpc_url.clone(),
                    })
                    .map_err(bad)?,
                )
            }
            None => None,
        };
        let base_treasury = match &config.base {
            Some(b) => Some(
                b.treasury
                    .parse::<alloy::primitives::Address>()
                    .map_err(|e| bad(format!("[base] treasury {}: {e}", b.treasury)))?
                    .to_string(),
            ),
            None => None,
        };
        let secret = match &config.quote_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => {
                tracing::warn!("no quote_secret: quotes are valid only in this process");
                rand::random::<[u8; 32]>().to_vec()
            }
        };
        Ok(App {
            catalog,
            quotes: QuoteSigner::new(&secret),
            quote_ttl: Duration::from_secs(config.quote_ttl_secs),
            public_url: config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", config.listen))
                .trim_end_matches('/')
                .to_string(),
            facilitator: Arc::new(Facilitator::new(svm, evm, ledger.clone())),
            pay_to,
            base_treasury,
            ledger,
            upstreams: Upstreams::new(Duration::from_secs(config.upstream_timeout_secs)),
            limiter: RateLimiter::new(config.rate_limit_per_minute),
            metrics: Metrics::default(),
        })
    }

    /// The ways to pay `amount` for `model` under quote `quote`, one per chain.
    pub async fn offers(
        &self,
        model: &Model,
        amount: u64,
        quote: &str,
    ) -> Result<Vec<PaymentRequirements>, GatewayError> {
        let mut offers = Vec::new();
        if let (Some(svm), Some(pay_to)) = (&self.facilitator.svm, &self.pay_to) {
            let destination = pay_to.solana(&model.slug).await?;
            offers.push(PaymentRequirements {
                scheme: "exact".into(),
                network: svm.config.network.clone(),
                amount: amount.to_string(),
                asset: svm.config.usdc_mint.to_string(),
                pay_to: destination.owner.to_string(),
                max_timeout_seconds: PAYMENT_TIMEOUT_SECS,
                extra: Some(json!({ "feePayer": svm.fee_payer().to_string(), "memo": quote, "tokenized": destination.tokenized })),
            });
        }
        if let (Some(evm), Some(treasury)) = (&self.facilitator.evm, &self.base_treasury) {
            offers.push(PaymentRequirements {
                scheme: "exact".into(),
                network: evm.config.network.clone(),
                amount: amount.to_string(),
                asset: evm.config.usdc.to_string(),
                pay_to: treasury.clone(),
                max_timeout_seconds: PAYMENT_TIMEOUT_SECS,
                extra: Some(json!({ "name": evm.config.usdc_name, "version": evm.config.usdc_version, "quote": quote })),
            });
        }
        Ok(offers)
    }

    pub fn chain_of(&self, network: &str) -> Option<Chain> {
        self.facilitator.chain_of(network)
    }
}

/// The quote id carried by requirements: Solana's memo, Base's `extra.quote`.
pub fn quote_of(requirements: &PaymentRequirements) -> Option<&str> {
    requirements
        .extra_str("memo")
        .or(requirements.extra_str("quote"))
}
