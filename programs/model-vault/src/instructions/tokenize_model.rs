use anchor_lang::{prelude::*, system_program};
use anchor_spl::{
    associated_token::AssociatedToken,
    token_2022::{
        self, spl_token_2022::instruction::AuthorityType, MintTo, SetAuthority, Token2022,
    },
    token_interface::{
        token_metadata_initialize, Mint, TokenAccount, TokenInterface, TokenMetadataInitialize,
    },
};

use crate::{constants::*, error::ModelVaultError, state::*};

#[derive(Accounts)]
pub struct TokenizeModel<'info> {
    #[account(mut)]
    pub creator: Signer<'info>,
    #[account(seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [MODEL_SEED, model.model_id.as_ref()],
        bump = model.bump,
        has_one = creator
    )]
    pub model: Box<Account<'info, Model>>,
    #[account(
        init,
        payer = creator,
        space = 8 + Pool::INIT_SPACE,
        seeds = [POOL_SEED, model.key().as_ref()],
        bump
    )]
    pub pool: Box<Account<'info, Pool>>,
    /// Token-2022 mint at a PDA, so tokenizing needs no extra keypair. No freeze authority;
    /// the mint authority (the pool) is revoked once the supply is minted.
    #[account(
        init,
        payer = creator,
        seeds = [MINT_SEED, model.key().as_ref()],
        bump,
        mint::decimals = MODEL_TOKEN_DECIMALS,
        mint::authority = pool,
        mint::token_program = token_program,
        extensions::metadata_pointer::authority = pool,
        extensions::metadata_pointer::metadata_address = mint
    )]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        init,
        payer = creator,
        associated_token::mint = mint,
        associated_token::authority = pool,
        associated_token::token_program = token_program
    )]
    pub pool_token_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    // `init_if_needed`: anyone can create a PDA's associated account ahead of time, and
    // that must not block tokenization.
    #[account(
        init_if_needed,
        payer = creator,
        associated_token::mint = usdc_mint,
        associated_token::authority = pool,
        associated_token::token_program = usdc_token_program
    )]
    pub pool_quote_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: PDA that owns the revenue vault; it holds no data and only signs.
    #[account(seeds = [VAULT_SEED, model.key().as_ref()], bump = model.vault_bump)]
    pub vault_authority: UncheckedAccount<'info>,
    #[account(
        init_if_needed,
        payer = creator,
        associated_token::mint = usdc_mint,
        associated_token::authority = vault_authority,
        associated_token::token_program = usdc_token_program
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.usdc_mint, mint::token_program = usdc_token_program)]
    pub usdc_mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Program<'info, Token2022>,
    pub usdc_token_program: Interface<'info, TokenInterface>,
    pub associated_token_program: Program<'info, AssociatedToken>,
    pub system_program: Program<'info, System>,
}

pub(crate) fn handler(
    ctx: Context<TokenizeModel>,
    name: String,
    symbol: String,
    uri: String,
) -> Result<()> {
    let a = ctx.accounts;
    a.config.require_active()?;
    require!(!a.model.is_tokenized(), ModelVaultError::AlreadyTokenized);
    require!(
        name.len() <= MAX_NAME_LEN && symbol.len() <= MAX_SYMBOL_LEN && uri.len() <= MAX_URI_LEN,
        ModelVaultError::MetadataTooLong
    );
    let curve = a.config.params.curve;
    let model_key = a.model.key();
    let pool_bump = [ctx.bumps.pool];
    let pool_seeds: &[&[u8]] = &[POOL_SEED, model_key.as_ref(), &pool_bump];
    let signer = &[pool_seeds];
    let program = a.token_program.key();

    token_metadata_initialize(
        CpiContext::new_with_signer(
            program,
            TokenMetadataInitialize {
                program_id: a.token_program.to_account_info(),
                metadata: a.mint.to_account_info(),
                update_authority: a.pool.to_account_info(),
                mint_authority: a.pool.to_account_info(),
                mint: a.mint.to_account_info(),
            },
            signer,
        ),
        name,
        symbol,
        uri,
    )?;
    // The metadata grew the mint account; keep it rent-exempt.
    let mint_info = a.mint.to_account_info();
    let needed = Rent::get()?.minimum_balance(mint_info.data_len());
    let missing = needed.saturating_sub(mint_info.lamports());
    if missing > 0 {
        system_program::transfer(
            CpiContext::new(
                a.system_program.key(),
                system_program::Transfer {
                    from: a.creator.to_account_info(),
                    to: mint_info.clone(),
                },
            ),
            missing,
        )?;
    }

    token_2022::mint_to(
        CpiContext::new_with_signer(
            program,
            MintTo {
                mint: mint_info.clone(),
                to: a.pool_token_vault.to_account_info(),
                authority: a.pool.to_account_info(),
            },
            signer,
        ),
        curve.token_supply,
    )?;
    token_2022::set_authority(
        CpiContext::new_with_signer(
            program,
            SetAuthority {
                current_authority: a.pool.to_account_info(),
                account_or_mint: mint_info,
            },
            signer,
        ),
        AuthorityType::MintTokens,
        None,
    )?;

    let slot = Clock::get()?.slot;
    let mut pool = Pool {
        model: model_key,
        mint: a.mint.key(),
        virtual_quote: curve.virtual_quote,
        real_quote: 0,
        token_reserve: curve.token_supply,
        fee_bps: curve.fee_bps,
        reference_price: 0,
        reference_slot: slot,
        bump: ctx.bumps.pool,
        mint_bump: ctx.bumps.mint,
    };
    pool.reference_price = pool.reserves().spot_price()?;
    a.pool.set_inner(pool);

    a.model.status = ModelStatus::Tokenized;
    a.model.mint = a.mint.key();
    Ok(())
}
