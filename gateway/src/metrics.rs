//! The gateway's counters for `/metrics`, on the `prometheus` crate with a registry per
//! [`Metrics`] (as the indexer's): several gateways in one process each report their own.

use std::time::Duration;

use prometheus::{
    register_gauge_vec_with_registry, register_int_counter_with_registry, GaugeVec, IntCounter,
    Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub payment_required: IntCounter,
    pub payments_rejected: IntCounter,
    pub payments_settled: IntCounter,
    pub settled_units: IntCounter,
    pub credited_units: IntCounter,
    pub upstream_failures: IntCounter,
    pub calls_completed: IntCounter,
    /// USDC units of upstream usage beyond the price paid, absorbed by the operator.
    pub absorbed_units: IntCounter,
    pub streams_cut: IntCounter,
    /// The balance rail: USDC units held, charged and released, and calls its balance did
    /// not cover.
    pub held_units: IntCounter,
    pub charged_units: IntCounter,
    pub released_units: IntCounter,
    pub balance_short: IntCounter,
    pub holds_expired: IntCounter,
    /// Streamed upstream calls started with a settlement and then dropped (the settlement
    /// failed, the reconciler took the charge over, or the client left before it confirmed).
    pub upstream_abandoned: IntCounter,
    provider_cooldown: GaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        // Names are constants and registered once: failing is a bug.
        let counter = |name: &str, help: &str| {
            register_int_counter_with_registry!(name, help, registry).expect("valid metric")
        };
        Metrics {
            payment_required: counter("paywire_payment_required_total", "402 answers sent"),
            payments_rejected: counter("paywire_payments_rejected_total", "payments refused"),
            payments_settled: counter(
                "paywire_payments_settled_total",
                "payments settled on chain",
            ),
            settled_units: counter(
                "paywire_settled_usdc_units_total",
                "USDC base units settled",
            ),
            credited_units: counter(
                "paywire_credited_usdc_units_total",
                "USDC base units credited to payers",
            ),
            upstream_failures: counter(
                "paywire_upstream_failures_total",
                "calls no provider answered",
            ),
            calls_completed: counter("paywire_calls_completed_total", "paid calls answered"),
            absorbed_units: counter(
                "paywire_absorbed_usdc_units_total",
                "USDC base units of upstream usage beyond the price, absorbed",
            ),
            streams_cut: counter(
                "paywire_streams_cut_total",
                "streams cut for going past the completion tokens paid for",
            ),
            held_units: counter(
                "paywire_held_usdc_units_total",
                "USDC base units held on payer balances for calls",
            ),
            charged_units: counter(
                "paywire_charged_usdc_units_total",
                "USDC base units charged to payer balances at actual usage",
            ),
            released_units: counter(
                "paywire_released_usdc_units_total",
                "USDC base units of holds given back",
            ),
            balance_short: counter(
                "paywire_balance_short_total",
                "calls a payer's balance did not cover (answered 402)",
            ),
            holds_expired: counter(
                "paywire_holds_expired_total",
                "holds released by the sweep after their gateway never came back",
            ),
            upstream_abandoned: counter(
                "paywire_upstream_abandoned_total",
                "upstream calls started with a settlement and dropped (their prompt is absorbed)",
            ),
            provider_cooldown: register_gauge_vec_with_registry!(
                "paywire_provider_cooldown_seconds",
                "remaining cooldown of a failing provider",
                &["provider"],
                registry
            )
            .expect("valid metric"),
            registry,
        }
    }
}

impl Metrics {
    /// Prometheus' text format, with the providers cooling down right now.
    pub fn render(&self, cooling: &[(String, Duration)]) -> String {
        self.provider_cooldown.reset();
        for (name, left) in cooling {
            self.provider_cooldown
                .with_label_values(&[name])
                .set(left.as_secs_f64());
        }
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# metrics could not be encoded: {e}\n"))
    }
}
