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

/// Guards that would let a crank jam (a `max_spend` a fresh pool cannot absorb within the
/// impact cap) or be sandwiched (an impact cap above twice the pool fee) are refused.
#[tokio::test]
async fn guards_that_jam_or_invite_a_sandwich_are_refused() {
    let mut env = Env::new().await;
    for change in [
        |p: &mut model_vault::ConfigParams| p.guard.max_price_impact_bps = 2 * p.curve.fee_bps + 1,
        |p: &mut model_vault::ConfigParams| p.guard.max_spend = 1_000 * USDC,
        |p: &mut model_vault::ConfigParams| p.curve.virtual_quote = 10_000 * USDC,
    ] {
        let mut params = default_params();
        change(&mut params);
        let result = env
            .update_config(model_vault::ConfigUpdate {
                params: Some(params),
                ..Default::default()
            })
            .await;
        assert_error(result, ModelVaultError::InvalidConfig);
    }
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

    // one window later the reference has closed only ~63% of the gap: still refused
    let window = default_params().guard.reference_window_slots;
    env.warp_slots(window).await;
    assert_error(
        env.buyback(&keys).await,
        ModelVaultError::PriceDeviationTooHigh,
    );
    // once the price has held for long enough it is the reference, and the crank runs
    env.warp_slots(2 * window).await;
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

/// M4: a backlog larger than one crank may spend within the impact cap is bought back in
/// steps; the split is committed at once and the rest waits for later cranks.
#[tokio::test]
async fn a_backlog_beyond_the_impact_cap_is_bought_back_in_steps() {
    let (mut env, keys, _t) = funded_vault("backlog", 1_200 * USDC).await;
    let guard = default_params().guard;
    let before = env.account::<Pool>(&keys.pool).await.reserves();
    env.buyback(&keys).await.unwrap();

    let model: Model = env.account(&keys.model).await;
    assert_eq!(model.totals.revenue_swept, 1_200 * USDC);
    assert_eq!(model.totals.protocol_fees, 60 * USDC);
    assert_eq!(model.creator_unclaimed, 240 * USDC);
    let treasury_usdc = env.treasury_usdc;
    assert_eq!(env.balance(&treasury_usdc).await, 60 * USDC);
    let spent = model.totals.buyback_spent;
    assert!(spent > 0 && spent <= guard.max_spend, "spent {spent}");
    assert_eq!(model.buyback_pending, 900 * USDC - spent);
    let after = env.account::<Pool>(&keys.pool).await.reserves();
    let impact = model_vault::curve::deviation_bps(
        after.spot_price().unwrap(),
        before.spot_price().unwrap(),
    )
    .unwrap();
    assert!(
        impact <= u128::from(guard.max_price_impact_bps),
        "impact {impact} bps"
    );

    // no new revenue: later cranks keep spending the backlog
    env.warp_slots(guard.cooldown_slots).await;
    env.buyback(&keys).await.unwrap();
    let later: Model = env.account(&keys.model).await;
    assert!(later.totals.buyback_spent > spent);
    assert_eq!(later.totals.revenue_swept, 1_200 * USDC);
    assert_eq!(
        later.buyback_pending,
        900 * USDC - later.totals.buyback_spent
    );
}

/// An attacker's USDC change (after − before) over `attack`, with a fresh 100,000 USDC trader.
async fn attacker_pnl(
    env: &mut Env,
    keys: &ModelKeys,
    attacker: &Trader,
    pump: u64,
    hold: u64,
) -> i128 {
    let before = env.balance(&attacker.usdc).await;
    env.buy(keys, attacker, pump, 1).await.unwrap();
    if hold > 0 {
        env.warp_slots(hold).await;
    }
    // refused or not, the attacker then sells everything
    let crank = env.buyback(keys).await;
    let tokens = env.balance(&attacker.tokens).await;
    env.sell(keys, attacker, tokens, 1).await.unwrap();
    let after = env.balance(&attacker.usdc).await;
    let pnl = i128::from(after) - i128::from(before);
    eprintln!("pump {pump} hold {hold}: crank {crank:?}, attacker PnL {pnl}");
    pnl
}

/// M5: a pump held past the reference window in a quiet pool must not make the vault pay
/// the attacker: the reference no longer snaps to spot.
#[tokio::test]
async fn a_pump_held_over_the_window_does_not_pay_the_attacker() {
    let (mut env, keys, attacker) = funded_vault("held", 1_400 * USDC).await;
    let hold = default_params().guard.reference_window_slots + 1;
    let pnl = attacker_pnl(&mut env, &keys, &attacker, 20_900 * USDC, hold).await;
    assert!(pnl <= 0, "attacker made {pnl}");
}

/// M5, the patient version: held until the reference has caught up, the crank runs, and
/// what it may spend still pays the attacker less than the fees of the pump.
#[tokio::test]
async fn a_pump_held_until_the_reference_catches_up_does_not_pay_either() {
    let (mut env, keys, attacker) = funded_vault("patient", 1_400 * USDC).await;
    let hold = 10 * default_params().guard.reference_window_slots;
    let pnl = attacker_pnl(&mut env, &keys, &attacker, 20_900 * USDC, hold).await;
    assert!(pnl <= 0, "attacker made {pnl}");
    let model: Model = env.account(&keys.model).await;
    assert!(model.totals.buyback_spent > 0, "the crank ran");
}

/// L1: buy inside the deviation bound, crank, sell, all in one slot: not profitable.
#[tokio::test]
async fn a_same_slot_sandwich_inside_the_deviation_bound_does_not_pay() {
    let (mut env, keys, attacker) = funded_vault("sandwich-in", 990 * USDC).await;
    env.warp_slots(5).await;
    // 290 USDC moves a fresh pool by ~1.94%, inside the 2% deviation bound
    let pnl = attacker_pnl(&mut env, &keys, &attacker, 290 * USDC, 0).await;
    assert!(pnl <= 0, "attacker made {pnl}");
    let model: Model = env.account(&keys.model).await;
    assert!(model.totals.revenue_swept > 0, "the crank ran");
}
