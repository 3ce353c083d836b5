//! A deterministic OpenAI-compatible upstream for demos, tests and benchmarks: it answers
//! every chat request with "Hello world" (JSON, or SSE ending with a usage chunk) and, by the
//! model name it is asked for, misbehaves the way real providers do: `fail-500`, `fail-429`,
//! `dies` (streams two chunks, then drops the connection) and `slow` (a chunk per second); and
//! `ttft-<ms>` streams its first token <ms> after its headers (benchmarks of time to first
//! token).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    http::StatusCode,
    response::{
        sse::{Event, Sse},
        IntoResponse,
    },
    routing::post,
    Json, Router,
};
use futures::StreamExt;
use serde_json::{json, Value};

/// The provider model names requested so far, in order.
pub type Calls = Arc<Mutex<Vec<String>>>;

/// Serves the demo upstream on `listener`; returns its base URL (`…/v1`) and its call log.
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<(String, Calls)> {
    let url = format!("http://{}/v1", listener.local_addr()?);
    let calls: Calls = Arc::default();
    let app = router(calls.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("demo upstream stopped: {e}");
        }
    });
    Ok((url, calls))
}

fn router(calls: Calls) -> Router {
    Router::new().route(
        "/v1/chat/completions",
        post(move |Json(body): Json<Value>| {
            let calls = calls.clone();
            async move {
                // A provider slow to start answering (its first byte after 1.5 s).
                if body["model"] == "slow-start" {
                    tokio::time::sleep(Duration::from_millis(1_500)).await;
                }
                answer(&calls, body)
            }
        }),
    )
}

fn answer(calls: &Calls, body: Value) -> axum::response::Response {
    let model = body["model"].as_str().unwrap_or_default().to_string();
    calls.lock().expect("not poisoned").push(model.clone());
    let stream = body["stream"] == true;
    match model.as_str() {
        "fail-500" => (StatusCode::INTERNAL_SERVER_ERROR, "upstream broke").into_response(),
        "fail-429" => (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response(),
        // Answers with the names of the request's fields, so tests see what was forwarded.
        "echo-fields" => {
            let mut fields: Vec<&String> = body
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            fields.sort();
            let content = fields
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(",");
            Json(completion(&model, &content)).into_response()
        }
        _ if !stream => Json(completion(&model, "Hello world")).into_response(),
        _ => {
            let id = completion_id();
            let created = unix_now();
            // OpenAI's chunk: the same id and time in each, the role in the first delta.
            let chunk = |delta: Value, finish_reason: Value| {
                Event::default().data(json!({
                    "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }],
                }).to_string())
            };
            let text = |content: &str| chunk(json!({ "content": content }), Value::Null);
            let mut events: Vec<Result<Event, std::io::Error>> = vec![
                Ok(chunk(
                    json!({ "role": "assistant", "content": "Hello" }),
                    Value::Null,
                )),
                Ok(text(" world")),
            ];
            if model == "rambles" {
                // A provider that ignores max_tokens.
                events.extend((0..2_000).map(|_| Ok(text(" hello"))));
            }
            if model == "dies" {
                events.push(Err(std::io::Error::other("upstream died")));
            } else {
                events.push(Ok(chunk(json!({}), json!("stop"))));
                let usage = json!({
                    "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [], "usage": usage(),
                });
                events.push(Ok(Event::default().data(usage.to_string())));
                events.push(Ok(Event::default().data("[DONE]")));
            }
            // Events a moment apart, as a model generates them.
            let pause = Duration::from_millis(match model.as_str() {
                "slow" => 1_000,
                "rambles" => 0,
                _ => 20,
            });
            // `ttft-<ms>`: the first token <ms> after the headers, as a model thinking first.
            let first = model
                .strip_prefix("ttft-")
                .and_then(|ms| ms.parse().ok())
                .map_or(pause, Duration::from_millis);
            let paced = futures::stream::iter(events.into_iter().enumerate()).then(
                move |(i, event)| async move {
                    tokio::time::sleep(if i == 0 { first } else { pause }).await;
                    event
                },
            );
            Sse::new(paced).into_response()
        }
    }
}

/// A whole answer in OpenAI's shape.
fn completion(model: &str, content: &str) -> Value {
    json!({
        "id": completion_id(), "object": "chat.completion", "created": unix_now(), "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content, "refusal": null },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage(),
    })
}

/// Every answer counts 12 prompt tokens and 2 completion tokens ("Hello world").
fn usage() -> Value {
    json!({ "prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14 })
}

fn completion_id() -> String {
    format!("chatcmpl-demo-{:016x}", rand::random::<u64>())
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}
