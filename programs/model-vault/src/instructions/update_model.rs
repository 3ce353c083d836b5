use anchor_lang::prelude::*;

use crate::{
    constants::{CONFIG_SEED, MODEL_SEED},
    error::ModelVaultError,
    state::*,
};

/// Fields left `None` keep their value.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, Default)]
pub struct ModelUpdate {
    pub creator: Option<Pubkey>,
    pub creator_share_bps: Option<u16>,
}

#[derive(Accounts)]
pub struct UpdateModel<'info> {
    pub creator: Signer<'info>,
    #[account(seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Account<'info, Config>,
    #[account(mut, seeds = [MODEL_SEED, model.model_id.as_ref()], bump = model.bump, has_one = creator)]
    pub model: Account<'info, Model>,
}

pub(crate) fn handler(ctx: Context<UpdateModel>, update: ModelUpdate) -> Result<()> {
    let config = &ctx.accounts.config;
    config.require_active()?;
    let model = &mut ctx.accounts.model;
    if let Some(share) = update.creator_share_bps {
        require!(
            share <= config.params.max_creator_share_bps,
            ModelVaultError::CreatorShareTooHigh
        );
        if model.is_tokenized() {
            // Revenue already in the vault was paid under the old share: the next crank
            // splits it at that share, then switches (a raise is never retroactive).
            model.pending_creator_share_bps = Some(share);
        } else {
            model.creator_share_bps = share;
        }
    }
    if let Some(creator) = update.creator {
        model.creator = creator;
    }
    Ok(())
}
