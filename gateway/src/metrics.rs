//! Counters for `/metrics`, in Prometheus' text format.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub payment_required: AtomicU64,
    pub payments_rejected: AtomicU64,
    pub payments_settled: AtomicU64,
    pub settled_units: AtomicU64,
    pub credited_units: AtomicU64,
    pub upstream_failures: AtomicU64,
    pub calls_completed: AtomicU64,
    /// USDC units of upstream usage beyond the price paid, absorbed by the operator.
    pub absorbed_units: AtomicU64,
    pub streams_cut: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn render(&self, cooling: &[(String, std::time::Duration)]) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: &AtomicU64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        };
        counter(
            "paywire_payment_required_total",
            "402 answers sent",
            &self.payment_required,
        );
        counter(
            "paywire_payments_rejected_total",
            "payments refused",
            &self.payments_rejected,
        );
        counter(
            "paywire_payments_settled_total",
            "payments settled on chain",
            &self.payments_settled,
        );
        counter(
            "paywire_settled_usdc_units_total",
            "USDC base units settled",
            &self.settled_units,
        );
        counter(
            "paywire_credited_usdc_units_total",
            "USDC base units credited to payers",
            &self.credited_units,
        );
        counter(
            "paywire_upstream_failures_total",
            "calls no provider answered",
            &self.upstream_failures,
        );
        counter(
            "paywire_calls_completed_total",
            "paid calls answered",
            &self.calls_completed,
        );
        counter(
            "paywire_absorbed_usdc_units_total",
            "USDC base units of upstream usage beyond the price, absorbed",
            &self.absorbed_units,
        );
        counter(
            "paywire_streams_cut_total",
            "streams cut for going past the completion tokens paid for",
            &self.streams_cut,
        );
        out.push_str("# HELP paywire_provider_cooldown_seconds remaining cooldown of a failing provider\n# TYPE paywire_provider_cooldown_seconds gauge\n");
        for (name, left) in cooling {
            out.push_str(&format!(
                "paywire_provider_cooldown_seconds{{provider=\"{name}\"}} {:.3}\n",
                left.as_secs_f64()
            ));
        }
        out
    }
}
