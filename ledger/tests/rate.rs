//! Limits shared by every gateway process: a key's burst, taken by many at once, is granted
//! exactly once over; then a wait is said.

use ledger::Ledger;
use sqlx::PgPool;

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_burst_taken_at_once_from_two_pools_is_granted_exactly(pool: PgPool) {
    // Two pools: two gateway processes' connections.
    let first = Ledger::from_pool(pool.clone());
    let second = Ledger::from_pool(
        sqlx::postgres::PgPoolOptions::new()
            .connect_with((*pool.connect_options()).clone())
            .await
            .unwrap(),
    );
    let asks = (0..16).map(|i| {
        let ledger = if i % 2 == 0 { &first } else { &second };
        ledger.take_rate("client", "10.0.0.1", 5)
    });
    let taken = futures::future::join_all(asks).await;
    let granted = taken.iter().filter(|t| matches!(t, Ok(Ok(())))).count();
    assert_eq!(granted, 5, "{taken:?}");
    let refused = first.take_rate("client", "10.0.0.1", 5).await.unwrap();
    let wait = refused.expect_err("over the burst");
    assert!(
        wait.as_secs_f64() > 0.0 && wait.as_secs_f64() <= 12.0,
        "one request back every 12 s: {wait:?}"
    );
    assert_eq!(
        first.take_rate("client", "10.0.0.2", 5).await.unwrap(),
        Ok(()),
        "per key"
    );
    assert_eq!(
        first.take_rate("payer", "10.0.0.1", 5).await.unwrap(),
        Ok(()),
        "per scope"
    );
}
