//! The indexer's Prometheus metrics, served at `/metrics` next to the ledger API: how far each
//! chain's follower is behind the chain's head, where each cursor stands, the rows written,
//! and whether this indexer holds each cursor's lease or stands by.
//!
//! Built on the `prometheus` crate with a registry per [`Metrics`] rather than on the `metrics`
//! facade, whose recorder is global to the process: several indexers in one process (the test
//! suites, an embedding tool) each report their own numbers.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{http::header, response::IntoResponse, routing::get, Router};
use ledger::{Batch, Chain, Ledger, LedgerError, WriteOutcome};
use prometheus::{core::Collector, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

/// The indexer's metrics; clones share them. `Default` is a fresh, empty set.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    rows_written: IntCounterVec,
    cursor: IntGaugeVec,
    head: IntGaugeVec,
    lag: IntGaugeVec,
    follower_errors: IntCounterVec,
    lease_held: IntGaugeVec,
    /// Per chain: the head seen last and the cursor written last, for the lag.
    positions: Mutex<HashMap<Chain, (Option<u64>, Option<u64>)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            registered(&registry, IntCounterVec::new(Opts::new(name, help), labels))
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            registered(&registry, IntGaugeVec::new(Opts::new(name, help), labels))
        };
        Metrics(Arc::new(Inner {
            rows_written: counter(
                "paywire_indexer_rows_written_total",
                "Ledger rows the indexer inserted (replays of rows already there are not counted), by chain, table and source (grpc, rpc_backfill, evm_logs)",
                &["chain", "table", "source"],
            ),
            cursor: gauge(
                "paywire_indexer_cursor",
                "Last slot (Solana) or block (Base) written with everything before it, by chain and cursor",
                &["chain", "cursor"],
            ),
            head: gauge(
                "paywire_indexer_chain_head",
                "Newest slot or block the indexer has seen the chain report",
                &["chain"],
            ),
            lag: gauge(
                "paywire_indexer_lag",
                "Slots (Solana) or blocks (Base) between the chain's head and the cursor",
                &["chain"],
            ),
            follower_errors: counter(
                "paywire_indexer_follower_errors_total",
                "Errors a follower recovered from by retrying (see the logs for each)",
                &["chain"],
            ),
            lease_held: gauge(
                "paywire_indexer_lease_held",
                "1 while this indexer holds the cursor's lease and follows, 0 while it stands by",
                &["cursor"],
            ),
            registry,
            positions: Mutex::default(),
        }))
    }
}

/// `metric`, registered in `registry` (names and labels are constants: failing is a bug).
fn registered<M: Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("registered once");
    metric
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Writes `batch` to `ledger` and counts what it inserted and where its cursor went.
    pub async fn write(&self, ledger: &Ledger, batch: &Batch) -> Result<WriteOutcome, LedgerError> {
        let outcome = ledger.write(batch).await?;
        let (chain, source) = (batch.chain.as_str(), batch.source.as_ref());
        for (table, rows) in [
            ("transfers", outcome.transfers),
            ("vault_events", outcome.vault_events),
        ] {
            self.0
                .rows_written
                .with_label_values(&[chain, table, source])
                .inc_by(rows);
        }
        if let Some(cursor) = &batch.cursor {
            self.record(batch.chain, None, Some((&cursor.name, cursor.position)));
        }
        Ok(outcome)
    }

    /// The chain reported `head` as its newest slot or block.
    pub fn head(&self, chain: Chain, head: u64) {
        self.record(chain, Some(head), None);
    }

    /// This indexer took (`true`) or is standing by for (`false`) the lease on `cursor`.
    pub fn lease(&self, cursor: &str, held: bool) {
        self.0
            .lease_held
            .with_label_values(&[cursor])
            .set(i64::from(held));
    }

    /// A follower hit an error and will retry.
    pub fn follower_error(&self, chain: Chain) {
        self.0
            .follower_errors
            .with_label_values(&[chain.as_str()])
            .inc();
    }

    /// A head seen and/or a cursor written, and the lag between them: under the lock
    /// [`Metrics::render`] takes, so one scrape sees the three agree.
    fn record(&self, chain: Chain, head: Option<u64>, cursor: Option<(&str, u64)>) {
        let mut positions = self.0.positions.lock().expect("never poisoned");
        let (last_head, last_cursor) = positions.entry(chain).or_default();
        if let Some(head) = head {
            let newest = last_head.map_or(head, |h| h.max(head));
            *last_head = Some(newest);
            self.0
                .head
                .with_label_values(&[chain.as_str()])
                .set(newest as i64);
        }
        if let Some((name, position)) = cursor {
            *last_cursor = Some(position);
            self.0
                .cursor
                .with_label_values(&[chain.as_str(), name])
                .set(position as i64);
        }
        if let (Some(head), Some(cursor)) = (*last_head, *last_cursor) {
            self.0
                .lag
                .with_label_values(&[chain.as_str()])
                .set(head.saturating_sub(cursor) as i64);
        }
    }

    /// Every metric in Prometheus' text format; head, cursor and lag as of one moment.
    pub fn render(&self) -> String {
        let families = {
            let _positions = self.0.positions.lock().expect("never poisoned");
            self.0.registry.gather()
        };
        TextEncoder::new()
            .encode_to_string(&families)
            .expect("text encoding of gathered metrics")
    }

    /// `GET /metrics`, to merge into the ledger API's router.
    pub fn router(&self) -> Router {
        let metrics = self.clone();
        Router::new().route(
            "/metrics",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
                    metrics.render(),
                )
                    .into_response()
            }),
        )
    }
}
