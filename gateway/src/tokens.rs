//! Prompt token counts with a real BPE tokenizer (o200k_base, the GPT-4o family's), counted
//! the way OpenAI counts chat prompts: each message's role and content plus a fixed framing.
//!
//! BPE merging is quadratic in the length of one pre-tokenized piece, and a run of a single
//! character is one piece (128 KB of "a" takes seconds). So text is counted in chunks of at
//! most [`CHUNK`] bytes, cut before whitespace where there is some (where pieces begin, so
//! ordinary text counts the same), anywhere else otherwise: the work is linear in the input.

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

/// Largest slice of text handed to the tokenizer at once.
pub const CHUNK: usize = 1024;

/// Prompt tokens of a chat request's `messages`.
pub fn prompt_tokens(messages: &[Value]) -> u64 {
    let count = text_tokens;
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

/// Tokens of `text`, counted chunk by chunk.
pub fn text_tokens(text: &str) -> u64 {
    chunks(text)
        .map(|chunk| bpe().encode_ordinary(chunk).len() as u64)
        .sum()
}

/// `text` cut into slices of at most [`CHUNK`] bytes, each cut made just before a whitespace
/// character in the second half of the window when there is one.
fn chunks(mut text: &str) -> impl Iterator<Item = &str> {
    std::iter::from_fn(move || {
        if text.is_empty() {
            return None;
        }
        if text.len() <= CHUNK {
            return Some(std::mem::take(&mut text));
        }
        let mut end = CHUNK;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut start = CHUNK / 2;
        while !text.is_char_boundary(start) {
            start += 1;
        }
        let cut = text[start..end]
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(end, |(i, _)| start + i);
        let (chunk, rest) = text.split_at(cut);
        text = rest;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_counts_as_if_whole() {
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(500);
        assert!(text.len() > 10 * CHUNK);
        assert_eq!(
            text_tokens(&text),
            bpe().encode_ordinary(&text).len() as u64
        );
    }

    #[test]
    fn long_runs_are_cut_into_bounded_chunks() {
        for text in [
            "a".repeat(300_000),
            "é".repeat(100_000),
            "€".repeat(100_000),
            "ab c".repeat(50_000),
        ] {
            let parts: Vec<&str> = chunks(&text).collect();
            assert!(parts.iter().all(|p| !p.is_empty() && p.len() <= CHUNK));
            assert_eq!(parts.concat(), text, "nothing is lost or reordered");
            // A run is counted, not estimated: at least one token per chunk.
            assert!(text_tokens(&text) >= parts.len() as u64);
        }
    }
}
