use anchor_lang::{prelude::*, solana_program::bpf_loader_upgradeable};
use anchor_spl::{
    token_2022::spl_token_2022::{
        extension::{BaseStateWithExtensions, ExtensionType, StateWithExtensions},
        state::Mint as MintState,
    },
    token_interface::{Mint, TokenInterface},
};

use crate::{
    constants::CONFIG_SEED, create::create_program_account, error::ModelVaultError, state::*,
};

/// Token-2022 extensions a USDC mint may carry. Anything else can make a transfer move less
/// than asked (transfer fee), fail (hook, default-frozen, pausable, non-transferable,
/// confidential), or let a third party take vault funds (permanent delegate).
const SAFE_USDC_EXTENSIONS: [ExtensionType; 2] =
    [ExtensionType::MetadataPointer, ExtensionType::TokenMetadata];

#[derive(Accounts)]
pub struct Initialize<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    /// The config, created by the handler: lamports sent to its address first cannot block it.
    /// CHECK: its seeds are checked here; the handler refuses a second initialize.
    #[account(mut, seeds = [CONFIG_SEED], bump)]
    pub config: UncheckedAccount<'info>,
    /// The loader's record of this program. Only its upgrade authority may initialize, so
    /// nobody can slip in between deployment and initialization.
    #[account(
        seeds = [crate::ID.as_ref()],
        bump,
        seeds::program = bpf_loader_upgradeable::ID,
        constraint = program_data.upgrade_authority_address == Some(admin.key())
            @ ModelVaultError::NotUpgradeAuthority
    )]
    pub program_data: Account<'info, ProgramData>,
    /// The quote mint (USDC); its owning program may be SPL Token or Token-2022.
    #[account(mint::token_program = usdc_token_program)]
    pub usdc_mint: InterfaceAccount<'info, Mint>,
    pub usdc_token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

pub(crate) fn handler(
    ctx: Context<Initialize>,
    treasury: Pubkey,
    params: ConfigParams,
) -> Result<()> {
    params.validate()?;
    require_plain_mint(&ctx.accounts.usdc_mint.to_account_info())?;
    let config = Config {
        admin: ctx.accounts.admin.key(),
        usdc_mint: ctx.accounts.usdc_mint.key(),
        treasury,
        params,
        paused: false,
        bump: ctx.bumps.config,
    };
    create_program_account(
        &ctx.accounts.admin.to_account_info(),
        &ctx.accounts.config.to_account_info(),
        &[CONFIG_SEED, &[ctx.bumps.config]],
        &config,
    )
}

/// The vault books every transfer at face value, so the mint must move exactly what it is
/// asked to, to whom, and nobody else may move it. Classic SPL Token mints have no extensions.
fn require_plain_mint(mint: &AccountInfo) -> Result<()> {
    if *mint.owner == anchor_spl::token::ID {
        return Ok(());
    }
    let data = mint.try_borrow_data()?;
    let state = StateWithExtensions::<MintState>::unpack(&data)?;
    let safe = state
        .get_extension_types()?
        .iter()
        .all(|t| SAFE_USDC_EXTENSIONS.contains(t));
    require!(safe, ModelVaultError::UnsupportedMint);
    Ok(())
}
