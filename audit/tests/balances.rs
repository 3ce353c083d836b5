//! The balance rail in the audit: what payers hold summed per chain as the treasuries'
//! liabilities, a balance that is not its entries reported, each withdrawal matched to the
//! transfer that paid its wallet.

use audit::{audit_balances, Amount, Reconciliation};
use ledger::fixtures::{credited, usdc_leg as leg};
use ledger::{Batch, Chain, Ledger, Requested};
use sqlx::PgPool;

async fn withdrawn(ledger: &Ledger, key: &str, amount: u64, tx: &str) -> i64 {
    let Requested::New(w) = ledger
        .request_withdrawal("agent", Chain::Solana, key, Some(amount))
        .await
        .unwrap()
    else {
        panic!("the balance covers it")
    };
    ledger.withdrawal_sent(w.id, tx).await.unwrap();
    w.id
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn liabilities_drift_and_withdrawals_are_reported(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    credited(&ledger, "agent", Chain::Solana, "c-1", 10_000).await;
    credited(&ledger, "0xagent", Chain::Base, "c-2", 700).await;
    // Two withdrawals: one the chain paid in full, one it paid short; one it never saw.
    let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
    batch.transfers = vec![leg("w-good", "agent", 1_000), leg("w-short", "agent", 900)];
    ledger.write(&batch).await.unwrap();
    let good = withdrawn(&ledger, "key-1", 1_000, "w-good").await;
    let short = withdrawn(&ledger, "key-2", 1_000, "w-short").await;
    let unseen = withdrawn(&ledger, "key-3", 1_000, "w-unseen").await;

    let audit = audit_balances(&ledger, &Amount::Units(0)).await.unwrap();
    let owed: Vec<(Chain, i64, Amount)> = audit
        .liabilities
        .iter()
        .map(|l| (l.chain, l.payers, l.available.clone()))
        .collect();
    assert_eq!(
        owed,
        [
            (Chain::Solana, 1, Amount::Units(7_000)),
            (Chain::Base, 1, Amount::Units(700))
        ]
    );
    assert!(audit.drift.is_empty(), "{:?}", audit.drift);
    let results: Vec<(i64, Reconciliation)> = audit
        .withdrawals
        .iter()
        .map(|w| (w.withdrawal_id, w.result.clone()))
        .collect();
    assert_eq!(
        results,
        [
            (good, Reconciliation::Matched),
            (short, Reconciliation::AmountMismatch { found: 900 }),
            (unseen, Reconciliation::Missing),
        ]
    );
    assert!(!audit.reconciled());

    // Someone writes a balance by hand: it no longer adds up to its entries.
    sqlx::query("UPDATE ledger.balances SET available = available + 5 WHERE payer = '0xagent'")
        .execute(&pool)
        .await
        .unwrap();
    let audit = audit_balances(&ledger, &Amount::Units(0)).await.unwrap();
    assert_eq!(audit.drift.len(), 1);
    assert_eq!(
        (
            audit.drift[0].available.clone(),
            audit.drift[0].entries.clone()
        ),
        (Amount::Units(705), Amount::Units(700))
    );
}

/// A treasury's USDC, as the ledger saw it move, against what payers on its chain are owed:
/// covered, then short once a payer is owed more than it holds.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_treasury_must_hold_what_payers_are_owed(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    ledger
        .record_treasury(Chain::Solana, "treasury", "usdc")
        .await
        .unwrap();
    let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
    batch.transfers = vec![
        leg("top-up", "treasury", 5_000),
        ledger::TransferRow {
            source_owner: Some("treasury".into()),
            ..leg("withdrawal", "agent", 1_000)
        },
    ];
    ledger.write(&batch).await.unwrap();
    credited(&ledger, "agent", Chain::Solana, "c-1", 4_000).await;
    let coverage = &audit_balances(&ledger, &Amount::Units(0))
        .await
        .unwrap()
        .coverage;
    assert_eq!(
        (
            coverage[0].holds.clone(),
            coverage[0].owes.clone(),
            coverage[0].covered
        ),
        (Amount::Units(4_000), Amount::Units(4_000), true)
    );
    credited(&ledger, "other", Chain::Solana, "c-2", 250).await;
    let audit = audit_balances(&ledger, &Amount::Units(0)).await.unwrap();
    assert_eq!(audit.coverage[0].short, Some(250));
    assert!(!audit.reconciled());

    // Payers on a chain whose treasury no gateway recorded: not covered, whatever it holds.
    credited(&ledger, "0xagent", Chain::Base, "c-3", 10).await;
    let audit = audit_balances(&ledger, &Amount::Units(0)).await.unwrap();
    let base = audit
        .coverage
        .iter()
        .find(|c| c.chain == Chain::Base)
        .unwrap();
    assert!(!base.covered, "{base:?}");
}

/// A withdrawal failed (and credited back) whose transfer the chain did pay is a discrepancy.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_failed_withdrawal_the_chain_paid_is_reported(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    credited(&ledger, "agent", Chain::Solana, "c-1", 5_000).await;
    let Requested::New(w) = ledger
        .request_withdrawal("agent", Chain::Solana, "key-1", Some(1_000))
        .await
        .unwrap()
    else {
        panic!("covered")
    };
    ledger.withdrawal_signed(w.id, "paid-anyway").await.unwrap();
    ledger
        .withdrawal_failed(w.id, "thought lost")
        .await
        .unwrap();
    let audit = audit_balances(&ledger, &Amount::Units(0)).await.unwrap();
    assert_eq!(
        audit.withdrawals[0].result,
        Reconciliation::Matched,
        "nothing moved: fine"
    );
    let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
    batch.transfers = vec![leg("paid-anyway", "agent", 1_000)];
    ledger.write(&batch).await.unwrap();
    let audit = audit_balances(&ledger, &Amount::Units(0)).await.unwrap();
    assert_eq!(
        audit.withdrawals[0].result,
        Reconciliation::AmountMismatch { found: 1_000 }
    );
    assert!(!audit.reconciled());
}
