//! Decoding against instructions built by the real SPL Token and model-vault client code.

use anchor_lang::{InstructionData, ToAccountMetas};
use indexer::decode::{self, raw_from_instructions, token::TOKEN_PROGRAM, TokenBalance};
use solana_pubkey::Pubkey;

fn key() -> Pubkey {
    Pubkey::new_unique()
}

fn balance(account: &Pubkey, mint: &Pubkey, owner: &Pubkey, amount: u64) -> TokenBalance {
    TokenBalance {
        account: account.to_string(),
        mint: mint.to_string(),
        owner: Some(owner.to_string()),
        amount,
        decimals: 6,
    }
}

/// A transaction from solana instructions (top level only) and its token balances.
fn tx(
    ixs: &[built::Ix],
    pre: Vec<TokenBalance>,
    post: Vec<TokenBalance>,
    success: bool,
) -> decode::RawTx {
    raw_from_instructions(
        "sig",
        42,
        ixs.iter()
            .map(|i| (i.0.clone(), i.1.clone(), i.2.clone()))
            .collect(),
        pre,
        post,
        success,
    )
}

/// Instructions as the decoders take them: (program, accounts, data).
mod built {
    /// (program, accounts, data)
    pub struct Ix(pub String, pub Vec<String>, pub Vec<u8>);

    pub fn from(ix: anchor_lang::solana_program::instruction::Instruction) -> Ix {
        Ix(
            ix.program_id.to_string(),
            ix.accounts.iter().map(|m| m.pubkey.to_string()).collect(),
            ix.data,
        )
    }
}
use built::{from, Ix};

/// USDC, two holders and their token accounts.
struct Parties {
    usdc: Pubkey,
    alice: Pubkey,
    bob: Pubkey,
    alice_ata: Pubkey,
    bob_ata: Pubkey,
}

impl Parties {
    fn new() -> Self {
        Parties {
            usdc: key(),
            alice: key(),
            bob: key(),
            alice_ata: key(),
            bob_ata: key(),
        }
    }
}

#[test]
fn inner_instruction_paths_follow_the_invocation_tree() {
    let keys: Vec<String> = (0..4).map(|i| format!("k{i}")).collect();
    let compiled = |p: u8| decode::Compiled {
        program_index: p,
        accounts: &[],
        data: &[],
    };
    let ixs = decode::RawTx::instructions_from_compiled(&keys, [compiled(0), compiled(1)], |top| {
        if top == 0 {
            vec![
                (compiled(1), 2),
                (compiled(2), 3),
                (compiled(3), 3),
                (compiled(2), 2),
                (compiled(3), 4),
            ]
        } else {
            vec![]
        }
    });
    let paths: Vec<&str> = ixs.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["0", "0.0", "0.0.0", "0.0.1", "0.1", "0.1.0.0", "1"]);
    assert_eq!(ixs[2].program, "k2");
}

#[test]
fn transfer_checked_and_plain_transfer_become_rows_with_owners_and_mint() {
    let Parties {
        usdc,
        alice,
        bob,
        alice_ata,
        bob_ata,
    } = Parties::new();
    let t = spl_token_interface::ID;
    let checked = spl_token_interface::instruction::transfer_checked(
        &t,
        &alice_ata,
        &usdc,
        &bob_ata,
        &alice,
        &[],
        1_500_000,
        6,
    )
    .unwrap();
    let plain =
        spl_token_interface::instruction::transfer(&t, &bob_ata, &alice_ata, &bob, &[], 500_000)
            .unwrap();
    let raw = tx(
        &[from(checked), from(plain)],
        vec![
            balance(&alice_ata, &usdc, &alice, 10_000_000),
            balance(&bob_ata, &usdc, &bob, 0),
        ],
        vec![
            balance(&alice_ata, &usdc, &alice, 9_000_000),
            balance(&bob_ata, &usdc, &bob, 1_000_000),
        ],
        true,
    );
    let d = decode::decode(&raw);
    assert_eq!(d.transfers.len(), 2);
    let (a, b) = (&d.transfers[0], &d.transfers[1]);
    assert_eq!(
        (a.leg.as_str(), a.kind.as_ref(), a.amount, a.decimals),
        ("0", "transfer_checked", 1_500_000, Some(6))
    );
    assert_eq!(a.source_owner.as_deref(), Some(alice.to_string().as_str()));
    assert_eq!(
        a.destination_owner.as_deref(),
        Some(bob.to_string().as_str())
    );
    assert_eq!(
        (b.leg.as_str(), b.kind.as_ref(), b.amount),
        ("1", "transfer", 500_000)
    );
    assert_eq!(
        b.mint,
        usdc.to_string(),
        "a plain Transfer's mint comes from the balances"
    );
    assert_eq!(b.program, TOKEN_PROGRAM);
    assert!(d.discrepancies.is_empty(), "{:?}", d.discrepancies);
}

#[test]
fn a_batch_is_decoded_leg_by_leg_and_a_truncated_one_stops_cleanly() {
    let Parties {
        usdc,
        alice,
        bob,
        alice_ata,
        bob_ata,
    } = Parties::new();
    let t = spl_token_interface::ID;
    let legs = [
        spl_token_interface::instruction::transfer_checked(
            &t,
            &alice_ata,
            &usdc,
            &bob_ata,
            &alice,
            &[],
            2_000_000,
            6,
        )
        .unwrap(),
        spl_token_interface::instruction::transfer_checked(
            &t,
            &alice_ata,
            &usdc,
            &bob_ata,
            &alice,
            &[],
            3_000_000,
            6,
        )
        .unwrap(),
        spl_token_interface::instruction::burn_checked(
            &t,
            &bob_ata,
            &usdc,
            &bob,
            &[],
            1_000_000,
            6,
        )
        .unwrap(),
    ];
    let mut data = vec![255u8];
    let mut accounts = Vec::new();
    for ix in &legs {
        data.push(ix.accounts.len() as u8);
        data.push(ix.data.len() as u8);
        data.extend_from_slice(&ix.data);
        accounts.extend(ix.accounts.iter().map(|m| m.pubkey.to_string()));
    }
    let batch = Ix(t.to_string(), accounts.clone(), data.clone());
    let pre = vec![
        balance(&alice_ata, &usdc, &alice, 5_000_000),
        balance(&bob_ata, &usdc, &bob, 0),
    ];
    let post = vec![
        balance(&alice_ata, &usdc, &alice, 0),
        balance(&bob_ata, &usdc, &bob, 4_000_000),
    ];
    let d = decode::decode(&tx(&[batch], pre.clone(), post, true));
    let legs: Vec<(&str, &str, u64)> = d
        .transfers
        .iter()
        .map(|r| (r.leg.as_str(), r.kind.as_ref(), r.amount))
        .collect();
    assert_eq!(
        legs,
        [
            ("0#0", "transfer_checked", 2_000_000),
            ("0#1", "transfer_checked", 3_000_000),
            ("0#2", "burn_checked", 1_000_000)
        ]
    );
    assert!(d.discrepancies.is_empty(), "{:?}", d.discrepancies);

    // cut inside the third item: the first two are decoded, nothing is invented
    let truncated = Ix(t.to_string(), accounts, data[..data.len() - 3].to_vec());
    let d = decode::decode(&tx(&[truncated], pre.clone(), pre, true));
    assert_eq!(d.transfers.len(), 2);
}

#[test]
fn a_balance_change_no_instruction_explains_is_recorded() {
    let (usdc, alice) = (key(), key());
    let alice_ata = key();
    // balances moved, but by a program we do not decode
    let unknown = Ix(
        key().to_string(),
        vec![alice_ata.to_string()],
        vec![1, 2, 3],
    );
    let d = decode::decode(&tx(
        &[unknown],
        vec![balance(&alice_ata, &usdc, &alice, 10)],
        vec![balance(&alice_ata, &usdc, &alice, 4)],
        true,
    ));
    assert!(d.transfers.is_empty());
    assert_eq!(d.discrepancies.len(), 1);
    assert_eq!(
        (
            d.discrepancies[0].balance_change,
            d.discrepancies[0].decoded_change
        ),
        (-6, 0)
    );
}

#[test]
fn a_failed_transaction_keeps_its_attempted_legs_without_a_discrepancy() {
    let Parties {
        usdc,
        alice,
        bob,
        alice_ata,
        bob_ata,
    } = Parties::new();
    let t = spl_token_interface::ID;
    let ix = spl_token_interface::instruction::transfer_checked(
        &t,
        &alice_ata,
        &usdc,
        &bob_ata,
        &alice,
        &[],
        7,
        6,
    )
    .unwrap();
    let same = vec![
        balance(&alice_ata, &usdc, &alice, 1),
        balance(&bob_ata, &usdc, &bob, 0),
    ];
    let d = decode::decode(&tx(&[from(ix)], same.clone(), same, false));
    assert_eq!(d.transfers.len(), 1);
    assert!(!d.transfers[0].success);
    assert!(d.discrepancies.is_empty());
}

#[test]
fn model_vault_instructions_are_named_through_the_idl() {
    let (buyer, model, treasury) = (key(), key(), key());
    let market = model_vault::accounts::Market {
        config: key(),
        usdc_mint: key(),
        model,
        pool: key(),
        mint: key(),
        pool_token_vault: key(),
        pool_quote_vault: key(),
        token_program: key(),
        usdc_token_program: key(),
    };
    let buy = anchor_lang::solana_program::instruction::Instruction {
        program_id: model_vault::ID,
        accounts: model_vault::accounts::Buy {
            buyer,
            market,
            buyer_usdc: key(),
            buyer_tokens: key(),
        }
        .to_account_metas(None),
        data: model_vault::instruction::Buy {
            usdc_in: 25_000_000,
            min_tokens_out: 1,
        }
        .data(),
    };
    let release = anchor_lang::solana_program::instruction::Instruction {
        program_id: model_vault::ID,
        accounts: model_vault::accounts::ReleaseHeldRevenue {
            treasury,
            config: key(),
            model,
            vault_authority: key(),
            vault: key(),
            treasury_usdc: key(),
            usdc_mint: key(),
            usdc_token_program: key(),
        }
        .to_account_metas(None),
        data: model_vault::instruction::ReleaseHeldRevenue { amount: 50_000_000 }.data(),
    };
    let d = decode::decode(&tx(&[from(buy), from(release)], vec![], vec![], true));
    let events: Vec<_> = d
        .vault_events
        .iter()
        .map(|e| {
            (
                e.kind.as_ref(),
                e.model.clone(),
                e.actor.clone(),
                e.usdc_amount,
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            (
                "buy",
                Some(model.to_string()),
                Some(buyer.to_string()),
                Some(25_000_000)
            ),
            (
                "release",
                Some(model.to_string()),
                Some(treasury.to_string()),
                Some(50_000_000)
            ),
        ]
    );
    assert_eq!(decode::vault::program_id(), model_vault::ID.to_string());
}
