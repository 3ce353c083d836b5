//! Buying and selling against the pool, with slippage bounds both ways, and the pause.

use model_vault::{error::ModelVaultError, ConfigUpdate, Pool};
use solana_signer::Signer;

use crate::harness::*;

#[tokio::test]
async fn buy_sell_round_trip_respects_slippage_and_never_profits() {
    let mut env = Env::new().await;
    let (_creator, keys) = env.tokenized_model("qwen-72b", 1_000).await;
    let t = env.trader(&keys, 500 * USDC).await;
    let fee_bps = default_params().curve.fee_bps;

    // buy: the quote from the pool state is exactly what arrives
    let pool: Pool = env.account(&keys.pool).await;
    let quote = pool.reserves().buy(200 * USDC, fee_bps).unwrap();
    assert_error(
        env.buy(&keys, &t, 200 * USDC, quote.amount_out + 1).await,
        ModelVaultError::SlippageExceeded,
    );
    env.buy(&keys, &t, 200 * USDC, quote.amount_out)
        .await
        .unwrap();
    assert_eq!(env.balance(&t.tokens).await, quote.amount_out);
    assert_eq!(env.balance(&t.usdc).await, 300 * USDC);
    assert_eq!(env.balance(&keys.pool_quote_vault).await, 200 * USDC);
    let pool: Pool = env.account(&keys.pool).await;
    assert_eq!(pool.reserves(), quote.after);

    // sell everything back: a minimum above the quote is refused, the quote itself is paid
    let tokens = quote.amount_out;
    let back = pool.reserves().sell(tokens, fee_bps).unwrap();
    assert_error(
        env.sell(&keys, &t, tokens, back.amount_out + 1).await,
        ModelVaultError::SlippageExceeded,
    );
    env.sell(&keys, &t, tokens, back.amount_out).await.unwrap();
    assert_eq!(env.balance(&t.tokens).await, 0);
    let usdc_after = env.balance(&t.usdc).await;
    assert_eq!(usdc_after, 300 * USDC + back.amount_out);
    assert!(
        usdc_after < 500 * USDC,
        "a round trip costs the trader the fees"
    );
    let pool: Pool = env.account(&keys.pool).await;
    assert_eq!(pool.token_reserve, default_params().curve.token_supply);
    assert_eq!(pool.real_quote, env.balance(&keys.pool_quote_vault).await);
    assert!(pool.real_quote > 0, "fees stay in the pool");
}

#[tokio::test]
async fn zero_and_dust_trades_are_refused() {
    let mut env = Env::new().await;
    let (_creator, keys) = env.tokenized_model("phi-4", 1_000).await;
    let t = env.trader(&keys, 10 * USDC).await;
    assert_error(env.buy(&keys, &t, 0, 0).await, ModelVaultError::ZeroAmount);
    assert_error(env.sell(&keys, &t, 0, 0).await, ModelVaultError::ZeroAmount);
    // one base unit is all fee: the buyer would get nothing, so the trade is refused
    assert_error(env.buy(&keys, &t, 1, 0).await, ModelVaultError::ZeroOutput);
    assert_eq!(
        env.balance(&t.usdc).await,
        10 * USDC,
        "refused trades move nothing"
    );
}

#[tokio::test]
async fn pause_stops_everything_but_claims() {
    let mut env = Env::new().await;
    let (creator, keys) = env.tokenized_model("gemma-2", 2_000).await;
    let t = env.trader(&keys, 100 * USDC).await;
    env.buy(&keys, &t, 10 * USDC, 1).await.unwrap();
    let (agent, agent_usdc) = env.agent_with_usdc(100 * USDC).await;
    env.pay_usdc(&agent, &agent_usdc, &keys.vault, 100 * USDC)
        .await;
    env.buyback(&keys).await.unwrap();

    env.update_config(ConfigUpdate {
        paused: Some(true),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_error(env.buy(&keys, &t, USDC, 1).await, ModelVaultError::Paused);
    assert_error(env.sell(&keys, &t, 1_000, 0).await, ModelVaultError::Paused);
    env.warp_slots(20).await;
    assert_error(env.buyback(&keys).await, ModelVaultError::Paused);
    let other = env.funded_keypair().await;
    assert_error(
        env.register(&other, "new-model", 0).await.map(|_| ()),
        ModelVaultError::Paused,
    );
    let ix = env.release_ix(&keys, 1);
    let treasury = env.treasury.insecure_clone();
    assert_error(env.send(&[ix], &[&treasury]).await, ModelVaultError::Paused);

    // the creator still gets their money out
    let dest = env.usdc_account(&creator.pubkey()).await;
    env.claim(&keys, &creator, &dest).await.unwrap();
    assert_eq!(env.balance(&dest).await, 20 * USDC);

    env.update_config(ConfigUpdate {
        paused: Some(false),
        ..Default::default()
    })
    .await
    .unwrap();
    env.buy(&keys, &t, USDC, 1).await.unwrap();
}
