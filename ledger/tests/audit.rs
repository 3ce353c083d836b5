//! The audit of charges against the chain: each kind of discrepancy, seeded, is reported.

use ledger::fixtures::{completed_charge, slot_time, two_buybacks, usdc_leg as leg};
use ledger::{AuditScope, Batch, Chain, Ledger, Reconciliation, VaultEventRow};
use sqlx::PgPool;

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn every_kind_of_discrepancy_is_reported(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let mut batch = Batch::new(Chain::Solana, "grpc");
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

    let audit = ledger.audit_charges(&AuditScope::default()).await.unwrap();
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
    let inflows: Vec<(&str, u64)> = audit
        .unexplained_inflows
        .iter()
        .map(|i| (i.tx.as_str(), i.amount))
        .collect();
    assert_eq!(
        inflows,
        [("gift", 5_000)],
        "a transfer into a payTo with no charge"
    );
    assert!(!audit.reconciled());

    let beta = ledger
        .audit_charges(&AuditScope {
            model: Some("beta".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(beta.charges.len(), 1, "scoped to one model");
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_ledger_where_everything_matches_reconciles(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let mut batch = Batch::new(Chain::Solana, "grpc");
    batch.transfers = vec![leg("a", "vault", 10), leg("b", "treasury", 20)];
    ledger.write(&batch).await.unwrap();
    completed_charge(&ledger, "alpha", Chain::Solana, "a", "vault", 10).await;
    completed_charge(&ledger, "beta", Chain::Solana, "b", "treasury", 20).await;
    let audit = ledger.audit_charges(&AuditScope::default()).await.unwrap();
    assert!(audit.reconciled(), "{audit:?}");
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn revenue_per_model_and_buybacks_read_back_as_written(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let mut batch = Batch::new(Chain::Solana, "grpc");
    two_buybacks(&mut batch);
    ledger.write(&batch).await.unwrap();
    completed_charge(&ledger, "alpha", Chain::Solana, "s1", "alpha-vault", 1_000).await;
    completed_charge(&ledger, "alpha", Chain::Solana, "s2", "alpha-vault", 500).await;
    completed_charge(&ledger, "alpha", Chain::Base, "b1", "0xtreasury", 300).await;
    completed_charge(&ledger, "beta", Chain::Solana, "s3", "treasury", 2_000).await;

    let revenue: Vec<(String, Chain, i64, String)> = ledger
        .revenue_by_model()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.model, r.chain, r.calls, r.revenue))
        .collect();
    assert_eq!(
        revenue,
        [
            ("beta".into(), Chain::Solana, 1, "2000".into()),
            ("alpha".into(), Chain::Solana, 2, "1500".into()),
            ("alpha".into(), Chain::Base, 1, "300".into()),
        ]
    );

    let buybacks: Vec<_> = ledger
        .buybacks()
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.signature, b.usdc, b.burned, b.burned_decimals, b.time))
        .collect();
    let expected = |tx: &str, burned: &str, slot| {
        (
            tx.to_string(),
            "1000000".to_string(),
            burned.to_string(),
            Some(6),
            slot_time(slot),
        )
    };
    assert_eq!(
        buybacks,
        [
            expected("bb-1", "700000", 20),
            expected("bb-2", "600000", 30)
        ],
        "USDC out is fee + swap; the burned mint is not counted as USDC"
    );

    // a rolled-back buyback is gone from the chart
    ledger.roll_back(Chain::Solana, 30, 30, None).await.unwrap();
    assert_eq!(ledger.buybacks().await.unwrap().len(), 1);
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_vaults_flows_are_told_apart_by_cause(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let mut batch = Batch::new(Chain::Solana, "grpc");
    two_buybacks(&mut batch);
    batch.transfers.push(leg("paid", "alpha-vault", 3_000_000));
    // the treasury releases revenue it held before tokenization
    let mut release = leg("rel", "alpha-vault", 500_000);
    release.source = Some("treasury-usdc".into());
    batch.transfers.push(release);
    batch.vault_events.push(VaultEventRow {
        signature: "rel".into(),
        ix_path: "0".into(),
        slot: 7,
        block_time: None,
        tx_index: 0,
        kind: "release".into(),
        model: Some("alpha".into()),
        actor: Some("treasury".into()),
        usdc_amount: Some(500_000),
        token_amount: None,
        success: true,
    });
    ledger.write(&batch).await.unwrap();

    let flows = ledger
        .account_flows("alpha-vault-usdc", "treasury")
        .await
        .unwrap();
    assert_eq!(
        flows.inflow,
        [
            ("held_released".to_string(), 500_000),
            ("payment".to_string(), 3_000_000)
        ]
    );
    assert_eq!(
        flows.outflow,
        [
            ("buyback".to_string(), 1_900_000),
            ("protocol_fee".to_string(), 100_000)
        ],
        "each buyback's leg to the treasury is its protocol fee"
    );
    assert_eq!(flows.balance(), 1_500_000);
}
