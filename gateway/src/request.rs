//! A chat request as we sell it: only the fields we price are forwarded (an allowlist), and
//! every forwarded field is priced — messages, tool calls and tool results, tool definitions,
//! response schemas as prompt tokens; `n` choices × the token ceiling as completion. Anything
//! that would be billed upstream but not here (images, audio, web search, priority tiers…)
//! is refused with a 400 that names it.

use axum::body::Bytes;
use serde_json::{Map, Value};

use crate::{app::App, catalog::Model, tokens, GatewayError};

/// Prices a chat request . Parsing and tokenizing are CPU work on
/// unpaid input: they run on the blocking pool, a few at a time, never on the executor that
/// serves settlements and streams.
pub async fn price(app: &App, body: Bytes) -> Result<Priced, GatewayError> {
    // The permit goes with the work: a client that leaves does not free it early.
    let permit = app
        .pricing
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| GatewayError::Config("the gateway is shutting down".into()))?;
    let request = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        ChatRequest::parse(&body)
    })
    .await
    .map_err(|e| GatewayError::Config(format!("pricing failed: {e}")))??;
    let model = app
        .catalog
        .get(&request.slug)
        .ok_or_else(|| GatewayError::UnknownModel(request.slug.clone()))?;
    Ok(Priced::new(model.clone(), request))
}

/// Largest request body read: about 128k tokens of text, the longest context sold.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// Most choices (`n`) one paid call may ask for.
pub const MAX_CHOICES: u64 = 8;

/// Top-level fields forwarded as sent: they change neither what the provider bills nor what
/// it sends back beyond the priced ceiling.
const PASSED: &[&str] = &[
    "temperature",
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "user",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
];

/// Fields read here, priced or rewritten before forwarding.
const PRICED: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "stream",
    "stream_options",
    "tools",
    "response_format",
    "service_tier",
];

const MESSAGE_FIELDS: &[&str] = &[
    "role",
    "content",
    "name",
    "tool_calls",
    "tool_call_id",
    "refusal",
];
const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool"];

/// What a request asks for, before its model is looked up.
#[derive(Debug)]
pub struct ChatRequest {
    pub slug: String,
    /// What is sent upstream (the model name and `max_tokens` are set per provider).
    pub body: Value,
    pub prompt_tokens: u64,
    /// `max_completion_tokens` or `max_tokens`, as asked.
    pub requested_max_tokens: Option<u64>,
    pub choices: u32,
    pub stream: bool,
}

fn bad(message: impl Into<String>) -> GatewayError {
    GatewayError::BadRequest(message.into())
}

impl ChatRequest {
    /// Parses, checks and counts a request body. CPU-bound: run it off the async executor.
    pub fn parse(body: &[u8]) -> Result<Self, GatewayError> {
        let body: Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        let Value::Object(fields) = body else {
            return Err(bad("the body must be a JSON object"));
        };
        for name in fields.keys() {
            if !PASSED.contains(&name.as_str()) && !PRICED.contains(&name.as_str()) {
                return Err(bad(refusal(name)));
            }
        }
        let slug = fields
            .get("model")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("\"model\" is required"))?
            .to_string();
        let messages = fields
            .get("messages")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty())
            .ok_or_else(|| bad("\"messages\" must be a non-empty array"))?;
        let requested = fields
            .get("max_completion_tokens")
            .or(fields.get("max_tokens"));
        let requested_max_tokens = match requested {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("max_tokens must be a positive integer"))?,
            ),
        };
        let choices = match fields.get("n") {
            None | Some(Value::Null) => 1,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=MAX_CHOICES).contains(n))
                .ok_or_else(|| bad(format!("n must be an integer from 1 to {MAX_CHOICES}")))?,
        } as u32;
        let stream = match fields.get("stream") {
            None | Some(Value::Null) => false,
            Some(v) => v.as_bool().ok_or_else(|| bad("stream must be a boolean"))?,
        };

        let mut prompt_tokens = tokens::prompt_tokens(messages);
        for (i, message) in messages.iter().enumerate() {
            prompt_tokens += check_message(i, message)?;
        }
        let mut forwarded = Map::new();
        for name in PASSED {
            if let Some(v) = fields.get(*name) {
                forwarded.insert(name.to_string(), v.clone());
            }
        }
        if let Some(tools) = fields.get("tools").filter(|t| !t.is_null()) {
            let list = tools
                .as_array()
                .ok_or_else(|| bad("tools must be an array"))?;
            if list
                .iter()
                .any(|t| t.get("type").and_then(Value::as_str) != Some("function"))
            {
                return Err(bad("only tools of type \"function\" are accepted"));
            }
            // Tool definitions reach the model as prompt text: priced as their JSON.
            prompt_tokens += tokens::text_tokens(&tools.to_string());
            forwarded.insert("tools".into(), tools.clone());
        }
        if let Some(format) = fields.get("response_format").filter(|f| !f.is_null()) {
            match format.get("type").and_then(Value::as_str) {
                Some("text" | "json_object") => {}
                Some("json_schema") => {
                    prompt_tokens += tokens::text_tokens(&format["json_schema"].to_string())
                }
                _ => {
                    return Err(bad(
                        "response_format.type must be text, json_object or json_schema",
                    ))
                }
            }
            forwarded.insert("response_format".into(), format.clone());
        }
        match fields.get("service_tier").and_then(Value::as_str) {
            None | Some("auto" | "default") => {}
            Some(tier) => {
                return Err(bad(format!(
                    "service_tier {tier:?} is billed above our price: use \"auto\" or leave it out"
                )))
            }
        }
        forwarded.insert("messages".into(), Value::Array(messages.clone()));
        if choices > 1 {
            forwarded.insert("n".into(), Value::from(choices));
        }
        if stream {
            forwarded.insert("stream".into(), Value::Bool(true));
        }
        Ok(ChatRequest {
            slug,
            body: Value::Object(forwarded),
            prompt_tokens,
            requested_max_tokens,
            choices,
            stream,
        })
    }
}

/// Why a top-level field is refused.
fn refusal(name: &str) -> String {
    let why = match name {
        "audio" | "modalities" => "audio output is not sold here",
        "web_search_options" => "web search is billed per call upstream and not sold here",
        "prediction" => "predicted outputs are billed upstream and not sold here",
        "functions" | "function_call" => "use tools and tool_choice instead",
        "store" | "metadata" => "requests are not stored upstream",
        _ => "it is not priced here",
    };
    format!("\"{name}\" is not accepted: {why}")
}

/// Checks one message against the allowlist; returns the tokens of the parts
/// [`tokens::prompt_tokens`] does not count (assistant tool calls, tool call ids).
fn check_message(i: usize, message: &Value) -> Result<u64, GatewayError> {
    let fields = message
        .as_object()
        .ok_or_else(|| bad(format!("messages[{i}] must be an object")))?;
    if let Some(name) = fields
        .keys()
        .find(|k| !MESSAGE_FIELDS.contains(&k.as_str()))
    {
        return Err(bad(format!(
            "messages[{i}].{name} is not accepted: it is not priced here"
        )));
    }
    let role = fields.get("role").and_then(Value::as_str).unwrap_or("");
    if !ROLES.contains(&role) {
        return Err(bad(format!(
            "messages[{i}].role must be one of {}",
            ROLES.join(", ")
        )));
    }
    match fields.get("content") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(Value::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
                if kind != "text" || part.get("text").and_then(Value::as_str).is_none() {
                    return Err(bad(format!(
                        "messages[{i}].content[{j}] is a {kind:?} part: only text parts are accepted (images, audio and files are not priced here)"
                    )));
                }
                if let Some(extra) = part
                    .as_object()
                    .and_then(|p| p.keys().find(|k| *k != "type" && *k != "text"))
                {
                    return Err(bad(format!(
                        "messages[{i}].content[{j}].{extra} is not accepted"
                    )));
                }
            }
        }
        Some(_) => {
            return Err(bad(format!(
                "messages[{i}].content must be a string or an array of text parts"
            )))
        }
    }
    let mut extra = 0;
    for field in ["tool_calls", "tool_call_id", "refusal"] {
        if let Some(value) = fields.get(field).filter(|v| !v.is_null()) {
            extra += match value {
                Value::String(text) => tokens::text_tokens(text),
                other => tokens::text_tokens(&other.to_string()),
            };
        }
    }
    Ok(extra)
}

/// A request priced for its model.
pub struct Priced {
    pub model: Model,
    pub body: Value,
    pub prompt_tokens: u64,
    /// The completion ceiling of each choice.
    pub max_tokens: u32,
    pub choices: u32,
    pub amount: u64,
    pub stream: bool,
}

impl Priced {
    /// Prices `request` for `model`: prompt tokens × input price + `choices` × the token
    /// ceiling × output price, at least the floor.
    pub fn new(model: Model, request: ChatRequest) -> Self {
        let max_tokens = model.max_tokens_for(request.requested_max_tokens);
        Priced {
            amount: model.quote(
                request.prompt_tokens,
                u64::from(max_tokens) * u64::from(request.choices),
            ),
            model,
            body: request.body,
            prompt_tokens: request.prompt_tokens,
            max_tokens,
            choices: request.choices,
            stream: request.stream,
        }
    }

    /// The same call answered whole instead of streamed (nobody is left to stream to).
    pub fn unstreamed(&mut self) {
        self.stream = false;
        if let Some(body) = self.body.as_object_mut() {
            body.remove("stream");
        }
    }

    /// Completion tokens paid for: every choice up to its ceiling.
    pub fn completion_ceiling(&self) -> u64 {
        u64::from(self.max_tokens) * u64::from(self.choices)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: Value) -> Result<ChatRequest, GatewayError> {
        ChatRequest::parse(body.to_string().as_bytes())
    }

    fn user(text: &str) -> Value {
        json!([{ "role": "user", "content": text }])
    }

    #[test]
    fn only_allowlisted_fields_are_forwarded() {
        let request = parse(json!({
            "model": "m", "messages": user("hi"), "temperature": 0.5, "max_tokens": 10,
            "max_completion_tokens": 10, "stream_options": { "include_usage": false },
        }))
        .unwrap();
        let forwarded: Vec<&String> = request.body.as_object().unwrap().keys().collect();
        assert_eq!(forwarded, ["messages", "temperature"]);
        assert_eq!(request.requested_max_tokens, Some(10));
    }

    #[test]
    fn what_is_not_priced_is_refused_by_name() {
        for (field, value) in [
            ("audio", json!({ "voice": "alloy" })),
            ("web_search_options", json!({})),
            ("service_tier", json!("priority")),
            ("prediction", json!({ "type": "content", "content": "x" })),
            ("functions", json!([])),
            ("something_new", json!(1)),
        ] {
            let mut body = json!({ "model": "m", "messages": user("hi") });
            body[field] = value;
            let error = parse(body).unwrap_err().to_string();
            assert!(error.contains(field), "{field}: {error}");
        }
        let image = json!([{ "role": "user", "content": [{ "type": "image_url", "image_url": { "url": "https://x/y.png", "detail": "high" } }] }]);
        let error = parse(json!({ "model": "m", "messages": image }))
            .unwrap_err()
            .to_string();
        assert!(error.contains("image_url"), "{error}");
        let error = parse(json!({ "model": "m", "messages": user("hi"), "n": 128 }))
            .unwrap_err()
            .to_string();
        assert!(error.contains("n must be"), "{error}");
    }

    #[test]
    fn tools_schemas_and_tool_calls_are_priced_as_prompt() {
        let plain = parse(json!({ "model": "m", "messages": user("hi") })).unwrap();
        let description = "x ".repeat(2_000);
        let tools = json!([{ "type": "function", "function": { "name": "f", "description": description } }]);
        let with_tools =
            parse(json!({ "model": "m", "messages": user("hi"), "tools": tools })).unwrap();
        assert!(with_tools.prompt_tokens >= plain.prompt_tokens + 2_000);

        let schema = json!({ "type": "json_schema", "json_schema": { "name": "s", "schema": { "description": description } } });
        let with_schema =
            parse(json!({ "model": "m", "messages": user("hi"), "response_format": schema }))
                .unwrap();
        assert!(with_schema.prompt_tokens >= plain.prompt_tokens + 2_000);

        let call = json!([
            { "role": "user", "content": "hi" },
            { "role": "assistant", "content": null, "tool_calls": [{ "id": "c1", "type": "function", "function": { "name": "f", "arguments": description } }] },
            { "role": "tool", "tool_call_id": "c1", "content": "ok" },
        ]);
        let with_call = parse(json!({ "model": "m", "messages": call })).unwrap();
        assert!(with_call.prompt_tokens >= plain.prompt_tokens + 2_000);
    }
}
