use anchor_lang::prelude::*;

use crate::{constants::CONFIG_SEED, state::*};

/// Fields left `None` keep their value.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, Default)]
pub struct ConfigUpdate {
    pub admin: Option<Pubkey>,
    pub treasury: Option<Pubkey>,
    pub params: Option<ConfigParams>,
    pub paused: Option<bool>,
}

#[derive(Accounts)]
pub struct UpdateConfig<'info> {
    pub admin: Signer<'info>,
    #[account(mut, seeds = [CONFIG_SEED], bump = config.bump, has_one = admin)]
    pub config: Account<'info, Config>,
}

pub(crate) fn handler(ctx: Context<UpdateConfig>, update: ConfigUpdate) -> Result<()> {
    let config = &mut ctx.accounts.config;
    if let Some(params) = update.params {
        params.validate()?;
        config.params = params;
    }
    if let Some(admin) = update.admin {
        config.admin = admin;
    }
    if let Some(treasury) = update.treasury {
        config.treasury = treasury;
    }
    if let Some(paused) = update.paused {
        config.paused = paused;
    }
    Ok(())
}
