//! The vault and supply checks against a real localnet.

use std::time::Duration;

use audit::VaultAudit;
use ledger::{fixtures::usdc_leg, Batch, Chain, Cursor, Ledger, TransferRow, VaultEventRow};
use solana_client::nonblocking::rpc_client::RpcClient;
use sqlx::PgPool;
use testkit::chains::{start_localnet, tokenized_model};

/// A batch of `rows` that moves the cursor `name` to `position`.
fn batch(rows: Vec<TransferRow>, name: &str, position: u64) -> Batch {
    let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
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
    tokenized.vault_events.push(VaultEventRow {
        signature: "tokenize".into(),
        ix_path: "0".into(),
        slot: 1,
        block_time: None,
        tx_index: 0,
        kind: ledger::VaultEventKind::Tokenize,
        model: Some(keys.model.to_string()),
        actor: None,
        usdc_amount: None,
        token_amount: None,
        success: true,
    });
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
