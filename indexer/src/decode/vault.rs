//! model-vault instructions, decoded through the committed IDL (`idls/model_vault.json`):
//! the discriminator names the instruction, the IDL's account order names the accounts.

use std::sync::OnceLock;

use ledger::VaultEventRow;
use serde_json::Value;

use super::raw::RawTx;

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

/// Every model-vault instruction in `tx`, top-level or invoked by another program.
pub fn events(tx: &RawTx) -> Vec<VaultEventRow> {
    let idl = idl();
    tx.instructions
        .iter()
        .filter(|ix| ix.program == idl.address)
        .filter_map(|ix| {
            let def = idl
                .instructions
                .iter()
                .find(|d| ix.data.starts_with(&d.discriminator))?;
            let account = |name: &str| {
                def.accounts
                    .iter()
                    .position(|a| a == name)
                    .and_then(|i| ix.accounts.get(i).cloned())
            };
            let args = &ix.data[def.discriminator.len()..];
            let first_u64 = || {
                args.get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes)
            };
            let (kind, actor, model, usdc_amount, token_amount) = match def.name.as_str() {
                "initialize" => ("initialize", account("admin"), None, None, None),
                "update_config" => ("update_config", account("admin"), None, None, None),
                "register_model" => ("register", account("creator"), account("model"), None, None),
                "update_model" => (
                    "update_model",
                    account("creator"),
                    account("model"),
                    None,
                    None,
                ),
                "tokenize_model" => ("tokenize", account("creator"), account("model"), None, None),
                "buy" => (
                    "buy",
                    account("buyer"),
                    account("market.model"),
                    first_u64(),
                    None,
                ),
                "sell" => (
                    "sell",
                    account("seller"),
                    account("market.model"),
                    None,
                    first_u64(),
                ),
                "buyback_and_burn" => ("buyback", None, account("market.model"), None, None),
                "claim_creator_revenue" => {
                    ("claim", account("creator"), account("model"), None, None)
                }
                "release_held_revenue" => (
                    "release",
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
                kind: kind.to_string(),
                model,
                actor,
                usdc_amount,
                token_amount,
                success: tx.success,
            })
        })
        .collect()
}
