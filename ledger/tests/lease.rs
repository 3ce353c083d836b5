//! One writer per cursor: a lease is held by one process at a time, and a writer that lost its
//! lease can no longer write, even though it still runs.

use ledger::{Ledger, LedgerError};
use sqlx::PgPool;

use crate::{batch, transfer};

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_writer_that_lost_its_lease_cannot_write(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let first = ledger.try_lease("solana", "first").await.unwrap().unwrap();
    assert!(
        ledger
            .try_lease("solana", "second")
            .await
            .unwrap()
            .is_none(),
        "held by the first"
    );
    let base = ledger.try_lease("base", "second").await.unwrap();
    assert!(base.is_some(), "one lease per cursor");
    let first_writes = ledger.fenced(&first);
    first_writes
        .write(&batch(vec![transfer("a", "0", 1, 10)], 1))
        .await
        .unwrap();

    // The first's connection ends (its process paused, its network dropped); it runs on.
    let pid: i32 = sqlx::query_scalar(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
         AND objid = (hashtextextended('paywire.lease.solana', 0) & 4294967295)::oid",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&pool)
        .await
        .unwrap();
    let second = released_lease(&ledger).await;
    assert_eq!(second.epoch(), first.epoch() + 1);
    let refused = first_writes
        .write(&batch(vec![transfer("b", "0", 2, 20)], 2))
        .await;
    assert!(
        matches!(refused, Err(LedgerError::LeaseLost(ref name)) if name == "solana"),
        "{:?}",
        refused.map(|_| ())
    );
    ledger
        .fenced(&second)
        .write(&batch(vec![transfer("b", "0", 2, 20)], 2))
        .await
        .unwrap();
    assert_eq!(
        ledger
            .lease_holder("solana")
            .await
            .unwrap()
            .map(|(h, e, _)| (h, e)),
        Some(("second".to_string(), 2))
    );
}

/// The lease on `solana`, once Postgres has noticed its holder's connection is gone.
async fn released_lease(ledger: &Ledger) -> ledger::Lease {
    for _ in 0..100 {
        if let Some(lease) = ledger.try_lease("solana", "second").await.unwrap() {
            return lease;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the lease was never released");
}
