//! The audit of charges against the chain: each kind of discrepancy, seeded, is reported.

use audit::{audit_charges, vaults::AccountFlows, Amount, AuditScope, Reconciliation};
use ledger::fixtures::{completed_charge, our_addresses, two_buybacks, usdc_leg as leg};
use ledger::{Batch, Chain, Ledger, TransferRow, VaultEventRow};
use sqlx::PgPool;

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn every_kind_of_discrepancy_is_reported(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    our_addresses(&ledger, &[("alpha", "vault"), ("beta", "vault")]).await;
    let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
    batch.transfers = vec![
        leg("good", "vault", 1_000),
        leg("short", "vault", 999),
        leg("elsewhere", "stranger", 1_000),
        leg("gift", "vault", 5_000),
    ];
    ledger.write(&batch).await.unwrap();

    let good = completed_charge(&ledger, "alpha", Chain::Solana, "good", "vault", 1_000).await;
    let missing = completed_charge(
        &ledger,
        "alpha",
        Chain::Solana,
        "never-landed",
        "vault",
        1_000,
    )
    .await;
    let short = completed_charge(&ledger, "alpha", Chain::Solana, "short", "vault", 1_000).await;
    let elsewhere =
        completed_charge(&ledger, "beta", Chain::Solana, "elsewhere", "vault", 1_000).await;

    let audit = audit_charges(&ledger, &AuditScope::default())
        .await
        .unwrap();
    let results: Vec<(i64, Reconciliation)> = audit
        .charges
        .iter()
        .map(|c| (c.charge_id, c.result.clone()))
        .collect();
    assert_eq!(
        results,
        [
            (good, Reconciliation::Matched),
            (missing, Reconciliation::Missing),
            (short, Reconciliation::AmountMismatch { found: 999 }),
            (
                elsewhere,
                Reconciliation::WrongDestination {
                    found: "stranger".into()
                }
            ),
        ]
    );
    let inflows: Vec<(&str, Amount)> = audit
        .unexplained_inflows
        .iter()
        .map(|i| (i.tx.as_str(), i.amount.clone()))
        .collect();
    assert_eq!(
        inflows,
        [("gift", Amount::Units(5_000))],
        "a transfer into a payTo with no charge"
    );
    assert!(!audit.reconciled());

    let beta = audit_charges(
        &ledger,
        &AuditScope {
            model: Some("beta".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(beta.charges.len(), 1, "scoped to one model");
}

/// An amount the ledger holds but that is not a number of base units (numeric(20, 0) goes past
/// u64: an edited row, another writer) is a discrepancy, never 0: a charge and its transfer
/// both unreadable must not "match" as 0 = 0, and an inflow shows what the ledger holds.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn an_amount_that_cannot_be_read_is_a_discrepancy_not_zero(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    our_addresses(&ledger, &[("alpha", "vault")]).await;
    let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
    batch.transfers = vec![leg("huge", "vault", 1), leg("gift", "vault", 1)];
    ledger.write(&batch).await.unwrap();
    completed_charge(&ledger, "alpha", Chain::Solana, "huge", "vault", 1).await;
    let huge = "99999999999999999999";
    for table in ["transfers", "charges"] {
        sqlx::query(&format!("UPDATE ledger.{table} SET amount = {huge}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    let audit = audit_charges(&ledger, &AuditScope::default())
        .await
        .unwrap();
    assert!(!audit.reconciled(), "{audit:?}");
    assert_eq!(
        audit.charges[0].result,
        Reconciliation::UnreadableAmount { found: huge.into() }
    );
    assert_eq!(audit.charges[0].amount, Amount::Unreadable(huge.into()));
    assert_eq!(
        audit.unexplained_inflows[0].amount,
        Amount::Unreadable(huge.into())
    );

    // a readable charge against an unreadable transfer is unreadable too, not a mismatch with 0
    sqlx::query("UPDATE ledger.charges SET amount = 1")
        .execute(&pool)
        .await
        .unwrap();
    let audit = audit_charges(&ledger, &AuditScope::default())
        .await
        .unwrap();
    assert_eq!(
        audit.charges[0].result,
        Reconciliation::UnreadableAmount { found: huge.into() }
    );
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_ledger_where_everything_matches_reconciles(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    our_addresses(&ledger, &[("alpha", "vault")]).await;
    let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
    batch.transfers = vec![leg("a", "vault", 10), leg("b", "treasury", 20)];
    ledger.write(&batch).await.unwrap();
    completed_charge(&ledger, "alpha", Chain::Solana, "a", "vault", 10).await;
    completed_charge(&ledger, "beta", Chain::Solana, "b", "treasury", 20).await;
    let audit = audit_charges(&ledger, &AuditScope::default())
        .await
        .unwrap();
    assert!(audit.reconciled(), "{audit:?}");
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_vaults_flows_are_told_apart_by_cause(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
    two_buybacks(&mut batch);
    batch.transfers.push(leg("paid", "alpha-vault", 3_000_000));
    // a donation: no charge, no instruction
    batch.transfers.push(leg("gift", "alpha-vault", 250));
    // the treasury releases revenue it held before tokenization (the instruction's own leg) ...
    let mut release = leg("rel", "alpha-vault", 500_000);
    release.leg = "0.0".into();
    release.source = Some("treasury-usdc".into());
    // ... and a plain transfer in the same transaction, which the release did not move
    let beside = TransferRow {
        leg: "1".into(),
        ..leg("rel", "alpha-vault", 40)
    };
    batch.transfers.extend([release, beside]);
    batch.vault_events.push(VaultEventRow {
        signature: "rel".into(),
        ix_path: "0".into(),
        slot: 7,
        block_time: None,
        tx_index: 0,
        kind: ledger::VaultEventKind::Release,
        model: Some("alpha".into()),
        actor: Some("treasury".into()),
        usdc_amount: Some(500_000),
        token_amount: None,
        success: true,
    });
    ledger.write(&batch).await.unwrap();
    completed_charge(
        &ledger,
        "alpha",
        Chain::Solana,
        "paid",
        "alpha-vault",
        3_000_000,
    )
    .await;

    let flows = AccountFlows::read(&ledger, "alpha-vault-usdc", "treasury")
        .await
        .unwrap();
    assert_eq!(
        flows.inflow,
        [
            ("held_released".to_string(), 500_000),
            ("payment".to_string(), 3_000_000),
            ("unexplained".to_string(), 290),
        ],
        "only a charge's settlement is a payment; only the instruction's own legs are its"
    );
    assert_eq!(
        flows.outflow,
        [
            ("buyback".to_string(), 1_900_000),
            ("protocol_fee".to_string(), 100_000)
        ],
        "each buyback's leg to the treasury is its protocol fee"
    );
    assert_eq!(flows.balance(), 1_500_290);
}
