//! A paid call's upstream call (for a stream paid per call, started while its payment
//! settles) and, once the call is paid for (settled, or held on the payer's balance), the
//! answer. A JSON answer is read whole and returned with the receipt in headers. A stream
//! is passed through event by event as it arrives, watching for usage; it ends with the
//! receipt, as a chunk before `[DONE]` (where OpenAI SDKs still read) and as a
//! `paywire.receipt` event after it. Whatever happens — every provider down, the upstream dying
//! mid-stream, the client going away — the [`Bill`] is booked with what was actually
//! delivered and the rest goes back to the payer.

use std::convert::Infallible;

use axum::{
    http::{HeaderValue, StatusCode},
    response::{
        sse::{Event, Sse},
        IntoResponse, Response,
    },
    Json,
};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use ledger::{Completion, CreditReason, Ledger};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::{
    app::App,
    bill::Bill,
    catalog::Model,
    metrics::Metrics,
    request::Priced,
    tokens,
    upstream::{self, AllFailed},
    GatewayError,
};

/// Calls the upstream, then answers with what it says.
pub async fn answer(app: &App, priced: &Priced, bill: Bill) -> Result<Response, GatewayError> {
    let called = call_upstream(app, priced).await;
    answer_from(app, priced, bill, called).await
}

/// `priced`'s request to its providers, cheapest healthy first: it returns once one answers
/// (its status and headers); nothing of its body is read until [`answer_from`] reads it.
pub async fn call_upstream(app: &App, priced: &Priced) -> Result<upstream::Answer, AllFailed> {
    app.upstreams
        .chat(
            &priced.model,
            &priced.body,
            priced.prompt_tokens,
            priced.max_tokens,
        )
        .await
}

/// Answers with what the upstream `called` says (or its failure), booking `bill`.
pub async fn answer_from(
    app: &App,
    priced: &Priced,
    bill: Bill,
    called: Result<upstream::Answer, AllFailed>,
) -> Result<Response, GatewayError> {
    let answer = match called {
        Ok(answer) => answer,
        Err(failed) => {
            app.metrics.upstream_failures.inc();
            let completion = Completion::upstream_failed(None, priced.amount);
            let body = json!({
                "error": {
                    "message": format!(
                        "every provider of {} failed ({}); {}",
                        priced.model.slug,
                        failed.attempts.join("; "),
                        bill.nothing_served(),
                    ),
                    "code": 502,
                },
            });
            return finish_json(
                app,
                &bill,
                &priced.model.slug,
                StatusCode::BAD_GATEWAY,
                None,
                body,
                completion,
            )
            .await;
        }
    };
    let provider = answer.provider.name.clone();
    if !priced.stream {
        let read = answer.response.bytes().await;
        let body: Option<Value> = read.ok().and_then(|b| serde_json::from_slice(&b).ok());
        let Some(mut body) = body else {
            let completion = Completion::upstream_failed(Some(provider.clone()), priced.amount);
            let body = json!({
                "error": { "message": format!("{provider} broke off its answer; {}", bill.nothing_served()), "code": 502 },
            });
            return finish_json(
                app,
                &bill,
                &priced.model.slug,
                StatusCode::BAD_GATEWAY,
                Some(&provider),
                body,
                completion,
            )
            .await;
        };
        let usage = Usage::from_body(&body, priced);
        let completion = usage.completion(
            &app.metrics,
            &priced.model,
            priced.amount,
            &provider,
            CreditReason::Surplus,
        );
        body["model"] = Value::String(priced.model.slug.clone());
        return finish_json(
            app,
            &bill,
            &priced.model.slug,
            StatusCode::OK,
            Some(&provider),
            body,
            completion,
        )
        .await;
    }

    let (tx, rx) = mpsc::channel::<Event>(64);
    let task = StreamTask {
        app_ledger: app.ledger.clone(),
        metrics: app.metrics.clone(),
        slug: priced.model.slug.clone(),
        model: priced.model.clone(),
        prompt_tokens: priced.prompt_tokens,
        amount: priced.amount,
        ceiling: priced.completion_ceiling(),
        provider: provider.clone(),
        bill: bill.clone(),
    };
    tokio::spawn(
        task.run(answer.response, tx)
            .instrument(tracing::Span::current()),
    );
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    let mut response = Sse::new(events).into_response();
    let headers = response.headers_mut();
    for (name, value) in bill.headers(Some(&provider), None, None) {
        headers.insert(name, HeaderValue::from_str(&value).expect("header-safe"));
    }
    app.metrics.calls_completed.inc();
    Ok(response)
}

/// Books the bill, then answers `body` with the receipt in it (`receipt` for an error,
/// `paywire_receipt` for an answer) and in headers.
async fn finish_json(
    app: &App,
    bill: &Bill,
    model: &str,
    status: StatusCode,
    provider: Option<&str>,
    mut body: Value,
    completion: Completion,
) -> Result<Response, GatewayError> {
    let receipt_field = if status.is_success() {
        "paywire_receipt"
    } else {
        "receipt"
    };
    let interrupted = !status.is_success() && provider.is_some();
    // What a payment's retry is answered with (the balance is not known yet: a retry shows
    // the receipt without it).
    body[receipt_field] = bill.json(model, provider, &completion, interrupted, None);
    let amounts = Some((completion.actual_cost, completion.credit));
    let stored = bill.stored(status.as_u16(), &body, provider, amounts);
    let balance = bill
        .finish(&app.ledger, &app.metrics, &completion, &stored)
        .await?;
    if status.is_success() {
        app.metrics.calls_completed.inc();
    }
    if balance.is_some() {
        body[receipt_field] = bill.json(model, provider, &completion, interrupted, balance);
    }
    let mut response = (status, Json(body)).into_response();
    for (name, value) in bill.headers(provider, amounts, balance) {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_str(&value).expect("header-safe"));
    }
    Ok(response)
}

/// Token counts of a call: from upstream usage when it reported them, else counted.
struct Usage {
    prompt: u64,
    completion: u64,
}

impl Usage {
    /// As OpenAI spells usage.
    fn openai(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
        })
    }

    fn from_body(body: &Value, priced: &Priced) -> Usage {
        match usage_of(body) {
            Some(u) => u,
            None => {
                let text: String = body["choices"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["message"]["content"].as_str())
                    .collect();
                Usage {
                    prompt: priced.prompt_tokens,
                    completion: tokens::text_tokens(&text),
                }
            }
        }
    }

    /// The charge at this usage for a call paid `price`, and the payer's credit: never more
    /// than the payer agreed to pay. Usage beyond the quote (a provider that counts tokens
    /// differently, a ceiling it ignored) is absorbed, and counted so an operator sees it.
    fn completion(
        &self,
        metrics: &Metrics,
        model: &Model,
        price: u64,
        provider: &str,
        reason: CreditReason,
    ) -> Completion {
        let cost = model.actual(self.prompt, self.completion);
        if cost > price {
            metrics.absorbed_units.inc_by(cost - price);
            tracing::warn!(
                cost,
                price,
                "upstream usage exceeded the quote; the difference is absorbed"
            );
        }
        let actual = cost.min(price);
        Completion {
            provider: Some(provider.to_string()),
            prompt_tokens: Some(self.prompt as u32),
            completion_tokens: Some(self.completion as u32),
            actual_cost: actual,
            credit: price - actual,
            credit_reason: reason,
        }
    }
}

/// Slack over the completion ceiling before a stream is cut: providers' tokenizers differ
/// from ours by a few percent.
fn cut_at(ceiling: u64) -> u64 {
    ceiling + ceiling / 20 + 16
}

fn usage_of(value: &Value) -> Option<Usage> {
    let usage = value.get("usage").filter(|u| !u.is_null())?;
    Some(Usage {
        prompt: usage.get("prompt_tokens")?.as_u64()?,
        completion: usage.get("completion_tokens")?.as_u64()?,
    })
}

/// Pumps one upstream stream to the client and completes the charge when it ends.
struct StreamTask {
    app_ledger: Ledger,
    metrics: std::sync::Arc<Metrics>,
    slug: String,
    model: Model,
    prompt_tokens: u64,
    amount: u64,
    /// Completion tokens paid for, all choices together.
    ceiling: u64,
    provider: String,
    bill: Bill,
}

impl StreamTask {
    async fn run(self, response: reqwest::Response, tx: mpsc::Sender<Event>) {
        // Whole events only (eventsource-stream parses them), so the receipt never lands
        // inside one.
        let mut upstream = response.bytes_stream().eventsource();
        let mut usage: Option<Usage> = None;
        let mut text = String::new();
        let mut done = false;
        let mut client_gone = false;
        let mut broken = false;
        // Completion tokens streamed so far, counted as they pass.
        let mut streamed = 0u64;
        let mut cut = false;
        // The upstream's completion id and time, for the chunk and answer we add.
        let mut id = None;
        let mut created = None;
        loop {
            let event = tokio::select! {
                event = upstream.next() => event,
                // The client went away while the upstream was thinking: stop it now.
                () = tx.closed() => {
                    client_gone = true;
                    break;
                }
            };
            let Some(event) = event else { break };
            let Ok(event) = event else {
                broken = true;
                break;
            };
            let data = event.data.trim();
            if data == "[DONE]" {
                // Held back: the receipt chunk goes before it, where OpenAI SDKs still read.
                done = true;
                continue;
            } else if let Ok(json) = serde_json::from_str::<Value>(data) {
                if let Some(u) = usage_of(&json) {
                    usage = Some(u);
                }
                id = id.or_else(|| json["id"].as_str().map(str::to_string));
                created = created.or_else(|| json["created"].as_i64());
                for choice in json["choices"].as_array().into_iter().flatten() {
                    let delta = &choice["delta"];
                    if let Some(t) = delta["content"].as_str() {
                        text.push_str(t);
                        streamed += tokens::text_tokens(t);
                    }
                    for call in delta["tool_calls"].as_array().into_iter().flatten() {
                        let arguments = &call["function"]["arguments"];
                        streamed += tokens::text_tokens(arguments.as_str().unwrap_or(""));
                    }
                }
            }
            if streamed > cut_at(self.ceiling) {
                // More than was paid for: stop here rather than give it away.
                cut = true;
                self.metrics.streams_cut.inc();
                tracing::warn!(
                    streamed,
                    ceiling = self.ceiling,
                    "upstream streamed past the paid ceiling; cut"
                );
                break;
            }
            if tx.send(forwarded(&event)).await.is_err() {
                // The client went away: stop the upstream call (dropping its stream).
                client_gone = true;
                break;
            }
        }
        drop(upstream);
        let interrupted = broken || client_gone || cut || !done;
        let usage = usage.unwrap_or_else(|| Usage {
            prompt: self.prompt_tokens,
            completion: tokens::text_tokens(&text),
        });
        let reason = if client_gone {
            CreditReason::ClientDisconnected
        } else if interrupted {
            CreditReason::StreamInterrupted
        } else {
            CreditReason::Surplus
        };
        let completion = usage.completion(
            &self.metrics,
            &self.model,
            self.amount,
            &self.provider,
            reason,
        );
        let receipt = self.bill.json(
            &self.slug,
            Some(&self.provider),
            &completion,
            interrupted,
            None,
        );
        let id = id.unwrap_or_else(|| self.bill.completion_id());
        let created = created.unwrap_or_else(|| chrono::Utc::now().timestamp());
        let body = json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": self.slug,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": if interrupted { Value::Null } else { json!("stop") } }],
            "usage": usage.openai(),
            "paywire_receipt": receipt,
        });
        let stored = self.bill.stored(
            200,
            &body,
            Some(&self.provider),
            Some((completion.actual_cost, completion.credit)),
        );
        let balance = match self
            .bill
            .finish(&self.app_ledger, &self.metrics, &completion, &stored)
            .await
        {
            Ok(balance) => balance,
            Err(e) => {
                tracing::error!(payer = self.bill.payer(), error = %e, "booking a streamed call");
                None
            }
        };
        let receipt = match balance {
            Some(_) => self.bill.json(
                &self.slug,
                Some(&self.provider),
                &completion,
                interrupted,
                balance,
            ),
            None => receipt,
        };
        if client_gone {
            return;
        }
        // The receipt as an OpenAI chunk with no choices (SDKs surface extra fields); a cut
        // answer's error as OpenAI sends one mid-stream (SDKs raise it); the [DONE] the upstream
        // sent; then the receipt as its own event for x402-aware clients.
        let chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": self.slug,
            "choices": [],
            "paywire_receipt": receipt,
        });
        let _ = tx.send(Event::default().data(chunk.to_string())).await;
        if cut {
            let error = json!({ "error": {
                "message": format!("the answer went past the {} completion tokens paid for and was cut; what was streamed is charged, nothing more", self.ceiling),
                "type": "paid_ceiling_reached",
                "code": "stream_cut",
            } });
            let _ = tx
                .send(
                    Event::default()
                        .event("paywire.error")
                        .data(error.to_string()),
                )
                .await;
        }
        if done {
            let _ = tx.send(Event::default().data("[DONE]")).await;
        }
        let _ = tx
            .send(
                Event::default()
                    .event("paywire.receipt")
                    .data(receipt.to_string()),
            )
            .await;
    }
}

/// An upstream event as it goes on to the client: named ones keep their name.
fn forwarded(event: &eventsource_stream::Event) -> Event {
    let forwarded = Event::default().data(&event.data);
    match event.event.as_str() {
        "message" => forwarded,
        name => forwarded.event(name),
    }
}
