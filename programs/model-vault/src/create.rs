//! Creating the program's PDAs so that nobody can block them by sending lamports first.
//!
//! Anchor 1.2's `init` creates at an address that already holds lamports with the system
//! program's `CreateAccountAllowPrefund` (SIMD-0312), which runtimes before Agave 4.0 do not
//! have (`InvalidInstructionData`): there, one lamport sent to a model's PDA would block its
//! registration or tokenization for good. These create as the SPL ATA program does:
//! `create_account` at an empty address; else top it up to rent-exempt, `allocate`, `assign`
//! — instructions every runtime has.

use anchor_lang::{prelude::*, system_program};

use crate::error::ModelVaultError;

/// Creates `target`, the PDA of `seeds` (signed for here), with `space` bytes owned by
/// `owner`, paid by `payer`.
pub(crate) fn create_pda<'info>(
    payer: &AccountInfo<'info>,
    target: &AccountInfo<'info>,
    space: usize,
    owner: &Pubkey,
    seeds: &[&[u8]],
) -> Result<()> {
    // Lamports are all anyone can have given it: anything else means it exists.
    require!(
        target.owner == &system_program::ID && target.data_is_empty(),
        ModelVaultError::AccountExists
    );
    let rent = Rent::get()?.minimum_balance(space).max(1);
    let signer = &[seeds];
    let held = target.lamports();
    if held == 0 {
        return system_program::create_account(
            CpiContext::new_with_signer(
                system_program::ID,
                system_program::CreateAccount {
                    from: payer.clone(),
                    to: target.clone(),
                },
                signer,
            ),
            rent,
            space as u64,
            owner,
        );
    }
    if rent > held {
        system_program::transfer(
            CpiContext::new(
                system_program::ID,
                system_program::Transfer {
                    from: payer.clone(),
                    to: target.clone(),
                },
            ),
            rent - held,
        )?;
    }
    system_program::allocate(
        CpiContext::new_with_signer(
            system_program::ID,
            system_program::Allocate {
                account_to_allocate: target.clone(),
            },
            signer,
        ),
        space as u64,
    )?;
    system_program::assign(
        CpiContext::new_with_signer(
            system_program::ID,
            system_program::Assign {
                account_to_assign: target.clone(),
            },
            signer,
        ),
        owner,
    )
}

/// Creates `target` as the program account `value` (discriminator and data), at the PDA of
/// `seeds`.
pub(crate) fn create_program_account<'info, T: AccountSerialize + Space>(
    payer: &AccountInfo<'info>,
    target: &AccountInfo<'info>,
    seeds: &[&[u8]],
    value: &T,
) -> Result<()> {
    create_pda(payer, target, 8 + T::INIT_SPACE, &crate::ID, seeds)?;
    let mut data = target.try_borrow_mut_data()?;
    value.try_serialize(&mut &mut data[..])
}
