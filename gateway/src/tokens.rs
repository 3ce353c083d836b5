//! Prompt token counts with a real BPE tokenizer (o200k_base, the GPT-4o family's), counted
//! the way OpenAI counts chat prompts: each message's role and content plus a fixed framing.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

fn bpe() -> &'static CoreBPE {
    static BPE: OnceLock<CoreBPE> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().expect("the bundled o200k_base vocabulary loads"))
}

/// Tokens of framing per message and for the reply's priming.
const PER_MESSAGE: u64 = 3;
const REPLY_PRIMING: u64 = 3;

/// Prompt tokens of a chat request's `messages`.
pub fn prompt_tokens(messages: &[Value]) -> u64 {
    let bpe = bpe();
    let count = |text: &str| bpe.encode_ordinary(text).len() as u64;
    let mut total = REPLY_PRIMING;
    for message in messages {
        total += PER_MESSAGE;
        if let Some(role) = message.get("role").and_then(Value::as_str) {
            total += count(role);
        }
        if let Some(name) = message.get("name").and_then(Value::as_str) {
            total += count(name) + 1;
        }
        match message.get("content") {
            Some(Value::String(text)) => total += count(text),
            // Content parts: the text parts count; other parts are priced as their JSON.
            Some(Value::Array(parts)) => {
                for part in parts {
                    match part.get("text").and_then(Value::as_str) {
                        Some(text) => total += count(text),
                        None => total += count(&part.to_string()),
                    }
                }
            }
            _ => {}
        }
    }
    total
}

/// Tokens of a piece of generated text (used when a stream breaks before usage arrives).
pub fn text_tokens(text: &str) -> u64 {
    bpe().encode_ordinary(text).len() as u64
}
