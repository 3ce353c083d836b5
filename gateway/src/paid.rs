//! The paid section of a sale — claim, settle, then deliver (answer the call, or credit the
//! top-up; a stream's upstream request starts with the settlement and is read only once it
//! confirmed) — on a task of its own, so that it runs to its end whatever the client does: a
//! client that disconnects drops the handler, not the task, and one still waiting after
//! `settle_wait` is told (202) to come back with the same payment for the answer, which is
//! then kept for it.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc,
    },
    time::Instant,
};

use axum::response::Response;
use futures::future::BoxFuture;
use ledger::{Claim, NewCharge};
use tracing::Instrument;

use crate::{
    app::App,
    bill::Bill,
    metrics::Metrics,
    paywall::{still_settling, Failure},
    receipt::{replay, seen_before, Receipt},
    request::Priced,
    sale::Sale,
    upstream::{self, AllFailed},
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
        // With the overlap a stream's upstream request starts now, beside the settlement; its
        // body is not read — nothing reaches the client — until the settlement has confirmed.
        // Streams only: a failed settlement stops a stream after a few tokens, while a JSON
        // answer would be generated (and billed) whole before anyone could stop it.
        let mut upstream = match &self.sale {
            Sale::Call(priced) if app.settle_overlap && priced.stream => {
                Some(Overlapped::start(app, priced))
            }
            _ => None,
        };
        let settle_started = Instant::now();
        let settle = app
            .payments
            .settle(&self.accepted, &self.payment, &self.required);
        let settled = match &mut upstream {
            Some(upstream) => upstream.beside(settle).await,
            None => settle.await,
        };
        let settlement = match settled {
            Ok(tx) => tx,
            Err(rejection) => {
                // Dropping `upstream` stops the call: no answer without a confirmed payment.
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
        // Only streams overlap: one nobody waits for is asked again, whole (this one is dropped).
        let called = match (upstream, client_waits) {
            (Some(upstream), true) => Some(upstream.called().await),
            _ => None,
        };
        match &mut self.sale {
            Sale::Call(priced) => {
                let bill = Bill::Payment(receipt);
                if !client_waits {
                    // Nobody to stream to: the answer is kept whole for the retry.
                    priced.unstreamed();
                }
                Ok(match called {
                    Some(called) => crate::answer::answer_from(app, priced, bill, called).await?,
                    None => crate::answer::answer(app, priced, bill).await?,
                })
            }
            Sale::TopUp { .. } => Ok(crate::top_up::credit(app, receipt).await?),
        }
    }
}

type Called = Result<upstream::Answer, AllFailed>;

/// A streamed upstream call started beside a settlement. Dropped before it is answered from
/// (the settlement failed, the charge was taken over by the reconciler, nobody waits for its
/// stream), it stops, is counted as abandoned, and its prompt is counted as absorbed: the
/// provider may bill it.
struct Overlapped<'a> {
    call: Option<BoxFuture<'a, Called>>,
    done: Option<Called>,
    metrics: &'a Metrics,
    prompt_cost: u64,
}

impl<'a> Overlapped<'a> {
    fn start(app: &'a App, priced: &'a Priced) -> Self {
        Overlapped {
            call: Some(Box::pin(crate::answer::call_upstream(app, priced))),
            done: None,
            metrics: &app.metrics,
            prompt_cost: priced.model.price.cost(priced.prompt_tokens, 0),
        }
    }

    /// `work`'s output, the call going on meanwhile.
    async fn beside<T>(&mut self, work: impl Future<Output = T>) -> T {
        let (Some(call), done) = (self.call.as_mut(), &mut self.done) else {
            return work.await;
        };
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                called = call.as_mut(), if done.is_none() => *done = Some(called),
            }
        }
    }

    /// What the upstream answered, waiting for it if it has not yet.
    async fn called(mut self) -> Called {
        let call = self
            .call
            .take()
            .expect("an overlapped call is answered from once");
        match self.done.take() {
            Some(called) => called,
            None => call.await,
        }
    }
}

impl Drop for Overlapped<'_> {
    fn drop(&mut self) {
        // Not answered from, and not a call no provider took (nothing to bill).
        if self.call.is_some() && !matches!(self.done, Some(Err(_))) {
            self.metrics.upstream_abandoned.inc();
            self.metrics.absorbed_units.inc_by(self.prompt_cost);
        }
    }
}
