//! The paid section of a call — settle, then answer — on a task of its own, so that it runs
//! to its end whatever the client does: a client that disconnects drops the handler, not the
//! task, and one still waiting after `settle_wait` is told (202) to come back with the same
//! payment for the answer, which is then kept for it.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Instant,
};

use axum::response::Response;
use ledger::{Claim, NewCharge};
use tracing::Instrument;

use crate::{
    app::App,
    metrics::Metrics,
    paywall::{still_settling, Failure},
    receipt::{replay, Receipt},
    request::Priced,
    x402::{
        payments::Accepted,
        wire::{PaymentPayload, PaymentRequirements, SettlementResponse},
        Rejection,
    },
    GatewayError,
};

struct LeaveOnDrop(Waiting);

impl Drop for LeaveOnDrop {
    fn drop(&mut self) {
        self.0.left();
    }
}

/// Whether the client still waits for the answer of a paid call. Set to false when it has
/// been told to come back (or has gone): a late settlement then stores the answer for a retry
/// with the same payment id instead of streaming it to nobody.
#[derive(Clone)]
struct Waiting(Arc<AtomicBool>);

impl Default for Waiting {
    fn default() -> Self {
        Waiting(Arc::new(AtomicBool::new(true)))
    }
}

impl Waiting {
    fn left(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    fn still(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A verified payment, the charge it is to be claimed as, and what it pays for; owned, so
/// it can outlive the request.
pub struct Paid {
    pub app: Arc<App>,
    pub charge: NewCharge,
    pub priced: Priced,
    pub accepted: Accepted,
    pub payment: PaymentPayload,
    pub required: PaymentRequirements,
    pub verify_ms: f64,
}

impl Paid {
    /// Runs the paid section on its own task; the answer, or 202 after `settle_wait`.
    pub async fn run_detached(self) -> Result<Response, Failure> {
        let wait = self.app.settle_wait;
        let quote = self.charge.quote_id.clone();
        let waiting = Waiting::default();
        // A client that disconnects drops this future; the guard tells the task.
        let _leaves = LeaveOnDrop(waiting.clone());
        let task = tokio::spawn(self.run(waiting).instrument(tracing::Span::current()));
        match tokio::time::timeout(wait, task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(panicked)) => {
                tracing::error!(quote, error = %panicked, "the paid section of a call failed");
                Err(GatewayError::Internal.into())
            }
            Err(_) => Ok(still_settling(&quote, wait.as_secs())),
        }
    }

    async fn run(mut self, waiting: Waiting) -> Result<Response, Failure> {
        let app = &self.app;
        let network = self.required.network.clone();
        let payment_id = self.charge.payment_id.clone();
        let charge_id = match app.ledger.claim_charge(&self.charge).await.map_err(GatewayError::from)? {
            Claim::New(id) => id,
            Claim::Existing(earlier) if payment_id.is_some() && earlier.payment_id == payment_id => {
                return replay(earlier)
            }
            Claim::Existing(_) => {
                return Err(Failure::Payment(
                    Rejection::new(
                        "duplicate_settlement",
                        "this quote or payment has already been used; request a new 402 and pay again",
                    ),
                    Some(network),
                ))
            }
        };
        let settle_started = Instant::now();
        let settlement = match app
            .payments
            .settle(&self.accepted, &self.payment, &self.required)
            .await
        {
            Ok(tx) => tx,
            Err(rejection) => {
                app.ledger
                    .charge_failed(charge_id, &rejection.to_string())
                    .await
                    .map_err(GatewayError::from)?;
                return Err(Failure::Payment(rejection, Some(network)));
            }
        };
        let settle_ms = settle_started.elapsed().as_secs_f64() * 1e3;
        Metrics::add(&app.metrics.payments_settled, 1);
        Metrics::add(&app.metrics.settled_units, self.priced.amount);
        let receipt = Receipt {
            charge_id,
            quote: self.charge.quote_id.clone(),
            chain: self.charge.chain,
            settlement: SettlementResponse {
                success: true,
                error_reason: None,
                payer: Some(self.accepted.key.payer.clone()),
                transaction: settlement,
                network,
                amount: Some(self.priced.amount.to_string()),
            },
            v1: self.payment.x402_version == 1,
            timing: format!(
                "verify;dur={:.3}, settle;dur={settle_ms:.3}",
                self.verify_ms
            ),
        };
        app.ledger
            .charge_settled(charge_id, &receipt.settlement.transaction)
            .await
            .map_err(GatewayError::from)?;
        if !waiting.still() {
            // Nobody to stream to: the answer is kept whole for the retry.
            self.priced.unstreamed();
        }
        Ok(crate::answer::answer(app, &self.priced, receipt).await?)
    }
}

