//! Charges a gateway left half-way — the process stopped between claiming a payment and
//! answering it. Once no live process can still be settling or answering one (settlement
//! gives up when the payment can no longer land, well within [`SETTLING_SECS`]; no answer
//! takes [`SETTLED_SECS`]), the chain decides: a payment that landed unanswered is credited
//! whole to its payer, one that never landed is marked failed. Holds on payer balances whose
//! gateway never came back are given back once they expire. Every gateway runs this; the
//! ledger's updates apply once.

use std::{sync::Arc, time::Duration};

use ledger::{format_usdc, Completion, CreditReason, StaleCharge};
use serde_json::json;

use x402::{
    facilitator::{PaymentId, PaymentKey},
    payments::Payments,
};

use crate::{app::App, GatewayError};

/// Longer than any settlement lasts (a blockhash lives ~90 s; `validBefore` ≤ 15 min).
pub const SETTLING_SECS: u64 = 20 * 60;
/// Longer than any answer takes.
pub const SETTLED_SECS: u64 = 60 * 60;
const EVERY: Duration = Duration::from_secs(60);
/// Longer than a withdrawal's transfer can take to land or expire (a Solana blockhash lives
/// ~90 s; Base's receipt is waited for a minute).
pub const WITHDRAWAL_SECS: u64 = 5 * 60;

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Landed, never answered: credited whole.
    pub credited: usize,
    /// Never landed: failed, nothing taken.
    pub failed: usize,
    /// The chain did not answer, or a remote facilitator settles them: left for later.
    pub left: usize,
    /// Holds past their expiry, given back to their balances.
    pub expired_holds: u64,
    /// Withdrawals whose answer was lost, settled from the chain (sent, or failed and
    /// credited back).
    pub withdrawals: usize,
}

/// Runs [`reconcile`] every minute, for the life of the process.
pub async fn keep_reconciling(app: Arc<App>) {
    loop {
        match reconcile(&app, SETTLING_SECS, SETTLED_SECS).await {
            Ok(done) if done != Reconciled::default() => {
                tracing::info!(?done, "reconciled charges left half-way")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reconciling charges left half-way"),
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// One pass over the charges stale for longer than the given ages.
pub async fn reconcile(
    app: &App,
    settling_secs: u64,
    settled_secs: u64,
) -> Result<Reconciled, GatewayError> {
    let mut done = Reconciled::default();
    for charge in app
        .ledger
        .stale_charges(settling_secs, settled_secs)
        .await?
    {
        // One charge that cannot be settled now must not hold up the others.
        match settle_one(app, &charge).await {
            Ok(Some(Outcome::Credited)) => done.credited += 1,
            Ok(Some(Outcome::Failed)) => done.failed += 1,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(charge = charge.id, error = %e, "a stale charge is left for later");
                done.left += 1;
            }
        }
    }
    done.expired_holds = app.ledger.expire_holds().await?;
    for withdrawal in app.ledger.stale_withdrawals(WITHDRAWAL_SECS).await? {
        let landed = match app.treasury.landed(&withdrawal).await {
            // An RPC without transaction history does not know an old transfer: what the
            // indexer saw is a second witness before anything is credited back.
            Ok(Some(false)) => match &withdrawal.tx {
                Some(tx) => Ok(Some(
                    app.ledger.transaction_seen(withdrawal.chain, tx).await?,
                )),
                None => Ok(Some(false)),
            },
            other => other,
        };
        match landed {
            Ok(Some(true)) => {
                let tx = withdrawal.tx.as_deref().unwrap_or_default();
                app.ledger.withdrawal_sent(withdrawal.id, tx).await?;
                done.withdrawals += 1;
            }
            Ok(Some(false)) => {
                app.ledger
                    .withdrawal_failed(withdrawal.id, "its transfer never landed")
                    .await?;
                done.withdrawals += 1;
            }
            Ok(None) => tracing::warn!(
                withdrawal = withdrawal.id,
                "a withdrawal is still sending and its transfer is not on chain yet"
            ),
            Err(e) => {
                tracing::warn!(withdrawal = withdrawal.id, error = %e, "a stale withdrawal is left for later")
            }
        }
    }
    app.metrics.holds_expired.inc_by(done.expired_holds);
    app.ledger.forget_sign_in_nonces().await?;
    app.ledger.forget_rate_limits().await?;
    Ok(done)
}

enum Outcome {
    Credited,
    Failed,
}

/// Settles one stale charge from the chain; `None` if another gateway got there first.
async fn settle_one(app: &App, charge: &StaleCharge) -> Result<Option<Outcome>, String> {
    let landed = match charge.settled {
        true => charge.settlement_tx.clone(),
        false => landed(&app.payments, charge).await?,
    };
    let Some(tx) = landed else {
        app.ledger
            .charge_failed(charge.id, "the payment never landed: nothing was taken")
            .await
            .map_err(|e| e.to_string())?;
        return Ok(Some(Outcome::Failed));
    };
    let amount: u64 = charge
        .amount
        .parse()
        .map_err(|_| format!("amount {} does not read", charge.amount))?;
    if !charge.settled
        && !app
            .ledger
            .charge_settled(charge.id, &tx)
            .await
            .map_err(|e| e.to_string())?
    {
        return Ok(None);
    }
    let completion = Completion {
        credit_reason: CreditReason::Unserved,
        ..Completion::upstream_failed(None, amount)
    };
    // What a retry of this payment is answered.
    let stored = json!({
        "status": 502,
        "body": { "error": {
            "message": format!("the gateway stopped before answering this paid call; its {} USDC were credited to {}", format_usdc(amount), charge.payer),
            "code": 502,
        } },
        "headers": {},
    });
    let completed = app
        .ledger
        .complete_charge(charge.id, &completion, Some(&stored))
        .await
        .map_err(|e| e.to_string())?;
    Ok(completed.then_some(Outcome::Credited))
}

/// Where `charge`'s payment stands on chain. `Ok(None)` is final: it did not land.
async fn landed(payments: &Payments, charge: &StaleCharge) -> Result<Option<String>, String> {
    let Payments::Local(facilitator) = payments else {
        return Err("a remote facilitator settles this gateway's payments".into());
    };
    facilitator
        .landed(&PaymentKey {
            chain: charge.chain,
            id: match (&charge.settlement_tx, &charge.eip3009_nonce) {
                (Some(tx), _) => PaymentId::Transaction(tx.clone()),
                (None, Some(nonce)) => PaymentId::Nonce(nonce.clone()),
                (None, None) => PaymentId::Unknown,
            },
            payer: charge.payer.clone(),
        })
        .await
}
