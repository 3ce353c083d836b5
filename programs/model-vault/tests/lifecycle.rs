//! The whole life of a model, with balances, supply and `Model` totals asserted at each step.

use anchor_lang::prelude::Pubkey;
use model_vault::{curve::Reserves, Config, Model, ModelStatus, Pool};
use solana_signer::Signer;
use spl_token_2022_interface::extension::{BaseStateWithExtensions, StateWithExtensions};
use spl_token_metadata_interface::state::TokenMetadata;

use crate::harness::*;

#[tokio::test]
async fn full_life_of_a_model() {
    // initialize
    let mut env = Env::new().await;
    let config: Config = env.account(&config_pda()).await;
    assert_eq!(config.admin, env.admin.pubkey());
    assert_eq!(config.usdc_mint, env.usdc);
    assert_eq!(config.treasury, env.treasury.pubkey());
    assert_eq!(config.params, default_params());
    assert!(!config.paused);

    // register
    let creator = env.funded_keypair().await;
    let keys = env.register(&creator, "llama-3-70b", 2_000).await.unwrap();
    let model: Model = env.account(&keys.model).await;
    assert_eq!(model.creator, creator.pubkey());
    assert_eq!(model.slug, "llama-3-70b");
    assert_eq!(model.model_id, keys.id);
    assert_eq!(model.status, ModelStatus::Registered);
    assert_eq!(model.creator_share_bps, 2_000);
    assert_eq!(model.totals, Default::default());

    // a paid call before tokenization: the treasury holds the revenue
    let (agent, agent_usdc) = env.agent_with_usdc(1_000 * USDC).await;
    let treasury_usdc = env.treasury_usdc;
    env.pay_usdc(&agent, &agent_usdc, &treasury_usdc, 50 * USDC)
        .await;
    assert_eq!(env.balance(&treasury_usdc).await, 50 * USDC);

    // tokenize: fixed supply in the pool, authorities gone, metadata on the mint
    let ix = env.tokenize_ix(&creator, &keys);
    env.send(&[ix], &[&creator]).await.unwrap();
    let supply = default_params().curve.token_supply;
    let raw_mint = env.raw_account(&keys.mint).await.unwrap();
    assert_eq!(raw_mint.owner, TOKEN_2022);
    let mint = StateWithExtensions::<spl_token_2022_interface::state::Mint>::unpack(&raw_mint.data)
        .unwrap();
    assert_eq!(mint.base.supply, supply);
    assert_eq!(mint.base.decimals, 6);
    assert!(mint.base.mint_authority.is_none(), "mint authority revoked");
    assert!(mint.base.freeze_authority.is_none(), "no freeze authority");
    let metadata = mint.get_variable_len_extension::<TokenMetadata>().unwrap();
    assert_eq!(metadata.name, "llama-3-70b token");
    assert_eq!(metadata.symbol, "MDL");
    assert_eq!(
        metadata.uri,
        "https://paywire.example/models/llama-3-70b.json"
    );
    assert_eq!(Pubkey::from(metadata.mint.to_bytes()), keys.mint);
    assert_eq!(env.balance(&keys.pool_token_vault).await, supply);
    assert_eq!(env.balance(&keys.vault).await, 0);
    let model: Model = env.account(&keys.model).await;
    assert_eq!(model.status, ModelStatus::Tokenized);
    assert_eq!(model.mint, keys.mint);
    let pool: Pool = env.account(&keys.pool).await;
    let curve = default_params().curve;
    assert_eq!(
        pool.reserves(),
        Reserves {
            virtual_quote: curve.virtual_quote,
            real_quote: 0,
            tokens: supply
        }
    );
    assert_eq!(pool.reference_price, pool.reserves().spot_price().unwrap());

    // release what the treasury held for this model into its vault
    let ix = env.release_ix(&keys, 50 * USDC);
    let treasury = env.treasury.insecure_clone();
    env.send(&[ix], &[&treasury]).await.unwrap();
    assert_eq!(env.balance(&treasury_usdc).await, 0);
    assert_eq!(env.balance(&keys.vault).await, 50 * USDC);
    let model: Model = env.account(&keys.model).await;
    assert_eq!(model.totals.held_released, 50 * USDC);

    // paid calls after tokenization go straight to the vault
    env.pay_usdc(&agent, &agent_usdc, &keys.vault, 100 * USDC)
        .await;
    assert_eq!(env.balance(&keys.vault).await, 150 * USDC);

    // buyback_and_burn: 5% fee, 20% creator, 75% buys tokens that are burned
    let expected = pool.reserves().buy(112_500_000, curve.fee_bps).unwrap();
    env.buyback(&keys).await.unwrap();
    assert_eq!(env.balance(&treasury_usdc).await, 7_500_000, "protocol fee");
    assert_eq!(
        env.balance(&keys.vault).await,
        30 * USDC,
        "creator share stays in the vault"
    );
    assert_eq!(env.balance(&keys.pool_quote_vault).await, 112_500_000);
    let burned = expected.amount_out;
    assert!(burned > 0);
    assert_eq!(env.mint_state(&keys.mint).await.supply, supply - burned);
    assert_eq!(env.balance(&keys.pool_token_vault).await, supply - burned);
    let model: Model = env.account(&keys.model).await;
    let t = model.totals;
    assert_eq!(t.revenue_swept, 150 * USDC);
    assert_eq!(t.protocol_fees, 7_500_000);
    assert_eq!(t.creator_accrued, 30 * USDC);
    assert_eq!(t.buyback_accrued, 112_500_000);
    assert_eq!(t.buyback_spent, 112_500_000);
    assert_eq!(t.tokens_burned, burned);
    assert_eq!(model.creator_unclaimed, 30 * USDC);
    assert_eq!(model.buyback_pending, 0);
    assert_eq!(model.last_buyback_slot, env.slot().await);
    let pool: Pool = env.account(&keys.pool).await;
    assert_eq!(pool.reserves(), expected.after);
    assert!(
        pool.reserves().spot_price().unwrap() > pool.reference_price,
        "buyback raised the price"
    );

    // the creator claims their share, to an account of their choosing
    let creator_usdc = env.usdc_account(&creator.pubkey()).await;
    env.claim(&keys, &creator, &creator_usdc).await.unwrap();
    assert_eq!(env.balance(&creator_usdc).await, 30 * USDC);
    assert_eq!(env.balance(&keys.vault).await, 0);
    let model: Model = env.account(&keys.model).await;
    assert_eq!(model.creator_unclaimed, 0);
    assert_eq!(model.totals.creator_claimed, 30 * USDC);

    // conservation: every USDC that reached the vault is accounted for
    let t = model.totals;
    assert_eq!(
        t.revenue_swept,
        env.balance(&keys.vault).await + t.buyback_spent + t.creator_claimed + t.protocol_fees
    );
}

#[tokio::test]
async fn creator_can_hand_over_and_change_share_within_bounds() {
    let mut env = Env::new().await;
    let creator = env.funded_keypair().await;
    let keys = env
        .register(&creator, "mistral-large", 1_000)
        .await
        .unwrap();
    let heir = env.funded_keypair().await;
    let ix = update_model_ix(
        &keys,
        &creator.pubkey(),
        model_vault::ModelUpdate {
            creator: Some(heir.pubkey()),
            creator_share_bps: Some(3_000),
        },
    );
    env.send(&[ix], &[&creator]).await.unwrap();
    let model: Model = env.account(&keys.model).await;
    assert_eq!(model.creator, heir.pubkey());
    assert_eq!(model.creator_share_bps, 3_000);

    // the old creator has no say any more; the new one is bounded by the config
    let ix = update_model_ix(&keys, &creator.pubkey(), Default::default());
    assert_error(
        env.send(&[ix], &[&creator]).await,
        anchor_lang::error::ErrorCode::ConstraintHasOne,
    );
    let ix = update_model_ix(
        &keys,
        &heir.pubkey(),
        model_vault::ModelUpdate {
            creator: None,
            creator_share_bps: Some(5_001),
        },
    );
    assert_error(
        env.send(&[ix], &[&heir]).await,
        model_vault::error::ModelVaultError::CreatorShareTooHigh,
    );
}

/// L2: a share raised while revenue waits in the vault applies only to revenue that arrives
/// after the change, even when the raise and a crank share one transaction.
#[tokio::test]
async fn a_share_raise_does_not_reach_revenue_already_in_the_vault() {
    let mut env = Env::new().await;
    let (creator, keys) = env.tokenized_model("retro", 0).await;
    let (agent, agent_usdc) = env.agent_with_usdc(200 * USDC).await;
    env.pay_usdc(&agent, &agent_usdc, &keys.vault, 100 * USDC)
        .await;
    let raise = update_model_ix(
        &keys,
        &creator.pubkey(),
        model_vault::ModelUpdate {
            creator: None,
            creator_share_bps: Some(5_000),
        },
    );
    let crank = env.buyback_ix(&keys);
    env.send(&[raise, crank], &[&creator]).await.unwrap();
    let model: Model = env.account(&keys.model).await;
    assert_eq!(model.totals.revenue_swept, 100 * USDC);
    assert_eq!(
        model.creator_unclaimed, 0,
        "swept at the advertised share, 0"
    );
    assert_eq!(model.creator_share_bps, 5_000);

    // revenue paid after the change is split at the new share
    env.pay_usdc(&agent, &agent_usdc, &keys.vault, 100 * USDC)
        .await;
    env.warp_slots(default_params().guard.cooldown_slots).await;
    env.buyback(&keys).await.unwrap();
    let model: Model = env.account(&keys.model).await;
    assert_eq!(model.creator_unclaimed, 50 * USDC);

    // with nothing new in the vault, the next crank still switches to a changed share
    let lower = update_model_ix(
        &keys,
        &creator.pubkey(),
        model_vault::ModelUpdate {
            creator: None,
            creator_share_bps: Some(1_000),
        },
    );
    env.send(&[lower], &[&creator]).await.unwrap();
    let model: Model = env.account(&keys.model).await;
    assert_eq!(
        model.creator_share_bps, 5_000,
        "pending until the next crank"
    );
    assert_eq!(model.pending_creator_share_bps, Some(1_000));
    env.warp_slots(default_params().guard.cooldown_slots).await;
    env.buyback(&keys).await.unwrap();
    let model: Model = env.account(&keys.model).await;
    assert_eq!(model.creator_share_bps, 1_000);
    assert_eq!(model.pending_creator_share_bps, None);
}
