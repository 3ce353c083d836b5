//! model-vault instructions, decoded with the program's own types
//! ([`model_vault_client::decode`]): the discriminator names the instruction, its `Accounts`
//! struct names the accounts.

use std::sync::LazyLock;

use ledger::{TrackedRow, VaultEventKind, VaultEventRow};
use model_vault_client::VaultInstruction;

use super::raw::{Instruction, RawTx};

/// The program these events come from.
pub fn program_id() -> &'static str {
    static ID: LazyLock<String> = LazyLock::new(|| model_vault_client::PROGRAM_ID.to_string());
    &ID
}

/// The model-vault instructions of `tx` (top-level or invoked by another program), decoded.
fn instructions(tx: &RawTx) -> impl Iterator<Item = (VaultInstruction<String>, &Instruction)> {
    tx.instructions
        .iter()
        .filter(|ix| ix.program == program_id())
        .filter_map(|ix| Some((model_vault_client::decode(&ix.data, &ix.accounts)?, ix)))
}

/// Accounts a successful `tokenize_model` in `tx` brings into being: the model's revenue vault
/// and its pool's USDC reserve (payments into them need not touch the program), and its token
/// mint (a holder's burn touches only the mint and the holder's account). A follower must watch
/// them by address from this transaction on.
pub fn new_accounts(tx: &RawTx) -> Vec<TrackedRow> {
    if !tx.success {
        return Vec::new();
    }
    instructions(tx)
        .filter_map(|(decoded, _)| match decoded {
            VaultInstruction::TokenizeModel {
                model,
                mint,
                vault,
                pool_quote_vault,
                ..
            } => Some([
                (vault, format!("revenue vault of model {model}")),
                (
                    pool_quote_vault,
                    format!("pool USDC reserve of model {model}"),
                ),
                (mint, format!("token mint of model {model}")),
            ]),
            _ => None,
        })
        .flatten()
        .map(|(address, reason)| TrackedRow {
            address,
            since_block: tx.slot,
            reason,
            tx: tx.signature.clone(),
        })
        .collect()
}

/// Every model-vault instruction in `tx`, top-level or invoked by another program.
pub fn events(tx: &RawTx) -> Vec<VaultEventRow> {
    use VaultEventKind as K;
    use VaultInstruction as V;
    instructions(tx)
        .map(|(decoded, ix)| {
            // (kind, actor, model, USDC amount, token amount)
            let (kind, actor, model, usdc_amount, token_amount) = match decoded {
                V::Initialize { admin } => (K::Initialize, Some(admin), None, None, None),
                V::UpdateConfig { admin } => (K::UpdateConfig, Some(admin), None, None, None),
                V::RegisterModel { creator, model } => {
                    (K::Register, Some(creator), Some(model), None, None)
                }
                V::UpdateModel { creator, model } => {
                    (K::UpdateModel, Some(creator), Some(model), None, None)
                }
                V::TokenizeModel { creator, model, .. } => {
                    (K::Tokenize, Some(creator), Some(model), None, None)
                }
                V::Buy {
                    buyer,
                    model,
                    usdc_in,
                    ..
                } => (K::Buy, Some(buyer), Some(model), Some(usdc_in), None),
                V::Sell {
                    seller,
                    model,
                    tokens_in,
                    ..
                } => (K::Sell, Some(seller), Some(model), None, Some(tokens_in)),
                V::BuybackAndBurn { model } => (K::Buyback, None, Some(model), None, None),
                V::ClaimCreatorRevenue { creator, model } => {
                    (K::Claim, Some(creator), Some(model), None, None)
                }
                V::ReleaseHeldRevenue {
                    treasury,
                    model,
                    amount,
                } => (K::Release, Some(treasury), Some(model), Some(amount), None),
            };
            VaultEventRow {
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
            }
        })
        .collect()
}
