//! The gateway's state, built once from its config and shared by every handler.

use std::{sync::Arc, time::Duration};

use ledger::{Chain, Ledger};
use model_vault_client::Protocol;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::{
    catalog::{Catalog, CatalogFile, Model},
    config::{read_keypair, BasePayments, GatewayConfig, SolanaPayments},
    keys::KeyLimits,
    limiter::RateLimiter,
    metrics::Metrics,
    pay_to::{Destination, PayTo},
    quote::QuoteSigner,
    treasury::Treasury,
    upstream::Upstreams,
    GatewayError,
};
use x402::{
    evm::{EvmConfig, EvmExact},
    facilitator::{Destinations, Facilitator},
    payments::{Payments, Remote},
    svm::{SvmConfig, SvmExact},
    wire::PaymentRequirements,
};

/// How long a client has to pay once it has the requirements.
pub const PAYMENT_TIMEOUT_SECS: u64 = 60;

pub struct App {
    pub catalog: Catalog,
    pub quotes: QuoteSigner,
    pub quote_ttl: Duration,
    pub public_url: String,
    pub payments: Payments,
    solana: Option<SolanaPayments>,
    base: Option<BasePayments>,
    pub pay_to: Option<PayTo>,
    pub ledger: Ledger,
    pub upstreams: Upstreams,
    /// Paid calls per payer.
    pub limiter: RateLimiter,
    /// Requests per client IP.
    pub clients: RateLimiter,
    /// Requests per API key, each at its own allowance.
    pub key_limits: KeyLimits,
    /// Sends withdrawals, where the config gives the treasury's keys.
    pub treasury: Treasury,
    pub metrics: Arc<Metrics>,
    /// Requests priced at once, each on a blocking thread.
    pub pricing: Arc<Semaphore>,
    /// How long a paying client waits for settlement before it is told to come back.
    pub settle_wait: Duration,
    /// Whether a paid call's upstream request starts with its settlement.
    pub settle_overlap: bool,
    /// How long a call served from a balance may hold it before the sweep gives it back:
    /// longer than any answer takes.
    pub hold_ttl: Duration,
    /// The facilitator API's key, when it is served.
    facilitator_key: Option<String>,
    /// What the node behind each advertised network id is.
    pub networks: Vec<crate::networks::Network>,
    /// When this gateway started serving its catalog (unix seconds): the models' `created`.
    pub started_at: i64,
}

fn bad(what: String) -> GatewayError {
    GatewayError::Config(what)
}

impl App {
    pub async fn new(config: &GatewayConfig, ledger: Ledger) -> Result<Self, GatewayError> {
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
        let pay_to = match &config.solana {
            Some(s) => {
                let protocol = Protocol::new(s.usdc_mint, s.treasury);
                let pay_to = PayTo::new(
                    &s.rpc_url,
                    protocol,
                    Duration::from_millis(s.pay_to_cache_ms),
                );
                pay_to.check_config().await?;
                Some(pay_to)
            }
            None => None,
        };
        let payments = match &config.facilitator_url {
            Some(url) => {
                let mut networks = Vec::new();
                networks.extend(
                    config
                        .solana
                        .as_ref()
                        .map(|s| (s.network.clone(), Chain::Solana)),
                );
                networks.extend(
                    config
                        .base
                        .as_ref()
                        .map(|b| (b.network.clone(), Chain::Base)),
                );
                Payments::Remote(
                    Remote::connect(url, config.facilitator_key.as_deref(), &networks)
                        .await
                        .map_err(bad)?,
                )
            }
            None => Payments::Local(Arc::new(Facilitator::new(
                config.solana.as_ref().map(local_svm).transpose()?,
                config.base.as_ref().map(local_evm).transpose()?,
                ledger.clone(),
            ))),
        };
        // What the audit weighs against what payers are owed.
        if let Some(s) = &config.solana {
            ledger
                .record_treasury(
                    Chain::Solana,
                    &s.treasury.to_string(),
                    &s.usdc_mint.to_string(),
                )
                .await?;
        }
        if let Some(b) = &config.base {
            ledger
                .record_treasury(Chain::Base, &b.treasury.to_string(), &b.usdc.to_string())
                .await?;
        }
        // The models whose revenue is owed to a creator's vault (docs/money.md), on any chain:
        // a vault lives on Solana, so without [solana] there is none to owe it to.
        if let Some(pay_to) = &pay_to {
            for model in catalog.models() {
                if let Some(creator) = model.creator {
                    ledger
                        .record_model_creator(
                            &model.slug,
                            &creator.to_string(),
                            &pay_to.vault_of(&model.slug).to_string(),
                        )
                        .await?;
                }
            }
        }
        let mut networks = Vec::new();
        if let Some(s) = &config.solana {
            networks.push(crate::networks::solana(s).await);
        }
        if let Some(b) = &config.base {
            networks.push(crate::networks::base(b).await);
        }
        for network in &networks {
            network.warn_if_not_the_named_chain();
        }
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
            payments,
            solana: config.solana.clone(),
            base: config.base.clone(),
            pay_to,
            ledger: ledger.clone(),
            upstreams: Upstreams::new(Duration::from_secs(config.upstream_timeout_secs)),
            // Longer than any answer takes (a stream has no total timeout): the hour the
            // reconciler gives a paid call too.
            hold_ttl: Duration::from_secs(
                (2 * config.upstream_timeout_secs + 60).max(crate::reconcile::SETTLED_SECS),
            ),
            limiter: RateLimiter::shared(config.rate_limit_per_minute, ledger.clone(), "payer"),
            clients: RateLimiter::shared(
                config.client_rate_limit_per_minute,
                ledger.clone(),
                "client",
            ),
            key_limits: KeyLimits::new(ledger.clone()),
            treasury: Treasury::new(config.solana.as_ref(), config.base.as_ref(), ledger.clone())?,
            metrics: Arc::default(),
            pricing: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            )),
            settle_wait: Duration::from_secs(
                config
                    .solana
                    .as_ref()
                    .map_or(30, |s| s.confirm_timeout_secs),
            ),
            settle_overlap: config.settle_overlap,
            facilitator_key: config.facilitator_key.clone(),
            networks,
            started_at: chrono::Utc::now().timestamp(),
        })
    }

    /// The facilitator API, when this gateway is its own facilitator and has a key for it:
    /// it pays fees only for payments to this operator — the treasuries and the vaults of
    /// the catalog's models.
    pub fn facilitator_api(&self) -> Option<axum::Router> {
        let (Payments::Local(facilitator), Some(key)) = (&self.payments, &self.facilitator_key)
        else {
            return None;
        };
        let mut ours = Vec::new();
        if let (Some(s), Some(pay_to)) = (&self.solana, &self.pay_to) {
            ours.push((s.network.clone(), pay_to.treasury().to_string()));
            for model in self.catalog.models() {
                ours.push((s.network.clone(), pay_to.vault_of(&model.slug).to_string()));
            }
        }
        if let Some(b) = &self.base {
            ours.push((b.network.clone(), b.treasury.to_string()));
        }
        Some(x402::facilitator::routes(
            facilitator.clone(),
            key,
            Destinations::new(ours),
        ))
    }

    /// The ways to pay `amount` for a call of `model` (to the treasury without one) under
    /// quote `quote`, one per chain.
    pub async fn offers(
        &self,
        model: Option<&Model>,
        amount: u64,
        quote: &str,
    ) -> Result<Vec<PaymentRequirements>, GatewayError> {
        let mut offers = Vec::new();
        if let (Some(s), Some(pay_to), Some(fee_payer)) =
            (&self.solana, &self.pay_to, self.payments.solana_fee_payer())
        {
            let destination = match model {
                Some(model) => pay_to.solana(&model.slug, model.creator).await?,
                None => Destination {
                    owner: pay_to.treasury(),
                    tokenized: false,
                    unexpected_creator: None,
                },
            };
            offers.push(PaymentRequirements {
                scheme: "exact".into(),
                network: s.network.clone(),
                amount: amount.to_string(),
                asset: s.usdc_mint.to_string(),
                pay_to: destination.owner.to_string(),
                max_timeout_seconds: PAYMENT_TIMEOUT_SECS,
                extra: Some(json!({ "feePayer": fee_payer, "memo": quote, "tokenized": destination.tokenized })),
            });
        }
        if let Some(b) = &self.base {
            offers.push(PaymentRequirements {
                scheme: "exact".into(),
                network: b.network.clone(),
                amount: amount.to_string(),
                asset: b.usdc.to_string(),
                pay_to: b.treasury.to_string(),
                max_timeout_seconds: PAYMENT_TIMEOUT_SECS,
                extra: Some(
                    json!({ "name": b.usdc_name, "version": b.usdc_version, "quote": quote }),
                ),
            });
        }
        Ok(offers)
    }

    pub fn chain_of(&self, network: &str) -> Option<Chain> {
        self.payments.chain_of(network)
    }

    /// The networks this gateway is paid on, with their chains.
    pub fn networks(&self) -> Vec<(String, Chain)> {
        let solana = self
            .solana
            .as_ref()
            .map(|s| (s.network.clone(), Chain::Solana));
        let base = self.base.as_ref().map(|b| (b.network.clone(), Chain::Base));
        solana.into_iter().chain(base).collect()
    }
}

fn local_svm(s: &SolanaPayments) -> Result<SvmExact, GatewayError> {
    let keypair = s
        .fee_payer_keypair
        .as_ref()
        .ok_or_else(|| bad("[solana] needs fee_payer_keypair (or a facilitator_url)".into()))?;
    Ok(SvmExact::new(
        SvmConfig {
            network: s.network.clone(),
            usdc_mint: s.usdc_mint,
            fee_payer: Arc::new(read_keypair(keypair)?),
            max_compute_unit_price: s.max_compute_unit_price,
            max_compute_units: s.max_compute_units,
        },
        &s.rpc_url,
    ))
}

fn local_evm(b: &BasePayments) -> Result<EvmExact, GatewayError> {
    let key = match &b.facilitator_private_key {
        Some(k) => k.clone(),
        None => std::env::var("PAYWIRE_BASE_FACILITATOR_KEY")
            .map_err(|_| bad("[base] needs facilitator_private_key, PAYWIRE_BASE_FACILITATOR_KEY or a facilitator_url".into()))?,
    };
    EvmExact::new(EvmConfig {
        network: b.network.clone(),
        chain_id: b.chain_id()?,
        usdc: b.usdc,
        usdc_name: b.usdc_name.clone(),
        usdc_version: b.usdc_version.clone(),
        facilitator: key
            .parse()
            .map_err(|e| bad(format!("[base] facilitator key: {e}")))?,
        rpc_url: b.rpc_url.clone(),
    })
    .map_err(bad)
}

/// The quote id carried by requirements: Solana's memo, Base's `extra.quote`.
pub fn quote_of(requirements: &PaymentRequirements) -> Option<&str> {
    requirements
        .extra_str("memo")
        .or(requirements.extra_str("quote"))
}
