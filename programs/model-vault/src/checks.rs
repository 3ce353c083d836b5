//! Account checks the trading and revenue instructions run by hand, because the ones Anchor
//! generates cost more than the rest of those instructions' own work on SBF:
//!
//! - a PDA whose bump is stored is one sha256 (~150 CU) instead of the
//!   `create_program_address` syscall (1,500 CU);
//! - an associated token account is found by hashing from bump 255 down, a curve check only
//!   when a hash does not match, instead of `find_program_address` (1,500 CU per bump tried);
//! - writable accounts are compared pairwise instead of through a `HashSet` (whose hasher setup
//!   alone costs thousands of units).
//!
//! Each fails with the error Anchor's own constraint would, so callers and tests see no
//! difference. The `#[account]` constraints they replace stay under `idl-build`, so the IDL
//! still tells clients which seeds make each address.

use anchor_lang::{error::ErrorCode, prelude::*};
use anchor_spl::token_interface::TokenAccount;

use crate::{
    constants::{CONFIG_SEED, MODEL_SEED, VAULT_SEED},
    state::{Config, Model},
};

/// The protocol config is at `["config"]`.
pub fn config(config: &Account<Config>) -> Result<()> {
    pda(config.key(), &[CONFIG_SEED], config.bump)
}

/// `model` is at `["model", model_id]`.
pub fn model(model: &Account<Model>) -> Result<()> {
    pda(
        model.key(),
        &[MODEL_SEED, model.model_id.as_ref()],
        model.bump,
    )
}

/// `account` is the PDA `["vault", model]` that owns the model's revenue vault.
pub fn vault_authority(account: &AccountInfo, model: &Account<Model>) -> Result<()> {
    pda(
        *account.key,
        &[VAULT_SEED, model.key().as_ref()],
        model.vault_bump,
    )
}

/// `key` is this program's PDA of `seeds` with the canonical `bump` stored when it was
/// created. No curve check is needed: that bump was found off the curve then.
pub fn pda<const N: usize>(key: Pubkey, seeds: &[&[u8]; N], bump: u8) -> Result<()> {
    let expected = Pubkey::derive_address(seeds, Some(bump), &crate::ID);
    if expected == key {
        return Ok(());
    }
    Err(Error::from(ErrorCode::ConstraintSeeds).with_pubkeys((key, expected)))
}

/// `account` is `wallet`'s associated account of `mint` under `token_program` (which must own
/// it), as Anchor's `associated_token::` constraint checks.
///
/// The canonical bump is the first from 255 down whose address is off the curve; the search
/// stops there, so the only other addresses it can accept are the on-curve hashes of higher
/// bumps. No token account can exist at one: creating it needs that point's signature (a
/// discrete log of a hash) or a `create_with_seed` address equal to it (a SHA-256 second
/// preimage).
pub fn ata(
    account: &InterfaceAccount<TokenAccount>,
    wallet: &Pubkey,
    mint: &Pubkey,
    token_program: &Pubkey,
) -> Result<()> {
    let info = account.to_account_info();
    if info.owner != token_program {
        return Err(ErrorCode::ConstraintAssociatedTokenTokenProgram.into());
    }
    if account.owner != *wallet {
        return Err(
            Error::from(ErrorCode::ConstraintTokenOwner).with_pubkeys((account.owner, *wallet))
        );
    }
    let seeds = [wallet.as_ref(), token_program.as_ref(), mint.as_ref()];
    for bump in (0..=u8::MAX).rev() {
        let address = Pubkey::derive_address(&seeds, Some(bump), &anchor_spl::associated_token::ID);
        if address == *info.key {
            return Ok(());
        }
        if !address.is_on_curve() {
            return Err(
                Error::from(ErrorCode::ConstraintAssociated).with_pubkeys((*info.key, address))
            );
        }
    }
    Err(ErrorCode::ConstraintAssociated.into())
}

/// No key appears twice among `writable`: the second copy's write would overwrite the first's.
pub fn distinct(writable: &[Pubkey]) -> Result<()> {
    for (i, key) in writable.iter().enumerate() {
        if writable[i + 1..].contains(key) {
            return Err(Error::from(ErrorCode::ConstraintDuplicateMutableAccount)
                .with_account_name(key.to_string()));
        }
    }
    Ok(())
}
