//! Nonces of a key shared by several gateway processes: taken at once from two pools, each is
//! handed out once and none is skipped; one given back is taken again first; the chain's count
//! moves the sequence past transactions sent elsewhere and drops gaps something else filled.

use ledger::{Chain, Ledger};
use sqlx::PgPool;

const SIGNER: &str = "0xfacilitator";

async fn two_pools(pool: &PgPool) -> (Ledger, Ledger) {
    let second = sqlx::postgres::PgPoolOptions::new()
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    (Ledger::from_pool(pool.clone()), Ledger::from_pool(second))
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn nonces_taken_at_once_from_two_pools_are_each_handed_out_once(pool: PgPool) {
    let (first, second) = two_pools(&pool).await;
    let takes = (0..64).map(|i| {
        let ledger = if i % 2 == 0 { &first } else { &second };
        ledger.take_nonce(Chain::Base, SIGNER, 7)
    });
    let mut taken: Vec<u64> = futures::future::join_all(takes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    taken.sort_unstable();
    assert_eq!(
        taken,
        (7..71).collect::<Vec<_>>(),
        "from the chain's count on, none twice, none skipped"
    );
    assert_eq!(
        first.take_nonce(Chain::Solana, SIGNER, 0).await.unwrap(),
        0,
        "per chain"
    );
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_nonce_given_back_is_taken_first_and_the_chain_count_moves_on(pool: PgPool) {
    let (first, second) = two_pools(&pool).await;
    for expected in 0..4 {
        assert_eq!(
            first.take_nonce(Chain::Base, SIGNER, 0).await.unwrap(),
            expected
        );
    }
    // 1 and 2 were refused by the node: the next two transactions take them, lowest first.
    first.nonce_unused(Chain::Base, SIGNER, 2).await.unwrap();
    first.nonce_unused(Chain::Base, SIGNER, 1).await.unwrap();
    assert_eq!(second.take_nonce(Chain::Base, SIGNER, 1).await.unwrap(), 1);
    assert_eq!(second.take_nonce(Chain::Base, SIGNER, 1).await.unwrap(), 2);
    assert_eq!(second.take_nonce(Chain::Base, SIGNER, 1).await.unwrap(), 4);
    // A gap the chain has already seen filled (by a transaction sent elsewhere) is dropped,
    // and the sequence jumps past what was sent elsewhere.
    first.nonce_unused(Chain::Base, SIGNER, 3).await.unwrap();
    assert_eq!(first.take_nonce(Chain::Base, SIGNER, 9).await.unwrap(), 9);
    assert_eq!(first.take_nonce(Chain::Base, SIGNER, 9).await.unwrap(), 10);
    let gaps: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger.nonce_gaps")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(gaps, 0);
}
