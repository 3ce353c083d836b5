//! Upstream providers: the cheapest healthy one first; a connect error, 429 or 5xx before the
//! first byte fails over to the next and takes the provider out for a cooldown that doubles
//! with each consecutive failure. Providers all cooling down are still tried, soonest first,
//! rather than failing the paid call outright.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::catalog::{Model, Provider};

const BASE_COOLDOWN: Duration = Duration::from_secs(2);
const MAX_COOLDOWN: Duration = Duration::from_secs(300);

#[derive(Default, Clone, Copy)]
struct Health {
    consecutive_failures: u32,
    cooling_until: Option<Instant>,
}

pub struct Upstreams {
    client: reqwest::Client,
    health: Mutex<HashMap<String, Health>>,
}

/// Why no provider answered.
#[derive(Debug)]
pub struct AllFailed {
    /// `provider: what happened`, one per attempt.
    pub attempts: Vec<String>,
}

/// A provider that answered with a success status; the body is not read yet.
pub struct Answer {
    pub provider: Provider,
    pub response: reqwest::Response,
}

impl Upstreams {
    pub fn new(timeout: Duration) -> Self {
        Upstreams {
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(timeout)
                .build()
                .expect("a TLS-less client builds"),
            health: Mutex::new(HashMap::new()),
        }
    }

    /// Providers of `model` in the order they will be tried for a call of this size.
    pub fn order(&self, model: &Model, prompt: u64, completion: u64) -> Vec<Provider> {
        let now = Instant::now();
        let health = self.health.lock().expect("not poisoned");
        let mut providers: Vec<(Option<Instant>, u64, Provider)> = model
            .providers
            .iter()
            .map(|p| {
                let until = health
                    .get(&p.name)
                    .and_then(|h| h.cooling_until)
                    .filter(|t| *t > now);
                (until, p.cost.cost(prompt, completion), p.clone())
            })
            .collect();
        // Healthy (None) before cooling, cheapest first; cooling ones by soonest recovery.
        providers.sort_by_key(|(until, cost, _)| (until.is_some(), *until, *cost));
        providers.into_iter().map(|(_, _, p)| p).collect()
    }

    /// Each provider's name with how long it is still cooling down.
    pub fn cooldowns(&self) -> Vec<(String, Duration)> {
        let now = Instant::now();
        self.health
            .lock()
            .expect("not poisoned")
            .iter()
            .filter_map(|(name, h)| {
                Some((name.clone(), h.cooling_until?.checked_duration_since(now)?))
            })
            .collect()
    }

    fn failed(&self, provider: &str) {
        let mut health = self.health.lock().expect("not poisoned");
        let h = health.entry(provider.to_string()).or_default();
        h.consecutive_failures += 1;
        let cooldown = BASE_COOLDOWN
            .saturating_mul(1 << (h.consecutive_failures - 1).min(16))
            .min(MAX_COOLDOWN);
        h.cooling_until = Some(Instant::now() + cooldown);
    }

    fn succeeded(&self, provider: &str) {
        self.health.lock().expect("not poisoned").remove(provider);
    }

    /// Sends the chat request to the providers of `model` in order until one answers 2xx.
    /// `body` is the client's request; the model name is replaced by each provider's, and a
    /// stream asks for usage.
    pub async fn chat(
        &self,
        model: &Model,
        body: &Value,
        prompt: u64,
        max_tokens: u32,
    ) -> Result<Answer, AllFailed> {
        let mut attempts = Vec::new();
        for provider in self.order(model, prompt, max_tokens as u64) {
            let mut request = body.clone();
            request["model"] = Value::String(provider.model.clone());
            request["max_tokens"] = Value::from(max_tokens);
            if request.get("stream").and_then(Value::as_bool) == Some(true) {
                request["stream_options"]["include_usage"] = Value::Bool(true);
            }
            let mut call = self
                .client
                .post(format!("{}/chat/completions", provider.base_url))
                .json(&request);
            if let Some(key) = &provider.api_key {
                call = call.bearer_auth(key);
            }
            match call.send().await {
                Ok(response) if response.status().is_success() => {
                    self.succeeded(&provider.name);
                    return Ok(Answer { provider, response });
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    // 429 and 5xx are the provider's trouble (its words go to the log); another
                    // 4xx is the request's, and another provider would refuse it too: the
                    // client is told why.
                    if status.as_u16() == 429 || status.is_server_error() {
                        tracing::warn!(provider = provider.name, %status, body = truncate(&text), "provider failed");
                        attempts.push(format!("{}: HTTP {status}", provider.name));
                        self.failed(&provider.name);
                    } else {
                        attempts.push(format!(
                            "{}: HTTP {status} {}",
                            provider.name,
                            truncate(&text)
                        ));
                        return Err(AllFailed { attempts });
                    }
                }
                Err(e) => {
                    // reqwest's text carries the provider's URL: the log gets it, not the client.
                    tracing::warn!(provider = provider.name, error = %e, "provider unreachable");
                    let what = match (e.is_timeout(), e.is_connect()) {
                        (true, _) => "timed out",
                        (_, true) => "could not be reached",
                        _ => "broke off the request",
                    };
                    attempts.push(format!("{}: {what}", provider.name));
                    self.failed(&provider.name);
                }
            }
        }
        Err(AllFailed { attempts })
    }
}

fn truncate(text: &str) -> &str {
    match text.char_indices().nth(200) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}
