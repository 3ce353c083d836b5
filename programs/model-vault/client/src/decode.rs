//! model-vault instructions read back from a transaction, for indexers: the discriminator and
//! the arguments by the program's own Anchor types, the accounts by their place in its
//! `Accounts` structs. The places are written once here and checked against the builders
//! (which lay accounts out with the same structs) by this crate's tests.

use anchor_lang::{AnchorDeserialize, Discriminator};
use model_vault::instruction as ix;

/// A model-vault instruction with the accounts and arguments an indexer records. `K` is however
/// the caller holds an account key (a `Pubkey`, a base58 string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VaultInstruction<K> {
    Initialize {
        admin: K,
    },
    UpdateConfig {
        admin: K,
    },
    RegisterModel {
        creator: K,
        model: K,
    },
    UpdateModel {
        creator: K,
        model: K,
    },
    TokenizeModel {
        creator: K,
        model: K,
        /// The model's token mint.
        mint: K,
        /// The model's revenue vault (USDC).
        vault: K,
        /// The pool's USDC reserve.
        pool_quote_vault: K,
    },
    Buy {
        buyer: K,
        model: K,
        usdc_in: u64,
        min_tokens_out: u64,
    },
    Sell {
        seller: K,
        model: K,
        tokens_in: u64,
        min_usdc_out: u64,
    },
    BuybackAndBurn {
        model: K,
    },
    ClaimCreatorRevenue {
        creator: K,
        model: K,
    },
    ReleaseHeldRevenue {
        treasury: K,
        model: K,
        amount: u64,
    },
}

/// Where `Market` (the composite every trading instruction starts its pool accounts with) keeps
/// the model account.
const MARKET_MODEL: usize = 2;

/// Decodes one model-vault instruction; `None` when `data` is no instruction of this program
/// or `accounts` is shorter than its account list.
pub fn decode<K: Clone>(data: &[u8], accounts: &[K]) -> Option<VaultInstruction<K>> {
    let at = |i: usize| accounts.get(i).cloned();
    use VaultInstruction as V;
    Some(match discriminated(data)? {
        (ix::Initialize::DISCRIMINATOR, _) => V::Initialize { admin: at(0)? },
        (ix::UpdateConfig::DISCRIMINATOR, _) => V::UpdateConfig { admin: at(0)? },
        (ix::RegisterModel::DISCRIMINATOR, _) => V::RegisterModel {
            creator: at(0)?,
            model: at(2)?,
        },
        (ix::UpdateModel::DISCRIMINATOR, _) => V::UpdateModel {
            creator: at(0)?,
            model: at(2)?,
        },
        (ix::TokenizeModel::DISCRIMINATOR, _) => V::TokenizeModel {
            creator: at(0)?,
            model: at(2)?,
            mint: at(4)?,
            pool_quote_vault: at(6)?,
            vault: at(8)?,
        },
        (ix::Buy::DISCRIMINATOR, args) => {
            let ix::Buy {
                usdc_in,
                min_tokens_out,
            } = read(args)?;
            V::Buy {
                buyer: at(0)?,
                model: at(1 + MARKET_MODEL)?,
                usdc_in,
                min_tokens_out,
            }
        }
        (ix::Sell::DISCRIMINATOR, args) => {
            let ix::Sell {
                tokens_in,
                min_usdc_out,
            } = read(args)?;
            V::Sell {
                seller: at(0)?,
                model: at(1 + MARKET_MODEL)?,
                tokens_in,
                min_usdc_out,
            }
        }
        (ix::BuybackAndBurn::DISCRIMINATOR, _) => V::BuybackAndBurn {
            model: at(MARKET_MODEL)?,
        },
        (ix::ClaimCreatorRevenue::DISCRIMINATOR, _) => V::ClaimCreatorRevenue {
            creator: at(0)?,
            model: at(2)?,
        },
        (ix::ReleaseHeldRevenue::DISCRIMINATOR, args) => {
            let ix::ReleaseHeldRevenue { amount } = read(args)?;
            V::ReleaseHeldRevenue {
                treasury: at(0)?,
                model: at(2)?,
                amount,
            }
        }
        _ => return None,
    })
}

/// Every instruction's discriminator, so `decode` can split one off before matching.
const DISCRIMINATORS: [&[u8]; 10] = [
    ix::Initialize::DISCRIMINATOR,
    ix::UpdateConfig::DISCRIMINATOR,
    ix::RegisterModel::DISCRIMINATOR,
    ix::UpdateModel::DISCRIMINATOR,
    ix::TokenizeModel::DISCRIMINATOR,
    ix::Buy::DISCRIMINATOR,
    ix::Sell::DISCRIMINATOR,
    ix::BuybackAndBurn::DISCRIMINATOR,
    ix::ClaimCreatorRevenue::DISCRIMINATOR,
    ix::ReleaseHeldRevenue::DISCRIMINATOR,
];

fn discriminated(data: &[u8]) -> Option<(&'static [u8], &[u8])> {
    DISCRIMINATORS
        .into_iter()
        .find_map(|d| Some((d, data.strip_prefix(d)?)))
}

/// Arguments as the program reads them (trailing bytes allowed, as Anchor allows them).
fn read<T: AnchorDeserialize>(mut args: &[u8]) -> Option<T> {
    T::deserialize(&mut args).ok()
}

#[cfg(test)]
mod tests {
    //! Every instruction built by this crate's builders decodes back to the accounts and
    //! arguments it was built with: the places above match the program's `Accounts` structs.

    use super::{decode, VaultInstruction as V};
    use crate::{default_params, Protocol};
    use anchor_lang::prelude::Pubkey;
    use model_vault::{ConfigUpdate, ModelUpdate};
    use solana_instruction::Instruction;

    fn decoded(ix: Instruction) -> V<Pubkey> {
        let keys: Vec<Pubkey> = ix.accounts.iter().map(|m| m.pubkey).collect();
        decode(&ix.data, &keys).expect("a model-vault instruction decodes")
    }

    #[test]
    fn every_builder_decodes_back_to_its_accounts_and_arguments() {
        let (treasury, admin, creator, trader) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        let protocol = Protocol::new(Pubkey::new_unique(), treasury);
        let keys = protocol.model("demo/decoded");
        let model = keys.model;
        let (usdc, tokens) = (Pubkey::new_unique(), Pubkey::new_unique());

        let cases = [
            (
                protocol.initialize(&admin, default_params()),
                V::Initialize { admin },
            ),
            (
                protocol.update_config(
                    &admin,
                    ConfigUpdate {
                        admin: None,
                        treasury: None,
                        params: None,
                        paused: Some(true),
                    },
                ),
                V::UpdateConfig { admin },
            ),
            (
                protocol.register(&creator, &keys, 1_000),
                V::RegisterModel { creator, model },
            ),
            (
                protocol.update_model(
                    &creator,
                    &keys,
                    ModelUpdate {
                        creator: None,
                        creator_share_bps: Some(10),
                    },
                ),
                V::UpdateModel { creator, model },
            ),
            (
                protocol.tokenize(&creator, &keys, "Decoded", "DEC", "https://x/y.json"),
                V::TokenizeModel {
                    creator,
                    model,
                    mint: keys.mint,
                    vault: keys.vault,
                    pool_quote_vault: keys.pool_quote_vault,
                },
            ),
            (
                protocol.buy(&keys, &trader, &usdc, &tokens, 7, 3),
                V::Buy {
                    buyer: trader,
                    model,
                    usdc_in: 7,
                    min_tokens_out: 3,
                },
            ),
            (
                protocol.sell(&keys, &trader, &tokens, &usdc, 11, 5),
                V::Sell {
                    seller: trader,
                    model,
                    tokens_in: 11,
                    min_usdc_out: 5,
                },
            ),
            (
                protocol.buyback_and_burn(&keys),
                V::BuybackAndBurn { model },
            ),
            (
                protocol.claim_creator_revenue(&keys, &creator, &usdc),
                V::ClaimCreatorRevenue { creator, model },
            ),
            (
                protocol.release_held_revenue(&keys, 42),
                V::ReleaseHeldRevenue {
                    treasury,
                    model,
                    amount: 42,
                },
            ),
        ];
        for (ix, expected) in cases {
            assert_eq!(decoded(ix), expected);
        }
    }

    #[test]
    fn foreign_data_and_short_account_lists_decode_to_nothing() {
        let protocol = Protocol::new(Pubkey::new_unique(), Pubkey::new_unique());
        let keys = protocol.model("demo/short");
        let ix = protocol.release_held_revenue(&keys, 1);
        let accounts: Vec<Pubkey> = ix.accounts.iter().map(|m| m.pubkey).collect();
        assert_eq!(decode(&ix.data, &accounts[..2]), None);
        assert_eq!(decode(&[9; 16], &accounts), None);
        // A release whose amount is cut short is not a release of some other amount.
        assert_eq!(decode(&ix.data[..ix.data.len() - 1], &accounts), None);
    }
}
