//! The two token movements the program makes, as thin CPI wrappers.
//! `transfer_checked`/`burn_checked` carry the mint's decimals, so they work with SPL Token
//! and Token-2022 alike; which program is allowed is decided by the account constraints.

use anchor_lang::prelude::*;
use anchor_spl::token_interface::{self, BurnChecked, Mint, TransferChecked};

/// Moves `amount` of `mint` from `from` to `to`. `signer_seeds` is empty when `authority`
/// signed the transaction, and the PDA's seeds when the program signs for it.
pub fn transfer<'info>(
    token_program: &AccountInfo<'info>,
    from: &AccountInfo<'info>,
    to: &AccountInfo<'info>,
    mint: &InterfaceAccount<'info, Mint>,
    authority: &AccountInfo<'info>,
    amount: u64,
    signer_seeds: &[&[&[u8]]],
) -> Result<()> {
    let accounts = TransferChecked {
        from: from.clone(),
        mint: mint.to_account_info(),
        to: to.clone(),
        authority: authority.clone(),
    };
    token_interface::transfer_checked(
        CpiContext::new_with_signer(token_program.key(), accounts, signer_seeds),
        amount,
        mint.decimals,
    )
}

/// Burns `amount` from `from`, signed by its PDA owner.
pub fn burn<'info>(
    token_program: &AccountInfo<'info>,
    from: &AccountInfo<'info>,
    mint: &InterfaceAccount<'info, Mint>,
    authority: &AccountInfo<'info>,
    amount: u64,
    signer_seeds: &[&[&[u8]]],
) -> Result<()> {
    let accounts = BurnChecked {
        mint: mint.to_account_info(),
        from: from.clone(),
        authority: authority.clone(),
    };
    token_interface::burn_checked(
        CpiContext::new_with_signer(token_program.key(), accounts, signer_seeds),
        amount,
        mint.decimals,
    )
}
