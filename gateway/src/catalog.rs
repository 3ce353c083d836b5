//! The catalog: models with their prices, and the upstream providers that serve them.

use ledger::{parse_usdc, Usdc};
use serde::Deserialize;

use crate::GatewayError;

/// A USDC amount in base units (6 decimals).

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    #[serde(default)]
    pub models: Vec<ModelEntry>,
}

/// A model as the catalog file states it; prices are USDC decimal strings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub slug: String,
    /// USDC per million prompt tokens.
    pub input_per_mtok: String,
    /// USDC per million completion tokens.
    pub output_per_mtok: String,
    /// The least a call costs.
    pub floor: String,
    /// Ceiling on `max_tokens`, and the value used when a request omits it.
    pub max_tokens: u32,
    #[serde(default)]
    pub description: Option<String>,
    /// The Solana address expected as this model's creator on chain. Its revenue goes to the
    /// model's vault only when the on-chain model names this creator; without it, or when
    /// someone else registered the slug, it goes to the treasury.
    #[serde(default)]
    pub creator: Option<String>,
    pub providers: Vec<ProviderEntry>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEntry {
    pub name: String,
    /// OpenAI-compatible base URL, e.g. `https://api.example.com/v1`.
    pub base_url: String,
    /// Environment variable holding the API key (none: no Authorization header).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The model's name at this provider.
    pub model: String,
    /// What the provider charges us, USDC per million tokens.
    pub input_cost_per_mtok: String,
    pub output_cost_per_mtok: String,
}

impl ModelEntry {
    /// `slug` at these prices (USDC decimal strings), with no creator, description or
    /// providers yet.
    pub fn new(
        slug: &str,
        input_per_mtok: &str,
        output_per_mtok: &str,
        floor: &str,
        max_tokens: u32,
    ) -> Self {
        ModelEntry {
            slug: slug.to_string(),
            input_per_mtok: input_per_mtok.to_string(),
            output_per_mtok: output_per_mtok.to_string(),
            floor: floor.to_string(),
            max_tokens,
            description: None,
            creator: None,
            providers: Vec::new(),
        }
    }
}

impl ProviderEntry {
    /// `model` at the OpenAI-compatible `base_url`, costing us these (USDC decimal strings),
    /// with no API key.
    pub fn new(
        name: &str,
        base_url: &str,
        model: &str,
        input_cost_per_mtok: &str,
        output_cost_per_mtok: &str,
    ) -> Self {
        ProviderEntry {
            name: name.to_string(),
            base_url: base_url.to_string(),
            api_key_env: None,
            model: model.to_string(),
            input_cost_per_mtok: input_cost_per_mtok.to_string(),
            output_cost_per_mtok: output_cost_per_mtok.to_string(),
        }
    }
}

/// Per-million-token prices in USDC base units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rates {
    pub input: Usdc,
    pub output: Usdc,
}

impl Rates {
    /// What `prompt` + `completion` tokens cost, rounded up to a base unit.
    pub fn cost(&self, prompt: u64, completion: u64) -> Usdc {
        let micro = prompt as u128 * self.input as u128 + completion as u128 * self.output as u128;
        micro.div_ceil(1_000_000).min(u64::MAX as u128) as u64
    }
}

#[derive(Clone, Debug)]
pub struct Model {
    pub slug: String,
    pub description: Option<String>,
    pub price: Rates,
    pub floor: Usdc,
    pub max_tokens: u32,
    pub creator: Option<solana_pubkey::Pubkey>,
    pub providers: Vec<Provider>,
}

#[derive(Clone, Debug)]
pub struct Provider {
    pub name: String,
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub cost: Rates,
}

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    models: Vec<Model>,
}

impl Catalog {
    pub fn from_file(file: CatalogFile) -> Result<Self, GatewayError> {
        let config = |what: String| GatewayError::Config(what);
        let mut models = Vec::new();
        for m in file.models {
            let rate = |text: &str, what: &str| {
                parse_usdc(text).map_err(|e| config(format!("model {}: {what}: {e}", m.slug)))
            };
            if m.providers.is_empty() {
                return Err(config(format!("model {} has no providers", m.slug)));
            }
            if m.max_tokens == 0 {
                return Err(config(format!(
                    "model {}: max_tokens must be positive",
                    m.slug
                )));
            }
            let mut providers = Vec::new();
            for p in &m.providers {
                let api_key = match &p.api_key_env {
                    Some(var) => Some(std::env::var(var).map_err(|_| {
                        config(format!(
                            "provider {} of {}: environment variable {var} is not set",
                            p.name, m.slug
                        ))
                    })?),
                    None => None,
                };
                providers.push(Provider {
                    name: p.name.clone(),
                    base_url: p.base_url.trim_end_matches('/').to_string(),
                    api_key,
                    model: p.model.clone(),
                    cost: Rates {
                        input: rate(&p.input_cost_per_mtok, "input_cost_per_mtok")?,
                        output: rate(&p.output_cost_per_mtok, "output_cost_per_mtok")?,
                    },
                });
            }
            models.push(Model {
                price: Rates {
                    input: rate(&m.input_per_mtok, "input_per_mtok")?,
                    output: rate(&m.output_per_mtok, "output_per_mtok")?,
                },
                floor: rate(&m.floor, "floor")?,
                max_tokens: m.max_tokens,
                creator: m
                    .creator
                    .as_deref()
                    .map(|c| {
                        c.parse().map_err(|_| {
                            config(format!(
                                "model {}: creator {c} is not a Solana address",
                                m.slug
                            ))
                        })
                    })
                    .transpose()?,
                description: m.description.clone(),
                slug: m.slug,
                providers,
            });
        }
        Ok(Catalog { models })
    }

    pub fn get(&self, slug: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.slug == slug)
    }

    pub fn models(&self) -> &[Model] {
        &self.models
    }
}

impl Model {
    /// The charge for a call: prompt tokens at the input price plus the completion ceiling
    /// (every choice's token ceiling) at the output price, at least the floor.
    pub fn quote(&self, prompt_tokens: u64, completion_ceiling: u64) -> Usdc {
        self.price
            .cost(prompt_tokens, completion_ceiling)
            .max(self.floor)
    }

    /// What the call actually cost at our prices, at least the floor.
    pub fn actual(&self, prompt_tokens: u64, completion_tokens: u64) -> Usdc {
        self.price
            .cost(prompt_tokens, completion_tokens)
            .max(self.floor)
    }

    /// `requested` clamped to the model's ceiling; the ceiling when absent.
    pub fn max_tokens_for(&self, requested: Option<u64>) -> u32 {
        requested.map_or(self.max_tokens, |r| r.min(self.max_tokens as u64) as u32)
    }
}
