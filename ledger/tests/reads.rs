//! The reads behind the ledger API's charts: revenue per model and buybacks. (The audit's own
//! tests are in the `paywire-audit` crate.)

use ledger::fixtures::{completed_charge, slot_time, two_buybacks};
use ledger::{Batch, Chain, Ledger};
use sqlx::PgPool;

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn revenue_per_model_and_buybacks_read_back_as_written(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
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
