use anchor_lang::{prelude::*, system_program};
use anchor_spl::{
    associated_token::{self, AssociatedToken},
    token_2022::{
        self,
        spl_token_2022::{extension::ExtensionType, instruction::AuthorityType},
        InitializeMint2, MintTo, SetAuthority, Token2022,
    },
    token_interface::{
        find_mint_account_size, metadata_pointer_initialize, token_metadata_initialize,
        MetadataPointerInitialize, Mint, TokenAccount, TokenInterface, TokenMetadataInitialize,
    },
};

use crate::{
    constants::*,
    create::{create_pda, create_program_account},
    error::ModelVaultError,
    state::*,
};

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
    /// The pool, created by the handler: lamports sent to its address first cannot block it.
    /// CHECK: its seeds are checked here; the handler refuses one that exists.
    #[account(mut, seeds = [POOL_SEED, model.key().as_ref()], bump)]
    pub pool: UncheckedAccount<'info>,
    /// Token-2022 mint at a PDA, so tokenizing needs no extra keypair, created by the handler
    /// with a metadata pointer to itself. No freeze authority; the mint authority (the pool)
    /// is revoked once the supply is minted.
    /// CHECK: its seeds are checked here; the handler refuses one that exists.
    #[account(mut, seeds = [MINT_SEED, model.key().as_ref()], bump)]
    pub mint: UncheckedAccount<'info>,
    /// The pool's associated account of the new mint, created by the handler through the
    /// associated token program (which takes lamports sent to it first in its stride).
    /// CHECK: the associated-token address of (pool, token program, mint), checked here.
    #[account(
        mut,
        seeds = [pool.key().as_ref(), token_program.key().as_ref(), mint.key().as_ref()],
        bump,
        seeds::program = associated_token_program.key()
    )]
    pub pool_token_vault: UncheckedAccount<'info>,
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
    let creator = a.creator.to_account_info();
    let pool_info = a.pool.to_account_info();
    let mint_info = a.mint.to_account_info();

    let mut pool = Pool {
        model: model_key,
        mint: a.mint.key(),
        virtual_quote: curve.virtual_quote,
        real_quote: 0,
        token_reserve: curve.token_supply,
        fee_bps: curve.fee_bps,
        reference_price: 0,
        reference_slot: Clock::get()?.slot,
        bump: ctx.bumps.pool,
        mint_bump: ctx.bumps.mint,
    };
    pool.reference_price = pool.reserves().spot_price()?;
    create_program_account(&creator, &pool_info, pool_seeds, &pool)?;

    // The mint, as Anchor's `init` with a metadata pointer would make it.
    let space = find_mint_account_size(Some(&vec![ExtensionType::MetadataPointer]))?;
    let mint_bump = [ctx.bumps.mint];
    create_pda(
        &creator,
        &mint_info,
        space,
        &program,
        &[MINT_SEED, model_key.as_ref(), &mint_bump],
    )?;
    metadata_pointer_initialize(
        CpiContext::new(
            program,
            MetadataPointerInitialize {
                token_program_id: a.token_program.to_account_info(),
                mint: mint_info.clone(),
            },
        ),
        Some(pool_info.key()),
        Some(mint_info.key()),
    )?;
    token_2022::initialize_mint2(
        CpiContext::new(
            program,
            InitializeMint2 {
                mint: mint_info.clone(),
            },
        ),
        MODEL_TOKEN_DECIMALS,
        &pool_info.key(),
        None,
    )?;
    associated_token::create(CpiContext::new(
        a.associated_token_program.key(),
        associated_token::Create {
            payer: creator.clone(),
            associated_token: a.pool_token_vault.to_account_info(),
            authority: pool_info.clone(),
            mint: mint_info.clone(),
            system_program: a.system_program.to_account_info(),
            token_program: a.token_program.to_account_info(),
        },
    ))?;

    token_metadata_initialize(
        CpiContext::new_with_signer(
            program,
            TokenMetadataInitialize {
                program_id: a.token_program.to_account_info(),
                metadata: mint_info.clone(),
                update_authority: pool_info.clone(),
                mint_authority: pool_info.clone(),
                mint: mint_info.clone(),
            },
            signer,
        ),
        name,
        symbol,
        uri,
    )?;
    // The metadata grew the mint account; keep it rent-exempt.
    let needed = Rent::get()?.minimum_balance(mint_info.data_len());
    let missing = needed.saturating_sub(mint_info.lamports());
    if missing > 0 {
        system_program::transfer(
            CpiContext::new(
                a.system_program.key(),
                system_program::Transfer {
                    from: creator,
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
                authority: pool_info.clone(),
            },
            signer,
        ),
        curve.token_supply,
    )?;
    token_2022::set_authority(
        CpiContext::new_with_signer(
            program,
            SetAuthority {
                current_authority: pool_info,
                account_or_mint: mint_info,
            },
            signer,
        ),
        AuthorityType::MintTokens,
        None,
    )?;

    a.model.status = ModelStatus::Tokenized;
    a.model.mint = a.mint.key();
    Ok(())
}
