//! A transaction as the decoders see it: account keys resolved, every instruction (top-level
//! and inner) with its path in the invocation tree, and the token balances around it.

use chrono::{DateTime, Utc};

/// One instruction and where it sits: `"2"` is the third top-level instruction, `"2.0"` the
/// first instruction it invoked, `"2.0.1"` the second one that invoked, and so on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    pub path: String,
    pub program: String,
    pub accounts: Vec<String>,
    pub data: Vec<u8>,
}

/// An SPL token account's balance, before or after the transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBalance {
    pub account: String,
    pub mint: String,
    pub owner: Option<String>,
    pub amount: u64,
    pub decimals: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawTx {
    pub signature: String,
    pub slot: u64,
    pub block_time: Option<DateTime<Utc>>,
    pub index: u32,
    pub success: bool,
    pub instructions: Vec<Instruction>,
    pub pre_token_balances: Vec<TokenBalance>,
    pub post_token_balances: Vec<TokenBalance>,
}

/// Compiled instructions as chains deliver them: indexes into the account keys.
pub struct Compiled<'a> {
    pub program_index: u8,
    pub accounts: &'a [u8],
    pub data: &'a [u8],
}

impl RawTx {
    /// Lays out top-level instructions and their inner instructions (grouped by top-level
    /// index, each with its stack height, top level being 1) as one list with paths.
    pub fn instructions_from_compiled<'a>(
        keys: &[String],
        top_level: impl IntoIterator<Item = Compiled<'a>>,
        inner: impl Fn(usize) -> Vec<(Compiled<'a>, u32)>,
    ) -> Vec<Instruction> {
        let resolve = |c: &Compiled| Instruction {
            path: String::new(),
            program: keys
                .get(c.program_index as usize)
                .cloned()
                .unwrap_or_default(),
            accounts: c
                .accounts
                .iter()
                .map(|i| keys.get(*i as usize).cloned().unwrap_or_default())
                .collect(),
            data: c.data.to_vec(),
        };
        let mut out = Vec::new();
        for (i, top) in top_level.into_iter().enumerate() {
            out.push(Instruction {
                path: i.to_string(),
                ..resolve(&top)
            });
            // Position below the top-level instruction of the last inner instruction seen.
            let mut below: Vec<usize> = Vec::new();
            for (ix, height) in inner(i) {
                let depth = height.saturating_sub(1).max(1) as usize;
                if depth > below.len() {
                    below.resize(depth, 0);
                } else {
                    below.truncate(depth);
                    below[depth - 1] += 1;
                }
                let mut path = i.to_string();
                for p in &below {
                    path.push('.');
                    path.push_str(&p.to_string());
                }
                out.push(Instruction {
                    path,
                    ..resolve(&ix)
                });
            }
        }
        out
    }
}

/// A transaction of top-level instructions only (program, accounts, data), e.g. one built
/// locally; followers use [`RawTx::instructions_from_compiled`] for what chains deliver.
pub fn raw_from_instructions(
    signature: &str,
    slot: u64,
    instructions: Vec<(String, Vec<String>, Vec<u8>)>,
    pre_token_balances: Vec<TokenBalance>,
    post_token_balances: Vec<TokenBalance>,
    success: bool,
) -> RawTx {
    RawTx {
        signature: signature.to_string(),
        slot,
        block_time: None,
        index: 0,
        success,
        instructions: instructions
            .into_iter()
            .enumerate()
            .map(|(i, (program, accounts, data))| Instruction {
                path: i.to_string(),
                program,
                accounts,
                data,
            })
            .collect(),
        pre_token_balances,
        post_token_balances,
    }
}
