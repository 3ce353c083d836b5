//! Reading SPL Token and Token-2022 accounts (both share the base layouts).

use solana_account::Account;
use solana_pubkey::Pubkey;
use spl_token_2022_interface::{
    extension::StateWithExtensions,
    state::{Account as TokenAccount, Mint},
};

pub struct ParsedTokenAccount {
    pub mint: Pubkey,
    pub owner: Pubkey,
    pub amount: u64,
    pub delegate: Option<Pubkey>,
}

pub fn is_token_program(owner: &Pubkey) -> bool {
    *owner == spl_token_interface::ID || *owner == spl_token_2022_interface::ID
}

pub fn parse_token_account(account: &Account) -> Option<ParsedTokenAccount> {
    if !is_token_program(&account.owner) {
        return None;
    }
    let state = StateWithExtensions::<TokenAccount>::unpack(&account.data).ok()?;
    Some(ParsedTokenAccount {
        mint: Pubkey::from(state.base.mint.to_bytes()),
        owner: Pubkey::from(state.base.owner.to_bytes()),
        amount: state.base.amount,
        delegate: state.base.delegate.into(),
    })
}

pub fn mint_decimals(account: &Account) -> Option<u8> {
    mint_supply(account).map(|(_, decimals)| decimals)
}

/// (supply, decimals) of a mint account.
pub fn mint_supply(account: &Account) -> Option<(u64, u8)> {
    if !is_token_program(&account.owner) {
        return None;
    }
    StateWithExtensions::<Mint>::unpack(&account.data)
        .ok()
        .map(|m| (m.base.supply, m.base.decimals))
}

/// `amount` in whole tokens, as the RPC's `uiAmountString` spells it (no trailing zeros).
pub fn ui_amount_string(amount: u64, decimals: u8) -> String {
    let d = usize::from(decimals);
    if d == 0 {
        return amount.to_string();
    }
    let s = format!("{amount:0>width$}", width = d + 1);
    let (int, frac) = s.split_at(s.len() - d);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}
