//! One negative test per vulnerability class of `research/program.md` §4, each asserting the
//! specific error, and that nothing moved.
#![allow(deprecated)] // `ProgramTestContext::set_account` is "Agave Unstable API" in 3.1

use anchor_lang::{error::ErrorCode as Anchor, prelude::Pubkey};
use model_vault::{error::ModelVaultError, ConfigUpdate};
use solana_account::{Account, AccountSharedData};
use solana_signer::Signer;

use crate::harness::*;

/// A model with revenue already split, so its creator has something to claim.
async fn model_with_claimable(env: &mut Env, slug: &str) -> (solana_keypair::Keypair, ModelKeys) {
    let (creator, keys) = env.tokenized_model(slug, 2_000).await;
    let (agent, agent_usdc) = env.agent_with_usdc(100 * USDC).await;
    env.pay_usdc(&agent, &agent_usdc, &keys.vault, 100 * USDC)
        .await;
    env.buyback(&keys).await.unwrap();
    (creator, keys)
}

#[tokio::test]
async fn missing_signer_is_refused() {
    let mut env = Env::new().await;
    let mut ix = update_config_ix(
        &env.admin.pubkey(),
        ConfigUpdate {
            paused: Some(true),
            ..Default::default()
        },
    );
    ix.accounts[0].is_signer = false;
    assert_error(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    assert!(
        !env.account::<model_vault::Config>(&config_pda())
            .await
            .paused
    );
}

#[tokio::test]
async fn admin_instructions_refuse_anyone_else() {
    let mut env = Env::new().await;
    let stranger = env.funded_keypair().await;
    let ix = update_config_ix(
        &stranger.pubkey(),
        ConfigUpdate {
            admin: Some(stranger.pubkey()),
            ..Default::default()
        },
    );
    assert_error(
        env.send(&[ix], &[&stranger]).await,
        Anchor::ConstraintHasOne,
    );
    assert_eq!(
        env.account::<model_vault::Config>(&config_pda())
            .await
            .admin,
        env.admin.pubkey()
    );
}

#[tokio::test]
async fn creator_and_treasury_instructions_refuse_anyone_else() {
    let mut env = Env::new().await;
    let (_creator, keys) = model_with_claimable(&mut env, "owned").await;
    let (thief, thief_usdc) = env.agent_with_usdc(0).await;
    let ix = env.claim_ix(&keys, &thief.pubkey(), &thief_usdc);
    assert_error(env.send(&[ix], &[&thief]).await, Anchor::ConstraintHasOne);

    let mut ix = env.release_ix(&keys, USDC);
    swap_account(&mut ix, env.treasury.pubkey(), thief.pubkey());
    assert_error(env.send(&[ix], &[&thief]).await, Anchor::ConstraintHasOne);
    assert_eq!(env.balance(&thief_usdc).await, 0);
    assert_eq!(env.balance(&keys.vault).await, 20 * USDC);
}

#[tokio::test]
async fn account_owned_by_another_program_is_refused() {
    let mut env = Env::new().await;
    let (_creator, keys) = model_with_claimable(&mut env, "owner-check").await;
    // A byte-exact copy of the model naming the attacker as creator, owned by another program.
    let thief = env.funded_keypair().await;
    let mut data = env.raw_account(&keys.model).await.unwrap().data;
    let creator_offset = 8 + 32;
    data[creator_offset..creator_offset + 32].copy_from_slice(thief.pubkey().as_ref());
    let fake = Pubkey::new_unique();
    let forged = Account {
        lamports: 10_000_000,
        data,
        owner: Pubkey::new_unique(),
        ..Account::default()
    };
    env.ctx.set_account(&fake, &AccountSharedData::from(forged));
    let thief_usdc = env.usdc_account(&thief.pubkey()).await;
    let mut ix = env.claim_ix(&keys, &thief.pubkey(), &thief_usdc);
    swap_account(&mut ix, keys.model, fake);
    assert_error(
        env.send(&[ix], &[&thief]).await,
        Anchor::AccountOwnedByWrongProgram,
    );
    assert_eq!(env.balance(&thief_usdc).await, 0);
}

#[tokio::test]
async fn an_account_of_another_type_is_refused() {
    let mut env = Env::new().await;
    let (creator, keys) = model_with_claimable(&mut env, "cosplay").await;
    // The pool is owned by the program too; only its discriminator tells it apart.
    let dest = env.usdc_account(&creator.pubkey()).await;
    let mut ix = env.claim_ix(&keys, &creator.pubkey(), &dest);
    swap_account(&mut ix, keys.model, keys.pool);
    assert_error(
        env.send(&[ix], &[&creator]).await,
        Anchor::AccountDiscriminatorMismatch,
    );
}

#[tokio::test]
async fn another_models_vault_or_pool_is_refused() {
    let mut env = Env::new().await;
    let (creator_a, a) = model_with_claimable(&mut env, "model-a").await;
    let (_creator_b, b) = model_with_claimable(&mut env, "model-b").await;

    // creator A tries to claim out of B's vault
    let dest = env.usdc_account(&creator_a.pubkey()).await;
    let mut ix = env.claim_ix(&a, &creator_a.pubkey(), &dest);
    swap_account(&mut ix, a.vault_authority, b.vault_authority);
    swap_account(&mut ix, a.vault, b.vault);
    assert_error(
        env.send(&[ix], &[&creator_a]).await,
        Anchor::ConstraintSeeds,
    );

    // a crank of A that spends B's vault
    env.warp_slots(default_params().guard.cooldown_slots).await;
    let mut ix = env.buyback_ix(&a);
    swap_account(&mut ix, a.vault_authority, b.vault_authority);
    swap_account(&mut ix, a.vault, b.vault);
    assert_error(env.send(&[ix], &[]).await, Anchor::ConstraintSeeds);

    // a trade on A's model against B's pool
    let t = env.trader(&a, 10 * USDC).await;
    let mut ix = env.buy_ix(&a, &t.key.pubkey(), &t.usdc, &t.tokens, USDC, 1);
    swap_account(&mut ix, a.pool, b.pool);
    assert_error(env.send(&[ix], &[&t.key]).await, Anchor::ConstraintSeeds);
    assert_eq!(env.balance(&b.vault).await, 20 * USDC);
    assert_eq!(env.balance(&dest).await, 0);
}

#[tokio::test]
async fn wrong_token_program_is_refused() {
    let mut env = Env::new().await;
    let (_creator, keys) = env.tokenized_model("token-program", 1_000).await;
    let t = env.trader(&keys, 10 * USDC).await;
    // model tokens are pinned to Token-2022: classic SPL Token is refused for them
    let mut ix = env.buy_ix(&keys, &t.key.pubkey(), &t.usdc, &t.tokens, USDC, 1);
    swap_account(&mut ix, TOKEN_2022, TOKEN_PROGRAM);
    assert_error(env.send(&[ix], &[&t.key]).await, Anchor::InvalidProgramId);
    // and an arbitrary program cannot stand in for the USDC token program
    let mut ix = env.buy_ix(&keys, &t.key.pubkey(), &t.usdc, &t.tokens, USDC, 1);
    swap_account(&mut ix, TOKEN_PROGRAM, model_vault::ID);
    assert_error(env.send(&[ix], &[&t.key]).await, Anchor::InvalidProgramId);
    assert_eq!(env.balance(&t.usdc).await, 10 * USDC);
}

#[tokio::test]
async fn a_fake_usdc_mint_is_refused() {
    let mut env = Env::new().await;
    let (_creator, keys) = env.tokenized_model("fake-usdc", 1_000).await;
    let fake_mint = env.create_mint(6).await;
    let t = env.trader(&keys, 0).await;
    let fake_usdc = env
        .create_ata(&t.key.pubkey(), &fake_mint, TOKEN_PROGRAM)
        .await;
    let mut ix = env.buy_ix(&keys, &t.key.pubkey(), &fake_usdc, &t.tokens, USDC, 1);
    swap_account(&mut ix, env.usdc, fake_mint);
    assert_error(env.send(&[ix], &[&t.key]).await, Anchor::ConstraintAddress);
}

#[tokio::test]
async fn protocol_fee_cannot_be_redirected() {
    let mut env = Env::new().await;
    let (_creator, keys) = env.tokenized_model("fee-redirect", 1_000).await;
    let (agent, agent_usdc) = env.agent_with_usdc(100 * USDC).await;
    env.pay_usdc(&agent, &agent_usdc, &keys.vault, 100 * USDC)
        .await;
    let mut ix = env.buyback_ix(&keys);
    swap_account(&mut ix, env.treasury_usdc, agent_usdc);
    assert_error(env.send(&[ix], &[]).await, Anchor::ConstraintTokenOwner);
    assert_eq!(env.balance(&keys.vault).await, 100 * USDC);
}

/// A USDC account with the right owner at another address than the associated one is not the
/// vault: a crank must not read its balance as revenue, a claim must not pay out of it, a trade
/// must not use it as the pool's reserve. (The program checks these addresses by hand.)
#[tokio::test]
async fn a_look_alike_of_an_associated_account_is_refused() {
    let mut env = Env::new().await;
    let (creator, keys) = model_with_claimable(&mut env, "look-alike").await;
    let look_alike = env.usdc_account_elsewhere(&keys.vault_authority).await;
    env.mint_usdc(&look_alike, 50 * USDC).await;
    env.warp_slots(default_params().guard.cooldown_slots).await;
    let mut ix = env.buyback_ix(&keys);
    swap_account(&mut ix, keys.vault, look_alike);
    assert_error(env.send(&[ix], &[]).await, Anchor::ConstraintAssociated);

    let dest = env.usdc_account(&creator.pubkey()).await;
    let mut ix = env.claim_ix(&keys, &creator.pubkey(), &dest);
    swap_account(&mut ix, keys.vault, look_alike);
    assert_error(
        env.send(&[ix], &[&creator]).await,
        Anchor::ConstraintAssociated,
    );

    let pool_look_alike = env.usdc_account_elsewhere(&keys.pool).await;
    let t = env.trader(&keys, 10 * USDC).await;
    let mut ix = env.buy_ix(&keys, &t.key.pubkey(), &t.usdc, &t.tokens, USDC, 1);
    swap_account(&mut ix, keys.pool_quote_vault, pool_look_alike);
    assert_error(
        env.send(&[ix], &[&t.key]).await,
        Anchor::ConstraintAssociated,
    );
    assert_eq!(env.balance(&look_alike).await, 50 * USDC);
    assert_eq!(env.balance(&dest).await, 0);
    assert_eq!(env.balance(&t.usdc).await, 10 * USDC);
}

#[tokio::test]
async fn the_same_account_twice_as_writable_is_refused() {
    let mut env = Env::new().await;
    let (creator, keys) = model_with_claimable(&mut env, "duplicates").await;
    // the vault as its own claim destination
    let ix = env.claim_ix(&keys, &creator.pubkey(), &keys.vault);
    assert_error(
        env.send(&[ix], &[&creator]).await,
        Anchor::ConstraintDuplicateMutableAccount,
    );
    let model: model_vault::Model = env.account(&keys.model).await;
    assert_eq!(
        model.creator_unclaimed,
        20 * USDC,
        "nothing was booked as claimed"
    );
}

/// An account that exists is never created again: the config, a model, a pool.
#[tokio::test]
async fn reinitialisation_is_refused() {
    let mut env = Env::new().await;
    let stranger = env.funded_keypair().await;
    // Refused at the loader's record first: only the upgrade authority initializes.
    let ix = env.initialize_ix(&stranger.pubkey(), default_params());
    assert_error(
        env.send(&[ix], &[&stranger]).await,
        ModelVaultError::NotUpgradeAuthority,
    );
    let admin = env.admin.insecure_clone();
    let ix = env.initialize_ix(&admin.pubkey(), default_params());
    assert_error(
        env.send(&[ix], &[&admin]).await,
        ModelVaultError::AccountExists,
    );
    assert_eq!(
        env.account::<model_vault::Config>(&config_pda())
            .await
            .admin,
        env.admin.pubkey()
    );

    let (creator, keys) = env.tokenized_model("once", 1_000).await;
    let ix = env.register_ix(&stranger, &keys, 0);
    assert_error(
        env.send(&[ix], &[&stranger]).await,
        ModelVaultError::AccountExists,
    );
    let ix = env.tokenize_ix(&creator, &keys);
    assert_error(
        env.send(&[ix], &[&creator]).await,
        ModelVaultError::AlreadyTokenized,
    );
    let model: model_vault::Model = env.account(&keys.model).await;
    assert_eq!(model.creator, creator.pubkey());
}

/// Anyone may send lamports to an address before its account exists. Anchor 1.2's `init`
/// creates over them with an instruction runtimes before SIMD-0312 lack, so one transfer could
/// block a model for good; the program creates its PDAs itself, and cannot be blocked.
#[tokio::test]
async fn lamports_sent_to_a_models_addresses_first_cannot_block_it() {
    let mut env = Env::new().await;
    let squatter = env.funded_keypair().await;
    let keys = env.model_keys("prefunded");
    // Every address register and tokenize create, funded first (an empty account holds at
    // least the rent-exempt minimum for no data); the pool's 2 SOL is more than it needs.
    for (address, lamports) in [
        (keys.model, 1_000_000),
        (keys.pool, 2_000_000_000),
        (keys.mint, 1_000_000),
        (keys.pool_token_vault, 1_000_000),
    ] {
        let ix = anchor_lang::solana_program::system_instruction::transfer(
            &squatter.pubkey(),
            &address,
            lamports,
        );
        env.send(&[ix], &[&squatter]).await.expect("prefund");
    }
    let creator = env.funded_keypair().await;
    env.register(&creator, "prefunded", 1_000)
        .await
        .expect("register over a prefunded address");
    let ix = env.tokenize_ix(&creator, &keys);
    env.send(&[ix], &[&creator])
        .await
        .expect("tokenize over prefunded addresses");

    let model: model_vault::Model = env.account(&keys.model).await;
    assert_eq!(model.creator, creator.pubkey());
    assert_eq!(model.mint, keys.mint);
    let pool: model_vault::Pool = env.account(&keys.pool).await;
    assert_eq!(pool.mint, keys.mint);
    let pool_account = env.raw_account(&keys.pool).await.unwrap();
    assert_eq!(
        pool_account.lamports, 2_000_000_000,
        "what was sent stays with the account; nothing more was taken from the creator"
    );
    let mint = env.mint_state(&keys.mint).await;
    assert_eq!(mint.supply, default_params().curve.token_supply);
    assert!(
        mint.mint_authority.is_none(),
        "the mint authority is revoked"
    );
    assert_eq!(
        env.balance(&keys.pool_token_vault).await,
        default_params().curve.token_supply,
        "the pool holds the supply"
    );
    // And it trades like any other model.
    let trader = env.trader(&keys, 10 * USDC).await;
    env.buy(&keys, &trader, USDC, 1)
        .await
        .expect("a prefunded model trades");
}

#[tokio::test]
async fn a_model_id_that_is_not_the_slug_hash_is_refused() {
    let mut env = Env::new().await;
    let squatter = env.funded_keypair().await;
    // squatting the id of "gpt-4o" under another slug
    let mut keys = env.model_keys("gpt-4o");
    keys.slug = "not-gpt".into();
    let ix = env.register_ix(&squatter, &keys, 0);
    assert_error(
        env.send(&[ix], &[&squatter]).await,
        ModelVaultError::InvalidModelId,
    );
    assert!(env.raw_account(&keys.model).await.is_none());
}

#[tokio::test]
async fn amounts_at_u64_extremes_fail_cleanly() {
    let mut env = Env::new().await;
    let (_creator, keys) = env.tokenized_model("overflow", 1_000).await;
    let t = env.trader(&keys, 10 * USDC).await;
    assert_error(
        env.sell(&keys, &t, u64::MAX, 0).await,
        ModelVaultError::MathOverflow,
    );
    // a buy beyond the buyer's balance fails in the token program, after the math held
    let result = env.buy(&keys, &t, u64::MAX, 1).await;
    assert!(result.is_err());
    assert_eq!(env.balance(&t.usdc).await, 10 * USDC);
}

#[tokio::test]
async fn out_of_range_configuration_is_refused() {
    let mut env = Env::new().await;
    let mut params = default_params();
    params.protocol_fee_bps = 6_000; // with a 50% creator maximum, shares would exceed 100%
    let result = env
        .update_config(ConfigUpdate {
            params: Some(params),
            ..Default::default()
        })
        .await;
    assert_error(result, ModelVaultError::InvalidConfig);
    let creator = env.funded_keypair().await;
    let result = env.register(&creator, "greedy", 5_001).await.map(|_| ());
    assert_error(result, ModelVaultError::CreatorShareTooHigh);
}

#[tokio::test]
async fn a_vault_created_ahead_of_time_does_not_block_tokenization() {
    let mut env = Env::new().await;
    let creator = env.funded_keypair().await;
    let keys = env.register(&creator, "griefed", 1_000).await.unwrap();
    // anyone may create a PDA's associated token accounts before tokenization
    let usdc = env.usdc;
    env.create_ata(&keys.vault_authority, &usdc, TOKEN_PROGRAM)
        .await;
    env.create_ata(&keys.pool, &usdc, TOKEN_PROGRAM).await;
    let ix = env.tokenize_ix(&creator, &keys);
    env.send(&[ix], &[&creator]).await.unwrap();
    assert!(env
        .account::<model_vault::Model>(&keys.model)
        .await
        .is_tokenized());
}

/// M6: `initialize` belongs to the program's upgrade authority, not to whoever calls first.
#[tokio::test]
async fn only_the_upgrade_authority_may_initialize() {
    let mut env = Env::without_config().await;
    let stranger = env.funded_keypair().await;
    let ix = env.initialize_ix(&stranger.pubkey(), default_params());
    assert_error(
        env.send(&[ix], &[&stranger]).await,
        ModelVaultError::NotUpgradeAuthority,
    );
    assert!(env.raw_account(&config_pda()).await.is_none());

    let admin = env.admin.insecure_clone();
    let ix = env.initialize_ix(&admin.pubkey(), default_params());
    env.send(&[ix], &[&admin]).await.unwrap();
    let config: model_vault::Config = env.account(&config_pda()).await;
    assert_eq!(config.admin, admin.pubkey());
}

/// M6: a look-alike `ProgramData` naming the stranger, at another address or owned by
/// another program, proves nothing.
#[tokio::test]
async fn a_forged_program_data_account_is_refused() {
    let mut env = Env::without_config().await;
    let stranger = env.funded_keypair().await;
    let forged = Pubkey::new_unique();
    env.ctx.set_account(
        &forged,
        &AccountSharedData::from(program_data_account(&stranger.pubkey())),
    );
    let mut ix = env.initialize_ix(&stranger.pubkey(), default_params());
    swap_account(&mut ix, program_data_pda(), forged);
    assert_error(env.send(&[ix], &[&stranger]).await, Anchor::ConstraintSeeds);

    let mut fake = program_data_account(&stranger.pubkey());
    fake.owner = stranger.pubkey();
    env.ctx
        .set_account(&program_data_pda(), &AccountSharedData::from(fake));
    let ix = env.initialize_ix(&stranger.pubkey(), default_params());
    assert_error(
        env.send(&[ix], &[&stranger]).await,
        Anchor::AccountOwnedByWrongProgram,
    );
    assert!(env.raw_account(&config_pda()).await.is_none());
}

/// `initialize` with a Token-2022 USDC built by `extension_ix` (one mint extension).
async fn initialize_with_token_2022_usdc(
    extension: spl_token_2022_interface::extension::ExtensionType,
    extension_ix: impl FnOnce(&Pubkey) -> solana_instruction::Instruction,
) -> Result<(), solana_transaction_error::TransactionError> {
    let mut env = Env::without_config().await;
    let mint = env.create_token_2022_mint(extension, extension_ix).await;
    let protocol = Protocol {
        usdc_mint: mint,
        usdc_token_program: TOKEN_2022,
        treasury: env.treasury.pubkey(),
        treasury_usdc: Pubkey::default(),
    };
    let admin = env.admin.insecure_clone();
    let ix = protocol.initialize(&admin.pubkey(), default_params());
    env.send(&[ix], &[&admin]).await
}

/// L3: a USDC whose transfers do not move exactly the amount asked (fee), or that a third
/// party can take from any account (permanent delegate), is refused at initialize.
#[tokio::test]
async fn usdc_mints_with_unsafe_extensions_are_refused() {
    use spl_token_2022_interface::{extension::ExtensionType, instruction as t22};
    let fee = initialize_with_token_2022_usdc(ExtensionType::TransferFeeConfig, |mint| {
        spl_token_2022_interface::extension::transfer_fee::instruction::initialize_transfer_fee_config(
            &TOKEN_2022, mint, None, None, 100, u64::MAX,
        )
        .unwrap()
    })
    .await;
    assert_error(fee, ModelVaultError::UnsupportedMint);
    let delegate = Pubkey::new_unique();
    let delegated = initialize_with_token_2022_usdc(ExtensionType::PermanentDelegate, |mint| {
        t22::initialize_permanent_delegate(&TOKEN_2022, mint, &delegate).unwrap()
    })
    .await;
    assert_error(delegated, ModelVaultError::UnsupportedMint);
    // metadata is harmless
    let with_metadata = initialize_with_token_2022_usdc(ExtensionType::MetadataPointer, |mint| {
        spl_token_2022_interface::extension::metadata_pointer::instruction::initialize(
            &TOKEN_2022,
            mint,
            None,
            Some(*mint),
        )
        .unwrap()
    })
    .await;
    with_metadata.unwrap();
}
