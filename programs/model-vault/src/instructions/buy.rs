use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenAccount;

use super::market::*;
use crate::{error::ModelVaultError, token_ops};

#[derive(Accounts)]
pub struct Buy<'info> {
    pub buyer: Signer<'info>,
    pub market: Market<'info>,
    #[account(
        mut,
        dup,
        token::mint = market.usdc_mint,
        token::authority = buyer,
        token::token_program = market.usdc_token_program
    )]
    pub buyer_usdc: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Receives the tokens; any Token-2022 account of the model mint.
    #[account(mut, dup, token::mint = market.mint, token::token_program = market.token_program)]
    pub buyer_tokens: Box<InterfaceAccount<'info, TokenAccount>>,
}

pub(crate) fn handler(ctx: Context<Buy>, usdc_in: u64, min_tokens_out: u64) -> Result<()> {
    let accounts = ctx.accounts;
    let market = &mut accounts.market;
    market.check([accounts.buyer_usdc.key(), accounts.buyer_tokens.key()])?;
    market.open()?;
    let trade = market.pool.reserves().buy(usdc_in, market.pool.fee_bps)?;
    require!(
        trade.amount_out >= min_tokens_out,
        ModelVaultError::SlippageExceeded
    );
    token_ops::transfer(
        &market.usdc_token_program.to_account_info(),
        &accounts.buyer_usdc.to_account_info(),
        &market.pool_quote_vault.to_account_info(),
        &market.usdc_mint,
        &accounts.buyer.to_account_info(),
        usdc_in,
        &[],
    )?;
    market.with_pool_signer(|signer| {
        token_ops::transfer(
            &market.token_program.to_account_info(),
            &market.pool_token_vault.to_account_info(),
            &accounts.buyer_tokens.to_account_info(),
            &market.mint,
            &market.pool.to_account_info(),
            trade.amount_out,
            signer,
        )
    })?;
    market.pool.set_reserves(trade.after);
    Ok(())
}
