//! The paid section of a sale — claim, settle, then deliver (answer the call, or credit the
//! top-up) — on a task of its own, so that it runs to its end whatever the client does: a client that disconnects drops the handler, not the
//! task, and one still waiting after `settle_wait` is told (202) to come back with the same
//! payment for the answer, which is then kept for it.

use std::{
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc,
    },
    time::Instant,
};

use axum::response::Response;
use ledger::{Claim, NewCharge};
use tracing::Instrument;

use crate::{
    app::App,
    bill::Bill,
    paywall::{still_settling, Failure},
    receipt::{replay, seen_before, Receipt},
    sale::Sale,
    GatewayError,
};
use x402::{
    payments::Accepted,
    wire::{PaymentPayload, PaymentRequirements, SettlementResponse},
};

/// Who a paid call's answer goes to, decided once: the client still waiting (streamed to
/// it), or nobody (kept whole for the same payment's retry). The client leaves (202, or a
/// disconnect) only while the task has not started answering; once it has, the client waits
/// for it, so an answer is never streamed to nobody.
#[derive(Clone, Default)]
struct Handover(Arc<AtomicU8>);

const WAITING: u8 = 0;
const LEFT: u8 = 1;
const ANSWERING: u8 = 2;

impl Handover {
    /// The client stops waiting; `false` if the answer is already on its way to it.
    fn leave(&self) -> bool {
        match self
            .0
            .compare_exchange(WAITING, LEFT, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(now) => now == LEFT,
        }
    }

    /// The task is about to answer: `true` if the client is still there to take it.
    fn answer(&self) -> bool {
        self.0
            .compare_exchange(WAITING, ANSWERING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

/// A client that disconnects drops the handler's future; this tells the task.
struct LeaveOnDrop(Handover);

impl Drop for LeaveOnDrop {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// A verified payment, the charge it is to be claimed as, and what it pays for; owned, so
/// it can outlive the request.
pub struct Paid {
    pub app: Arc<App>,
    pub charge: NewCharge,
    pub sale: Sale,
    pub accepted: Accepted,
    pub payment: PaymentPayload,
    pub required: PaymentRequirements,
    pub verify_ms: f64,
}

impl Paid {
    /// Runs the paid section on its own task. The client gets the answer; or, if the payment
    /// is still settling after `settle_wait` and the client can come back for it (it sent a
    /// payment id), 202.
    pub async fn run_detached(self) -> Result<Response, Failure> {
        let wait = self.app.settle_wait;
        let quote = self.charge.quote_id.clone();
        let can_come_back = self.charge.payment_id.is_some();
        let handover = Handover::default();
        let _leaves = LeaveOnDrop(handover.clone());
        let mut task = tokio::spawn(
            self.run(handover.clone())
                .instrument(tracing::Span::current()),
        );
        let joined = match tokio::time::timeout(wait, &mut task).await {
            Ok(joined) => joined,
            Err(_) if can_come_back && handover.leave() => {
                return Ok(still_settling(&quote, wait.as_secs()))
            }
            // Already answering this client, or it could not find the answer again: wait.
            Err(_) => task.await,
        };
        joined.unwrap_or_else(|panicked| {
            tracing::error!(quote, error = %panicked, "the paid section of a call failed");
            Err(GatewayError::Internal.into())
        })
    }

    async fn run(mut self, handover: Handover) -> Result<Response, Failure> {
        let app = &self.app;
        let network = self.required.network.clone();
        let charge_id = match app
            .ledger
            .claim_charge(&self.charge)
            .await
            .map_err(GatewayError::from)?
        {
            Claim::New(id) => id,
            Claim::Existing(earlier) => {
                let charge = &self.charge;
                return seen_before(
                    earlier,
                    &charge.payer,
                    charge.payment_id.as_deref(),
                    Some(network),
                );
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
        app.metrics.payments_settled.inc();
        app.metrics.settled_units.inc_by(self.sale.amount());
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
                amount: Some(self.sale.amount().to_string()),
            },
            v1: self.payment.x402_version == 1,
            timing: format!(
                "verify;dur={:.3}, settle;dur={settle_ms:.3}",
                self.verify_ms
            ),
        };
        if !app
            .ledger
            .charge_settled(charge_id, &receipt.settlement.transaction)
            .await
            .map_err(GatewayError::from)?
        {
            // The reconciler settled this charge meanwhile (this took that long): its word stands.
            tracing::warn!(
                charge = charge_id,
                "charge taken over by the reconciler before it was answered"
            );
            return replay(
                app.ledger
                    .charge(charge_id)
                    .await
                    .map_err(GatewayError::from)?,
            );
        }
        let client_waits = handover.answer();
        match &mut self.sale {
            Sale::Call(priced) => {
                if !client_waits {
                    // Nobody to stream to: the answer is kept whole for the retry.
                    priced.unstreamed();
                }
                Ok(crate::answer::answer(app, priced, Bill::Payment(receipt)).await?)
            }
            Sale::TopUp { .. } => Ok(crate::top_up::credit(app, receipt).await?),
        }
    }
}
