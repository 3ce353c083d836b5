use anchor_lang::prelude::*;

use crate::{
    constants::{CONFIG_SEED, MAX_SLUG_LEN, MODEL_SEED, VAULT_SEED},
    create::create_program_account,
    error::ModelVaultError,
    state::*,
};

#[derive(Accounts)]
#[instruction(model_id: [u8; 32])]
pub struct RegisterModel<'info> {
    #[account(mut)]
    pub creator: Signer<'info>,
    #[account(seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Account<'info, Config>,
    /// The model, created by the handler: lamports sent to its address first cannot block it.
    /// CHECK: its seeds are checked here; the handler refuses one that exists.
    #[account(mut, seeds = [MODEL_SEED, model_id.as_ref()], bump)]
    pub model: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub(crate) fn handler(
    ctx: Context<RegisterModel>,
    model_id: [u8; 32],
    slug: String,
    creator_share_bps: u16,
) -> Result<()> {
    let config = &ctx.accounts.config;
    config.require_active()?;
    // Binding the id to the slug means an id can only ever name the model the catalog means.
    require!(
        !slug.is_empty() && slug.len() <= MAX_SLUG_LEN && Model::id_for_slug(&slug) == model_id,
        ModelVaultError::InvalidModelId
    );
    require!(
        creator_share_bps <= config.params.max_creator_share_bps,
        ModelVaultError::CreatorShareTooHigh
    );
    let model_key = ctx.accounts.model.key();
    let (_, vault_bump) =
        Pubkey::find_program_address(&[VAULT_SEED, model_key.as_ref()], ctx.program_id);
    let model = Model {
        model_id,
        creator: ctx.accounts.creator.key(),
        slug,
        status: ModelStatus::Registered,
        creator_share_bps,
        mint: Pubkey::default(),
        creator_unclaimed: 0,
        buyback_pending: 0,
        last_buyback_slot: 0,
        totals: ModelTotals::default(),
        bump: ctx.bumps.model,
        vault_bump,
        pending_creator_share_bps: None,
    };
    let bump = [ctx.bumps.model];
    create_program_account(
        &ctx.accounts.creator.to_account_info(),
        &ctx.accounts.model.to_account_info(),
        &[MODEL_SEED, model_id.as_ref(), &bump],
        &model,
    )
}
