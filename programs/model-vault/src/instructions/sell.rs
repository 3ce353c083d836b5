use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenAccount;

use super::market::*;
use crate::{error::ModelVaultError, token_ops};

#[derive(Accounts)]
pub struct Sell<'info> {
    pub seller: Signer<'info>,
    pub market: Market<'info>,
    #[account(
        mut,
        dup,
        token::mint = market.mint,
        token::authority = seller,
        token::token_program = market.token_program
    )]
    pub seller_tokens: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Receives the USDC; any account of the USDC mint.
    #[account(
        mut,
        dup,
        token::mint = market.usdc_mint,
        token::token_program = market.usdc_token_program
    )]
    pub seller_usdc: Box<InterfaceAccount<'info, TokenAccount>>,
}

pub(crate) fn handler(ctx: Context<Sell>, tokens_in: u64, min_usdc_out: u64) -> Result<()> {
    let accounts = ctx.accounts;
    let market = &mut accounts.market;
    market.check([accounts.seller_tokens.key(), accounts.seller_usdc.key()])?;
    market.open()?;
    let trade = market
        .pool
        .reserves()
        .sell(tokens_in, market.pool.fee_bps)?;
    require!(
        trade.amount_out >= min_usdc_out,
        ModelVaultError::SlippageExceeded
    );
    token_ops::transfer(
        &market.token_program.to_account_info(),
        &accounts.seller_tokens.to_account_info(),
        &market.pool_token_vault.to_account_info(),
        &market.mint,
        &accounts.seller.to_account_info(),
        tokens_in,
        &[],
    )?;
    market.with_pool_signer(|signer| {
        token_ops::transfer(
            &market.usdc_token_program.to_account_info(),
            &market.pool_quote_vault.to_account_info(),
            &accounts.seller_usdc.to_account_info(),
            &market.usdc_mint,
            &market.pool.to_account_info(),
            trade.amount_out,
            signer,
        )
    })?;
    market.pool.set_reserves(trade.after);
    Ok(())
}
