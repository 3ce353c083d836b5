//! model-vault instructions, decoded through the committed IDL (`idls/model_vault.json`):
//! the discriminator names the instruction, the IDL's account order names the accounts.

use std::sync::OnceLock;

use ledger::{TrackedRow, VaultEventKind, VaultEventRow};
use serde_json::Value;

use super::raw::{Instruction, RawTx};

const IDL: &str = include_str!("../../../idls/model_vault.json");

struct IdlInstruction {
    name: String,
    discriminator: Vec<u8>,
    /// Account names in order, composite groups flattened (`market.model`).
    accounts: Vec<String>,
}

struct Idl {
    address: String,
    instructions: Vec<IdlInstruction>,
}

fn idl() -> &'static Idl {
    static IDL_CELL: OnceLock<Idl> = OnceLock::new();
    IDL_CELL.get_or_init(|| {
        let v: Value = serde_json::from_str(IDL).expect("the committed IDL is valid JSON");
        let instructions = v["instructions"]
            .as_array()
            .expect("IDL has instructions")
            .iter()
            .map(|ix| IdlInstruction {
                name: ix["name"].as_str().unwrap_or_default().to_string(),
                discriminator: ix["discriminator"]
                    .as_array()
                    .map(|d| {
                        d.iter()
                            .filter_map(|b| b.as_u64().map(|b| b as u8))
                            .collect()
                    })
                    .unwrap_or_default(),
                accounts: flatten(&ix["accounts"], ""),
            })
            .collect();
        Idl {
            address: v["address"].as_str().unwrap_or_default().to_string(),
            instructions,
        }
    })
}

fn flatten(accounts: &Value, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for a in accounts.as_array().into_iter().flatten() {
        let name = format!("{prefix}{}", a["name"].as_str().unwrap_or_default());
        if a.get("accounts").is_some() {
            out.extend(flatten(&a["accounts"], &format!("{name}.")));
        } else {
            out.push(name);
        }
    }
    out
}

/// The program these events come from.
pub fn program_id() -> &'static str {
    &idl().address
}

/// The model-vault instructions of `tx` (top-level or invoked by another program), each with
/// its IDL definition.
fn instructions(tx: &RawTx) -> impl Iterator<Item = (&'static IdlInstruction, &Instruction)> {
    let idl = idl();
    tx.instructions
        .iter()
        .filter(|ix| ix.program == idl.address)
        .filter_map(|ix| {
            let def = idl
                .instructions
                .iter()
                .find(|d| ix.data.starts_with(&d.discriminator))?;
            Some((def, ix))
        })
}

impl IdlInstruction {
    /// The account the IDL names `name` in `ix`.
    fn account(&self, ix: &Instruction, name: &str) -> Option<String> {
        self.accounts
            .iter()
            .position(|a| a == name)
            .and_then(|i| ix.accounts.get(i).cloned())
    }
}

/// USDC accounts a successful `tokenize_model` in `tx` brings into being: the model's revenue
/// vault and its pool's USDC reserve. Payments into them need not touch the program, so a
/// follower must watch them by address from this transaction on.
pub fn new_accounts(tx: &RawTx) -> Vec<TrackedRow> {
    if !tx.success {
        return Vec::new();
    }
    instructions(tx)
        .filter(|(def, _)| def.name == "tokenize_model")
        .flat_map(|(def, ix)| {
            let model = def.account(ix, "model").unwrap_or_default();
            [
                ("vault", "revenue vault"),
                ("pool_quote_vault", "pool USDC reserve"),
            ]
            .into_iter()
            .filter_map(move |(name, what)| {
                Some(TrackedRow {
                    address: def.account(ix, name)?,
                    since_block: tx.slot,
                    reason: format!("{what} of model {model}"),
                    tx: tx.signature.clone(),
                })
            })
            .collect::<Vec<_>>()
        })
        .collect()
}

/// Every model-vault instruction in `tx`, top-level or invoked by another program.
pub fn events(tx: &RawTx) -> Vec<VaultEventRow> {
    instructions(tx)
        .filter_map(|(def, ix)| {
            let account = |name: &str| def.account(ix, name);
            let args = &ix.data[def.discriminator.len()..];
            let first_u64 = || {
                args.get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes)
            };
            let (kind, actor, model, usdc_amount, token_amount) = match def.name.as_str() {
                "initialize" => (
                    VaultEventKind::Initialize,
                    account("admin"),
                    None,
                    None,
                    None,
                ),
                "update_config" => (
                    VaultEventKind::UpdateConfig,
                    account("admin"),
                    None,
                    None,
                    None,
                ),
                "register_model" => (
                    VaultEventKind::Register,
                    account("creator"),
                    account("model"),
                    None,
                    None,
                ),
                "update_model" => (
                    VaultEventKind::UpdateModel,
                    account("creator"),
                    account("model"),
                    None,
                    None,
                ),
                "tokenize_model" => (
                    VaultEventKind::Tokenize,
                    account("creator"),
                    account("model"),
                    None,
                    None,
                ),
                "buy" => (
                    VaultEventKind::Buy,
                    account("buyer"),
                    account("market.model"),
                    first_u64(),
                    None,
                ),
                "sell" => (
                    VaultEventKind::Sell,
                    account("seller"),
                    account("market.model"),
                    None,
                    first_u64(),
                ),
                "buyback_and_burn" => (
                    VaultEventKind::Buyback,
                    None,
                    account("market.model"),
                    None,
                    None,
                ),
                "claim_creator_revenue" => (
                    VaultEventKind::Claim,
                    account("creator"),
                    account("model"),
                    None,
                    None,
                ),
                "release_held_revenue" => (
                    VaultEventKind::Release,
                    account("treasury"),
                    account("model"),
                    first_u64(),
                    None,
                ),
                _ => return None,
            };
            Some(VaultEventRow {
                signature: tx.signature.clone(),
                ix_path: ix.path.clone(),
                slot: tx.slot,
                block_time: tx.block_time,
                tx_index: tx.index,
                kind,
                model,
                actor,
                usdc_amount,
                token_amount,
                success: tx.success,
            })
        })
        .collect()
}
