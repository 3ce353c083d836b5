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

/// A key whose whole burst is back is forgotten (one row per client ever seen would grow for
/// ever); one still spending its burst is kept.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn keys_with_their_burst_back_are_forgotten(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    // 60,000 a minute: one back every millisecond.
    assert_eq!(
        ledger.take_rate("client", "quick", 60_000).await.unwrap(),
        Ok(())
    );
    assert_eq!(ledger.take_rate("client", "slow", 1).await.unwrap(), Ok(()));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(ledger.forget_rate_limits().await.unwrap(), 1);
    let kept: Vec<String> = sqlx::query_scalar("SELECT key FROM ledger.rate_limits")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(kept, ["slow"]);
    assert!(
        ledger
            .take_rate("client", "slow", 1)
            .await
            .unwrap()
            .is_err(),
        "still limited"
    );
}
