//! Who pays for a call and how its end is booked: a per-call payment (its charge completed,
//! the surplus credited to the payer's balance) or a hold on the payer's balance (charged at
//! actual usage, the rest given back). The upstream call and the answer ([`crate::answer`])
//! are the same for both.

use ledger::{format_usdc, Chain, Completion, HoldUsage, Ledger, LedgerError};
use serde_json::{json, Value};

use crate::{metrics::Metrics, receipt::Receipt};

#[derive(Clone, Debug)]
pub enum Bill {
    /// Paid per call with x402.
    Payment(Receipt),
    /// Served from the payer's balance.
    Balance(Hold),
}

/// A call's maximum cost held on a payer's balance.
#[derive(Clone, Debug)]
pub struct Hold {
    pub hold_id: i64,
    pub payer: String,
    pub chain: Chain,
    pub amount: u64,
}

impl Bill {
    /// Who pays, as the client is told.
    pub fn payer(&self) -> &str {
        match self {
            Bill::Payment(receipt) => receipt.settlement.payer.as_deref().unwrap_or("the payer"),
            Bill::Balance(hold) => &hold.payer,
        }
    }

    /// A completion id for answers the gateway writes itself (an upstream's own id is kept):
    /// the charge's or the hold's, unique in the ledger.
    pub fn completion_id(&self) -> String {
        match self {
            Bill::Payment(receipt) => format!("chatcmpl-paywire-charge-{}", receipt.charge_id),
            Bill::Balance(hold) => format!("chatcmpl-paywire-hold-{}", hold.hold_id),
        }
    }

    /// The settlement's transaction, for a payment.
    pub fn transaction(&self) -> Option<&str> {
        match self {
            Bill::Payment(receipt) => Some(&receipt.settlement.transaction),
            Bill::Balance(_) => None,
        }
    }

    /// What happens to the money of a call that produced nothing.
    pub fn nothing_served(&self) -> String {
        match self {
            Bill::Payment(_) => format!("the whole charge was credited to {}", self.payer()),
            Bill::Balance(_) => "nothing was charged; the hold went back to the balance".into(),
        }
    }

    /// The receipt headers; `amounts` (actual cost, credit) once the call is over, `balance`
    /// what the payer has left when it is known.
    pub fn headers(
        &self,
        provider: Option<&str>,
        amounts: Option<(u64, u64)>,
        balance: Option<u64>,
    ) -> Vec<(&'static str, String)> {
        let mut headers = match self {
            Bill::Payment(receipt) => receipt.headers(amounts),
            Bill::Balance(hold) => {
                let mut headers = vec![
                    ("x-paywire-hold-id", hold.hold_id.to_string()),
                    ("x-paywire-held", format_usdc(hold.amount)),
                ];
                if let Some((actual, _)) = amounts {
                    headers.push(("x-paywire-charge", format_usdc(actual)));
                    headers.push(("x-paywire-actual-cost", format_usdc(actual)));
                }
                headers
            }
        };
        if let Some(p) = provider {
            headers.push(("x-paywire-provider", p.to_string()));
        }
        if let Some(left) = balance {
            headers.push(("x-paywire-balance", format_usdc(left)));
        }
        headers
    }

    /// What a payment's retry is answered with: `status`, `body` and the receipt headers.
    pub fn stored(
        &self,
        status: u16,
        body: &Value,
        provider: Option<&str>,
        amounts: Option<(u64, u64)>,
    ) -> Value {
        let headers: serde_json::Map<String, Value> = self
            .headers(provider, amounts, None)
            .into_iter()
            .map(|(name, value)| (name.to_string(), Value::String(value)))
            .collect();
        json!({ "status": status, "body": body, "headers": headers })
    }

    /// The receipt as JSON (the answer's `paywire_receipt`, the stream's last event).
    pub fn json(
        &self,
        model: &str,
        provider: Option<&str>,
        completion: &Completion,
        interrupted: bool,
        balance: Option<u64>,
    ) -> Value {
        let mut receipt = match self {
            Bill::Payment(receipt) => receipt.json(model, provider, completion, interrupted),
            Bill::Balance(hold) => json!({
                "hold_id": hold.hold_id,
                "model": model,
                "provider": provider,
                "chain": hold.chain.as_str(),
                "payer": hold.payer,
                "held": format_usdc(hold.amount),
                "charged": format_usdc(completion.actual_cost),
                "actual_cost": format_usdc(completion.actual_cost),
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "interrupted": interrupted,
            }),
        };
        if let Some(left) = balance {
            receipt["balance"] = Value::String(format_usdc(left));
        }
        receipt
    }

    /// Books how the call ended, once (the reconciler or the hold sweep may have been first):
    /// a payment's charge is completed and its credit goes to the payer's balance; a hold is
    /// charged the actual cost, or given back whole if nothing was delivered. Returns the
    /// payer's balance afterwards, when this knows it.
    pub async fn finish(
        &self,
        ledger: &Ledger,
        metrics: &Metrics,
        completion: &Completion,
        stored: &Value,
    ) -> Result<Option<u64>, LedgerError> {
        match self {
            Bill::Payment(receipt) => {
                if ledger
                    .complete_charge(receipt.charge_id, completion, Some(stored))
                    .await?
                {
                    metrics.credited_units.inc_by(completion.credit);
                } else {
                    tracing::warn!(
                        charge = receipt.charge_id,
                        "charge already completed (by the reconciler); not credited twice"
                    );
                }
                Ok(None)
            }
            Bill::Balance(hold) => {
                let left = if completion.actual_cost > 0 {
                    let usage = HoldUsage {
                        provider: completion.provider.clone(),
                        prompt_tokens: completion.prompt_tokens,
                        completion_tokens: completion.completion_tokens,
                        actual_cost: completion.actual_cost,
                    };
                    let left = ledger.charge_hold(hold.hold_id, &usage).await?;
                    if left.is_some() {
                        metrics.charged_units.inc_by(completion.actual_cost);
                        metrics
                            .released_units
                            .inc_by(hold.amount - completion.actual_cost);
                    }
                    left
                } else {
                    let left = ledger.release_hold(hold.hold_id).await?;
                    if left.is_some() {
                        metrics.released_units.inc_by(hold.amount);
                    }
                    left
                };
                if left.is_none() {
                    tracing::warn!(
                        hold = hold.hold_id,
                        "hold already closed (expired by the sweep); not charged"
                    );
                }
                Ok(left)
            }
        }
    }
}
