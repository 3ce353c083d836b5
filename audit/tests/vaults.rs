//! The vault and supply checks against a real localnet.

use std::time::Duration;

use audit::{vaults::UnrecordedModel, AuditScope, Format, Report, VaultAudit};
use ledger::{fixtures::usdc_leg, Batch, Chain, Cursor, Ledger, TransferRow, VaultEventRow};
use solana_client::nonblocking::rpc_client::RpcClient;
use sqlx::PgPool;
use testkit::chains::{start_localnet, tokenized_model};

/// A Solana batch of `rows` that moves the cursor `name` to `position`.
fn batch(rows: Vec<TransferRow>, name: &str, position: u64) -> Batch {
    batch_on(Chain::Solana, rows, name, position)
}

fn batch_on(chain: Chain, rows: Vec<TransferRow>, name: &str, position: u64) -> Batch {
    let ingest = match chain {
        Chain::Solana => ledger::Ingest::Grpc,
        Chain::Base => ledger::Ingest::EvmLogs,
    };
    let mut batch = Batch::new(chain, ingest);
    batch.transfers = rows;
    batch.cursor = Some(Cursor {
        name: name.into(),
        position,
    });
    batch
}

/// A check that does not add up waits for the ledger's cursor of the follower the audit was
/// given (an indexer configured with `[solana] cursor = "…"`), not for any cursor named
/// `solana`: here one named `solana` is far ahead, while the follower that writes the mint is
/// behind and catches up a moment later.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn the_vault_check_waits_on_the_configured_cursor(pool: PgPool) {
    let net = start_localnet(false).await;
    let keys = tokenized_model(&net, "cursor/model").await;
    let ledger = Ledger::from_pool(pool);
    let mut tokenized = batch(Vec::new(), "solana", 1 << 40);
    tokenized
        .vault_events
        .push(event(ledger::VaultEventKind::Tokenize, &keys.model));
    ledger.write(&tokenized).await.unwrap();
    ledger.write(&batch(Vec::new(), "mine", 0)).await.unwrap();

    let rpc_url = net.state.solana.rpc_url.clone();
    let supply: u64 = RpcClient::new(rpc_url.clone())
        .get_token_supply(&keys.mint)
        .await
        .unwrap()
        .amount
        .parse()
        .unwrap();
    let follower = ledger.clone();
    let mint = keys.mint.to_string();
    let catching_up = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let minted = TransferRow {
            kind: ledger::TransferKind::MintToChecked,
            mint,
            ..usdc_leg("mint", "pool", supply)
        };
        follower
            .write(&batch(vec![minted], "mine", 1 << 40))
            .await
            .unwrap();
    });

    let checks = VaultAudit::new(rpc_url, "mine")
        .catching_up_for(Duration::from_secs(15))
        .check_models(&ledger, None)
        .await
        .unwrap();
    catching_up.await.unwrap();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0].slug, "cursor/model");
    assert!(
        checks[0].supply_adds_up() && checks[0].balance_adds_up(),
        "waited for `mine` to reach the chain: {checks:?}"
    );
}

/// A Solana treasury's USDC on chain against what the ledger saw move: the working capital
/// localnet minted it, missing from the ledger (as a pair of rows deleted together would be),
/// does not add up; once the ledger holds it, it does.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_treasury_holds_on_chain_what_the_ledger_says(pool: PgPool) {
    let net = start_localnet(false).await;
    let s = &net.state.solana;
    let ledger = Ledger::from_pool(pool);
    ledger
        .record_treasury(
            Chain::Solana,
            &s.treasury.to_string(),
            &s.usdc_mint.to_string(),
        )
        .await
        .unwrap();
    ledger
        .write(&batch(Vec::new(), "solana", 1 << 40))
        .await
        .unwrap();
    let audit =
        VaultAudit::new(s.rpc_url.clone(), "solana").catching_up_for(Duration::from_secs(1));
    let checks = audit.check_treasuries(&ledger).await.unwrap();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0].chain_balance, localnet::TREASURY_FLOAT);
    assert!(!checks[0].adds_up(), "{checks:?}");

    let funding = TransferRow {
        kind: ledger::TransferKind::MintTo,
        mint: s.usdc_mint.to_string(),
        source_owner: None,
        ..usdc_leg(
            s.treasury_funding.as_deref().unwrap(),
            &s.treasury.to_string(),
            localnet::TREASURY_FLOAT,
        )
    };
    ledger
        .write(&batch(vec![funding], "solana", 1 << 40))
        .await
        .unwrap();
    let checks = audit.check_treasuries(&ledger).await.unwrap();
    assert!(checks[0].adds_up(), "{checks:?}");
}

/// The ledger's record of a model-vault instruction of `kind` on `model`.
fn event(kind: ledger::VaultEventKind, model: &solana_pubkey::Pubkey) -> VaultEventRow {
    VaultEventRow {
        signature: format!("{kind:?}-{model}"),
        ix_path: "0".into(),
        slot: 1,
        block_time: None,
        tx_index: 0,
        kind,
        model: Some(model.to_string()),
        actor: None,
        usdc_amount: None,
        token_amount: None,
        success: true,
    }
}

/// A model the chain holds is found whatever the ledger recorded (the program's accounts are
/// listed): its vault is checked, and until the ledger records its registration and its
/// tokenization the audit says the ledger has no record of it.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_model_on_chain_the_ledger_never_saw_is_reported(pool: PgPool) {
    let net = start_localnet(false).await;
    let keys = tokenized_model(&net, "ghost/model").await;
    let ledger = Ledger::from_pool(pool);
    ledger
        .write(&batch(Vec::new(), "solana", 1 << 40))
        .await
        .unwrap();
    let audit = VaultAudit::new(net.state.solana.rpc_url.clone(), "solana")
        .catching_up_for(Duration::from_secs(1));

    let unrecorded = |missing| {
        vec![UnrecordedModel {
            model: keys.model.to_string(),
            slug: "ghost/model".into(),
            missing,
        }]
    };
    let checks = audit.check(&ledger, None).await.unwrap();
    assert_eq!(checks.unrecorded_models, unrecorded("registered"));
    assert_eq!(
        checks
            .models
            .iter()
            .map(|m| m.slug.as_str())
            .collect::<Vec<_>>(),
        ["ghost/model"],
        "its vault is checked though the ledger never saw it tokenized"
    );
    let report = Report::read(&ledger, &AuditScope::default(), Some(checks))
        .await
        .unwrap();
    assert!(!report.reconciled());
    assert!(
        report.render(Format::Table).contains("model ghost/model (")
            && report
                .render(Format::Table)
                .contains("THE LEDGER HAS NO RECORD"),
        "{}",
        report.render(Format::Table)
    );

    let mut registered = batch(Vec::new(), "solana", 1 << 40);
    registered
        .vault_events
        .push(event(ledger::VaultEventKind::Register, &keys.model));
    ledger.write(&registered).await.unwrap();
    assert_eq!(
        audit.check_recorded_models(&ledger, None).await.unwrap(),
        unrecorded("tokenized")
    );
    assert!(
        audit
            .check_recorded_models(&ledger, Some("another/model"))
            .await
            .unwrap()
            .is_empty(),
        "scoped to another model"
    );

    let mut tokenized = batch(Vec::new(), "solana", 1 << 40);
    tokenized
        .vault_events
        .push(event(ledger::VaultEventKind::Tokenize, &keys.model));
    ledger.write(&tokenized).await.unwrap();
    assert!(audit
        .check_recorded_models(&ledger, None)
        .await
        .unwrap()
        .is_empty());
}

/// The Base treasury's USDC, read at the block the ledger's Base cursor has reached, against
/// the ledger's flows: a transfer after the cursor is not yet owed to the ledger; once the
/// cursor passes it, a ledger without its row does not add up, and with it does.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_base_treasury_holds_on_chain_what_the_ledger_says(pool: PgPool) {
    use alloy::providers::{Provider, ProviderBuilder};
    let net = start_localnet(true).await;
    let base = net.state.base.clone().expect("localnet runs Base");
    let ledger = Ledger::from_pool(pool);
    let (treasury, usdc) = (base.treasury.to_string(), base.usdc.to_string());
    ledger
        .record_treasury(Chain::Base, &treasury, &usdc)
        .await
        .unwrap();
    let provider = ProviderBuilder::new().connect_http(base.rpc_url.parse().unwrap());
    let follow = |position| batch_on(Chain::Base, Vec::new(), "base", position);
    let before = provider.get_block_number().await.unwrap();
    ledger.write(&follow(before)).await.unwrap();
    let audit = VaultAudit::new(net.state.solana.rpc_url.clone(), "solana")
        .catching_up_for(Duration::from_secs(1))
        .reading_base(base.rpc_url.parse().unwrap(), "base");
    let checks = audit.check_treasuries(&ledger).await.unwrap();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!((checks[0].chain, checks[0].chain_balance), (Chain::Base, 0));
    assert!(checks[0].adds_up(), "{checks:?}");

    let receipt = testkit::chains::base_payer_sends_usdc(&base, base.treasury, 1_234).await;
    let block = receipt.block_number.unwrap();
    let checks = audit.check_treasuries(&ledger).await.unwrap();
    assert!(
        checks[0].adds_up() && checks[0].chain_balance == 0,
        "read where the ledger has followed Base to: {checks:?}"
    );

    ledger.write(&follow(block)).await.unwrap();
    let checks = audit.check_treasuries(&ledger).await.unwrap();
    assert_eq!(checks[0].chain_balance, 1_234);
    assert!(
        !checks[0].adds_up(),
        "the transfer's row is missing: {checks:?}"
    );

    let row = TransferRow {
        block,
        mint: usdc.clone(),
        source_owner: Some(base.payer.to_string()),
        ..usdc_leg(&receipt.transaction_hash.to_string(), &treasury, 1_234)
    };
    ledger
        .write(&batch_on(Chain::Base, vec![row], "base", block))
        .await
        .unwrap();
    let checks = audit.check_treasuries(&ledger).await.unwrap();
    assert!(checks[0].adds_up(), "{checks:?}");
}
