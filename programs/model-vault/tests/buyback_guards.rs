//! The buyback's guards: cooldown, spend cap, price-impact cap and the reference-price bound.

use model_vault::{error::ModelVaultError, Model, Pool};

use crate::harness::*;

/// A tokenized model whose vault holds `revenue` USDC, plus a well-funded trader.
async fn funded_vault(slug: &str, revenue: u64) -> (Env, ModelKeys, Trader) {
    let mut env = Env::new().await;
    let (_creator, keys) = env.tokenized_model(slug, 2_000).await;
    let (agent, agent_usdc) = env.agent_with_usdc(revenue).await;
    env.pay_usdc(&agent, &agent_usdc, &keys.vault, revenue)
        .await;
    let trader = env.trader(&keys, 100_000 * USDC).await;
    (env, keys, trader)
}

#[tokio::test]
async fn cooldown_refuses_a_second_crank_until_it_elapses() {
    let (mut env, keys, _t) = funded_vault("cooldown", 100 * USDC).await;
    env.buyback(&keys).await.unwrap();
    let (agent, agent_usdc) = env.agent_with_usdc(50 * USDC).await;
    env.pay_usdc(&agent, &agent_usdc, &keys.vault, 50 * USDC)
        .await;
    assert_error(env.buyback(&keys).await, ModelVaultError::BuybackCooldown);
    env.warp_slots(default_params().guard.cooldown_slots - 1)
        .await;
    assert_error(env.buyback(&keys).await, ModelVaultError::BuybackCooldown);
    env.warp_slots(1).await;
    env.buyback(&keys).await.unwrap();
    let model: Model = env.account(&keys.model).await;
    assert_eq!(model.totals.revenue_swept, 150 * USDC);
}

#[tokio::test]
async fn spend_per_crank_is_capped_and_the_rest_waits() {
    let (mut env, keys, _t) = funded_vault("capped", 100 * USDC).await;
    env.set_guard(|g| g.max_spend = 30 * USDC).await;
    env.buyback(&keys).await.unwrap();
    let model: Model = env.account(&keys.model).await;
    assert_eq!(model.totals.buyback_accrued, 75 * USDC);
    assert_eq!(model.totals.buyback_spent, 30 * USDC);
    assert_eq!(model.buyback_pending, 45 * USDC);
    assert_eq!(env.balance(&keys.pool_quote_vault).await, 30 * USDC);
    // the vault still holds the creator share and the pending buyback
    assert_eq!(env.balance(&keys.vault).await, 20 * USDC + 45 * USDC);

    // no new revenue, but the pending part is spent by later cranks
    for expected_pending in [15 * USDC, 0] {
        env.warp_slots(default_params().guard.cooldown_slots).await;
        env.buyback(&keys).await.unwrap();
        let model: Model = env.account(&keys.model).await;
        assert_eq!(model.buyback_pending, expected_pending);
        assert_eq!(model.totals.revenue_swept, 100 * USDC);
    }
    env.warp_slots(default_params().guard.cooldown_slots).await;
    assert_error(env.buyback(&keys).await, ModelVaultError::NothingToBuyBack);
}

#[tokio::test]
async fn price_impact_cap_refuses_a_crank_that_moves_the_price_too_far() {
    let (mut env, keys, _t) = funded_vault("impact", 1_000 * USDC).await;
    // 750 USDC into a 30,000 USDC pool moves the price by about 5%
    env.set_guard(|g| g.max_price_impact_bps = 300).await;
    assert_error(
        env.buyback(&keys).await,
        ModelVaultError::PriceImpactTooHigh,
    );
    env.set_guard(|g| g.max_price_impact_bps = 600).await;
    env.buyback(&keys).await.unwrap();
}

#[tokio::test]
async fn a_large_buy_in_the_same_slot_before_the_crank_makes_it_refuse() {
    let (mut env, keys, trader) = funded_vault("sandwich", 500 * USDC).await;
    env.warp_slots(5).await;
    // the attacker pumps the price by ~7% and cranks in the same slot
    env.buy(&keys, &trader, 2_000 * USDC, 1).await.unwrap();
    let pool: Pool = env.account(&keys.pool).await;
    let spot = pool.reserves().spot_price().unwrap();
    assert!(
        spot > pool.reference_price,
        "the reference kept the pre-trade price"
    );
    assert_error(
        env.buyback(&keys).await,
        ModelVaultError::PriceDeviationTooHigh,
    );
    // one slot later the reference has moved only 1/window of the way
    env.warp_slots(1).await;
    assert_error(
        env.buyback(&keys).await,
        ModelVaultError::PriceDeviationTooHigh,
    );
    let vault_before = env.balance(&keys.vault).await;
    assert_eq!(vault_before, 500 * USDC, "refused cranks move nothing");

    // once the price has held for a full window it is the reference, and the crank runs
    env.warp_slots(default_params().guard.reference_window_slots)
        .await;
    env.buyback(&keys).await.unwrap();
    let model: Model = env.account(&keys.model).await;
    assert!(model.totals.tokens_burned > 0);
}

#[tokio::test]
async fn a_dump_before_the_crank_is_refused_too() {
    let (mut env, keys, trader) = funded_vault("dump", 100 * USDC).await;
    env.buy(&keys, &trader, 5_000 * USDC, 1).await.unwrap();
    env.warp_slots(default_params().guard.reference_window_slots)
        .await;
    let tokens = env.balance(&trader.tokens).await;
    env.sell(&keys, &trader, tokens, 1).await.unwrap();
    assert_error(
        env.buyback(&keys).await,
        ModelVaultError::PriceDeviationTooHigh,
    );
}
