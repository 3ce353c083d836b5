//! What paywire's test suites share, and only they: headless Chromium to render the web pages
//! ([`browser`]), a localnet that cleans up after itself and a model tokenized on it
//! ([`chains`]), example config files checked against their structs ([`example_config`]), and polling until something holds ([`eventually`], [`wait_until`]).
//! Production crates never depend on it.

pub mod browser;
pub mod chains;
pub mod example_config;

use std::time::{Duration, Instant};

/// How long anything a test waits for may take: far beyond what it needs on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);
const PAUSE: Duration = Duration::from_millis(50);

/// Polls `check` until it gives `Some`, and returns that; panics naming `what` after 60 s.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(PAUSE).await;
    }
}

/// Polls `check` until it holds; panics naming `what` after 60 s.
pub async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    eventually(what, async || check().await.then_some(())).await
}
