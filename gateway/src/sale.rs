//! What a payment buys: a call of a model (a priced chat request) or a top-up of the payer's
//! balance. The paid path — [`crate::checkout`] (verify → claim) and [`crate::paid`] (settle →
//! deliver) — is the same for both; only what is delivered differs.

use ledger::Purpose;

use crate::{app::App, catalog::Model, quote::now, request::Priced, GatewayError};
use x402::wire::PaymentRequirements;

pub enum Sale {
    Call(Priced),
    TopUp { amount: u64 },
}

impl Sale {
    /// USDC base units the payment must carry.
    pub fn amount(&self) -> u64 {
        match self {
            Sale::Call(priced) => priced.amount,
            Sale::TopUp { amount } => *amount,
        }
    }

    pub fn purpose(&self) -> Purpose {
        match self {
            Sale::Call(_) => Purpose::Call,
            Sale::TopUp { .. } => Purpose::TopUp,
        }
    }

    /// The model called, if this is a call.
    pub fn model(&self) -> Option<&str> {
        match self {
            Sale::Call(priced) => Some(&priced.model.slug),
            Sale::TopUp { .. } => None,
        }
    }

    /// The model called, if this is a call.
    fn called(&self) -> Option<&Model> {
        match self {
            Sale::Call(priced) => Some(&priced.model),
            Sale::TopUp { .. } => None,
        }
    }

    /// What a quote for this sale is bound to (with its amount).
    pub fn subject(&self) -> String {
        subject(self.called())
    }

    /// The ways to pay for it under `quote`.
    pub async fn offers(
        &self,
        app: &App,
        quote: &str,
    ) -> Result<Vec<PaymentRequirements>, GatewayError> {
        app.offers(self.called(), self.amount(), quote).await
    }
}

/// A call of one model, or a top-up — so a quote for one is never accepted for the other.
fn subject(model: Option<&Model>) -> String {
    match model {
        Some(model) => format!("call:{}", model.slug),
        None => "top-up".into(),
    }
}

/// A fresh quote for `amount` of a call of `model` (a top-up without one) and the ways to pay
/// it, one per chain: a call pays its model's payTo (the vault of a tokenized model), a top-up
/// the treasury.
pub async fn quoted(
    app: &App,
    model: Option<&Model>,
    amount: u64,
) -> Result<(String, Vec<PaymentRequirements>), GatewayError> {
    let quote = app
        .quotes
        .issue(&subject(model), amount, now() + app.quote_ttl.as_secs());
    let offers = app.offers(model, amount, &quote).await?;
    Ok((quote, offers))
}
