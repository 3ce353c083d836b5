//! Payer balances: credits from per-call charges, holds that never exceed the balance however
//! many ask at once from however many processes, each hold closed once, expired holds given
//! back, the old credits carried over; an API key's spend limit held the same way.

use std::{borrow::Cow, time::Duration};

use ledger::{
    fixtures::credited, Balance, Chain, EntryKind, Held, HoldUsage, Ledger, LimitPeriod, NewHold,
    NewKey,
};
use sqlx::{migrate::Migrator, postgres::PgPoolOptions, PgPool};

const PAYER: &str = "agent";

fn hold(amount: u64) -> NewHold<'static> {
    NewHold {
        payer: PAYER,
        chain: Chain::Solana,
        model: "alpha",
        amount,
        ttl: Duration::from_secs(600),
        api_key: None,
    }
}

fn used(actual_cost: u64) -> HoldUsage {
    HoldUsage {
        provider: Some("p".into()),
        prompt_tokens: Some(10),
        completion_tokens: Some(20),
        actual_cost,
    }
}

/// A key of the payer's allowed to spend `limit` a day.
async fn daily_key(ledger: &Ledger, limit: u64) -> ledger::ApiKey {
    ledger
        .create_key(
            PAYER,
            Chain::Solana,
            &NewKey {
                hash: [0; 32],
                prefix: "pw_test".into(),
                spend_limit: Some(limit),
                limit_period: Some(LimitPeriod::Day),
                ..NewKey::default()
            },
        )
        .await
        .unwrap()
}

/// The sum of the payer's entries, as stored.
async fn entries_sum(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(amount), 0)::bigint FROM ledger.balance_entries WHERE payer = $1",
    )
    .bind(PAYER)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_failed_calls_credit_lands_in_the_balance_with_its_cause(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let charge = credited(&ledger, PAYER, Chain::Solana, "tx-1", 2_080).await;
    assert_eq!(
        ledger.balance(PAYER, Chain::Solana).await.unwrap(),
        Balance {
            available: 2_080,
            held: 0
        }
    );
    // Another chain's balance of the same string is another balance.
    assert_eq!(
        ledger.balance(PAYER, Chain::Base).await.unwrap(),
        Balance::default()
    );
    let entries = ledger
        .balance_entries(PAYER, Chain::Solana, 10)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].kind, EntryKind::UpstreamFailed);
    assert_eq!(entries[0].amount, 2_080);
    assert_eq!(entries[0].charge_id, Some(charge));
}

/// Forty calls of 50,000 at once against a balance of 1,000,000, half through a second pool
/// (another gateway process): exactly twenty are held, and after each is charged 30,000 the
/// balance is what twenty actual costs leave.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn concurrent_holds_never_exceed_the_balance_across_processes(pool: PgPool) {
    let first = Ledger::from_pool(pool.clone());
    let second = Ledger::from_pool(
        PgPoolOptions::new()
            .max_connections(8)
            .connect_with(pool.connect_options().as_ref().clone())
            .await
            .unwrap(),
    );
    credited(&first, PAYER, Chain::Solana, "tx-1", 1_000_000).await;

    let asks = (0..40).map(|i| {
        let ledger = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tokio::spawn(async move { ledger.hold(&hold(50_000)).await.unwrap() })
    });
    let outcomes = futures::future::join_all(asks).await;
    let held: Vec<i64> = outcomes
        .iter()
        .filter_map(|o| match *o.as_ref().unwrap() {
            Held::Held { hold_id, .. } => Some(hold_id),
            Held::Short { available } => {
                assert!(available < 50_000, "refused with {available} available");
                None
            }
            Held::OverKeyLimit { .. } => panic!("no key, no key limit"),
        })
        .collect();
    assert_eq!(held.len(), 20, "{outcomes:?}");
    assert_eq!(
        first.balance(PAYER, Chain::Solana).await.unwrap(),
        Balance {
            available: 0,
            held: 1_000_000
        }
    );

    let charges = held.iter().enumerate().map(|(i, id)| {
        let ledger = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let id = *id;
        tokio::spawn(async move { ledger.charge_hold(id, &used(30_000)).await.unwrap() })
    });
    for left in futures::future::join_all(charges).await {
        assert!(left.unwrap().is_some(), "every open hold is charged");
    }
    assert_eq!(
        first.balance(PAYER, Chain::Solana).await.unwrap(),
        Balance {
            available: 1_000_000 - 20 * 30_000,
            held: 0
        }
    );
    assert_eq!(
        entries_sum(&pool).await,
        400_000,
        "the balance is the sum of its entries"
    );
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_hold_is_closed_once(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    credited(&ledger, PAYER, Chain::Solana, "tx-1", 100).await;
    let Held::Held { hold_id, available } = ledger.hold(&hold(60)).await.unwrap() else {
        panic!("60 of 100 is covered")
    };
    assert_eq!(available, 40);
    assert_eq!(
        ledger.hold(&hold(60)).await.unwrap(),
        Held::Short { available: 40 }
    );

    assert_eq!(
        ledger.charge_hold(hold_id, &used(25)).await.unwrap(),
        Some(75)
    );
    // Charged: neither charged again nor released.
    assert_eq!(ledger.charge_hold(hold_id, &used(25)).await.unwrap(), None);
    assert_eq!(ledger.release_hold(hold_id).await.unwrap(), None);

    let Held::Held { hold_id, .. } = ledger.hold(&hold(75)).await.unwrap() else {
        panic!("75 of 75 is covered")
    };
    assert_eq!(ledger.release_hold(hold_id).await.unwrap(), Some(75));
    assert_eq!(ledger.release_hold(hold_id).await.unwrap(), None);
    assert_eq!(ledger.charge_hold(hold_id, &used(1)).await.unwrap(), None);

    // A charge above its hold is refused by the schema, and nothing moves.
    let Held::Held { hold_id, .. } = ledger.hold(&hold(10)).await.unwrap() else {
        panic!("10 of 75 is covered")
    };
    assert!(ledger.charge_hold(hold_id, &used(11)).await.is_err());
    assert_eq!(
        ledger.balance(PAYER, Chain::Solana).await.unwrap(),
        Balance {
            available: 65,
            held: 10
        }
    );

    let kinds: Vec<EntryKind> = ledger
        .balance_entries(PAYER, Chain::Solana, 10)
        .await
        .unwrap()
        .iter()
        .rev()
        .map(|e| e.kind)
        .collect();
    use EntryKind::*;
    assert_eq!(
        kinds,
        [UpstreamFailed, Hold, Release, Charge, Hold, Release, Hold]
    );
    assert_eq!(entries_sum(&pool).await, 65);
}

/// A gateway that stops between hold and charge leaves an open hold; past its expiry the sweep
/// (any gateway's) gives it back, once, and the stopped call can no longer charge it.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn an_expired_hold_is_given_back_by_the_sweep(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    credited(&ledger, PAYER, Chain::Solana, "tx-1", 100).await;
    let Held::Held { hold_id, .. } = ledger
        .hold(&NewHold {
            ttl: Duration::ZERO,
            ..hold(70)
        })
        .await
        .unwrap()
    else {
        panic!("covered")
    };
    let Held::Held { .. } = ledger.hold(&hold(20)).await.unwrap() else {
        panic!("covered")
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (a, b) = tokio::join!(ledger.expire_holds(), ledger.expire_holds());
    assert_eq!(
        a.unwrap() + b.unwrap(),
        1,
        "one hold expired, released once"
    );
    assert_eq!(
        ledger.balance(PAYER, Chain::Solana).await.unwrap(),
        Balance {
            available: 80,
            held: 20
        }
    );
    assert_eq!(ledger.charge_hold(hold_id, &used(5)).await.unwrap(), None);
    let status: String = sqlx::query_scalar("SELECT status FROM ledger.holds WHERE id = $1")
        .bind(hold_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "expired");
}

/// The credits filed before balances existed become entries and balances.
#[sqlx::test(migrations = false)]
async fn the_old_credits_become_balances(pool: PgPool) {
    let before = ledger::MIGRATOR
        .iter()
        .filter(|m| m.version < 8)
        .cloned()
        .collect::<Vec<_>>();
    let migrator = Migrator {
        migrations: Cow::Owned(before),
        ..Migrator::DEFAULT
    };
    migrator.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO ledger.charges (quote_id, model, payer, chain, pay_to, amount, status)
         VALUES ('q1', 'alpha', 'agent', 'solana', 't', 2080, 'completed'),
                ('q2', 'alpha', 'agent', 'solana', 't', 500, 'completed'),
                ('q3', 'alpha', '0xabc', 'base', 't', 700, 'completed')",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO ledger.credits (payer, chain, amount, charge_id, reason)
         VALUES ('agent', 'solana', 1080, 1, 'surplus'), ('agent', 'solana', 500, 2, 'upstream_failed'),
                ('0xabc', 'base', 700, 3, 'unserved')",
    )
    .execute(&pool)
    .await
    .unwrap();

    ledger::MIGRATOR.run(&pool).await.unwrap();
    let ledger = Ledger::from_pool(pool.clone());
    assert_eq!(
        ledger
            .balance("agent", Chain::Solana)
            .await
            .unwrap()
            .available,
        1_580
    );
    assert_eq!(
        ledger
            .balance("0xabc", Chain::Base)
            .await
            .unwrap()
            .available,
        700
    );
    let kinds: Vec<(EntryKind, Option<i64>)> = ledger
        .balance_entries("agent", Chain::Solana, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.kind, e.charge_id))
        .collect();
    assert_eq!(
        kinds,
        [
            (EntryKind::UpstreamFailed, Some(2)),
            (EntryKind::Surplus, Some(1))
        ]
    );
}

/// A key's spend limit holds like the balance does: forty calls at once through a key allowed
/// 500,000 a day, against a balance of 1,000,000, get ten holds of 50,000; what a call gives
/// back (its hold less its cost) is spendable through the key again.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_keys_spend_limit_holds_under_concurrency(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    credited(&ledger, PAYER, Chain::Solana, "tx-1", 1_000_000).await;
    let key = daily_key(&ledger, 500_000).await;
    let with_key = |amount| NewHold {
        api_key: Some(key.id),
        ..hold(amount)
    };
    let asks = (0..40).map(|_| {
        let (ledger, ask) = (ledger.clone(), with_key(50_000));
        tokio::spawn(async move { ledger.hold(&ask).await.unwrap() })
    });
    let outcomes: Vec<Held> = futures::future::join_all(asks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let held: Vec<i64> = outcomes
        .iter()
        .filter_map(|o| match *o {
            Held::Held { hold_id, .. } => Some(hold_id),
            _ => None,
        })
        .collect();
    assert_eq!(held.len(), 10, "{outcomes:?}");
    assert!(outcomes.contains(&Held::OverKeyLimit {
        spent: 500_000,
        limit: 500_000
    }));
    assert_eq!(
        ledger.balance(PAYER, Chain::Solana).await.unwrap().held,
        500_000,
        "the balance itself could have held twice as much"
    );
    // A call charged 20,000 of its 50,000 gives 30,000 back to the key's allowance.
    ledger.charge_hold(held[0], &used(20_000)).await.unwrap();
    let key_now = &ledger.keys(PAYER, Chain::Solana).await.unwrap()[0];
    assert_eq!(key_now.period_spent, 470_000);
    assert!(matches!(
        ledger.hold(&with_key(30_000)).await.unwrap(),
        Held::Held { .. }
    ));
    assert_eq!(
        ledger.hold(&with_key(1)).await.unwrap(),
        Held::OverKeyLimit {
            spent: 500_000,
            limit: 500_000
        }
    );
    // Without the key, the wallet still spends its balance.
    assert!(matches!(
        ledger.hold(&hold(50_000)).await.unwrap(),
        Held::Held { .. }
    ));
}

/// A day later the key's allowance starts over.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_keys_period_starts_over(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    credited(&ledger, PAYER, Chain::Solana, "tx-1", 1_000_000).await;
    let key = daily_key(&ledger, 100).await;
    let with_key = |amount| NewHold {
        api_key: Some(key.id),
        ..hold(amount)
    };
    assert!(matches!(
        ledger.hold(&with_key(100)).await.unwrap(),
        Held::Held { .. }
    ));
    assert!(matches!(
        ledger.hold(&with_key(1)).await.unwrap(),
        Held::OverKeyLimit { .. }
    ));
    sqlx::query("UPDATE ledger.api_keys SET period_start = now() - interval '25 hours'")
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        ledger.hold(&with_key(100)).await.unwrap(),
        Held::Held { .. }
    ));
    assert_eq!(
        ledger.keys(PAYER, Chain::Solana).await.unwrap()[0].period_spent,
        100
    );
}

/// Ten requests at once under one idempotency key withdraw once; other keys cannot take more
/// than is left; a withdrawal that fails is credited back once.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_withdrawal_pays_once_per_key_and_never_more_than_the_balance(pool: PgPool) {
    use ledger::{PayoutStatus, Requested};
    let ledger = Ledger::from_pool(pool.clone());
    credited(&ledger, PAYER, Chain::Solana, "tx-1", 1_000).await;
    let asks = (0..10).map(|_| {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            ledger
                .request_withdrawal(PAYER, Chain::Solana, "key-1", Some(600))
                .await
                .unwrap()
        })
    });
    let outcomes: Vec<Requested> = futures::future::join_all(asks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let new: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            Requested::New(w) => Some(w.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(new.len(), 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Requested::New(w) | Requested::Existing(w) if w.id == new[0].id)));
    assert_eq!(
        ledger
            .balance(PAYER, Chain::Solana)
            .await
            .unwrap()
            .available,
        400
    );
    assert_eq!(
        ledger
            .request_withdrawal(PAYER, Chain::Solana, "key-2", Some(401))
            .await
            .unwrap(),
        Requested::Short { available: 400 }
    );
    // A call's hold and a withdrawal of everything: the hold is not withdrawn.
    let Held::Held { .. } = ledger.hold(&hold(100)).await.unwrap() else {
        panic!("covered")
    };
    let Requested::New(all) = ledger
        .request_withdrawal(PAYER, Chain::Solana, "key-3", None)
        .await
        .unwrap()
    else {
        panic!("the rest is withdrawn")
    };
    assert_eq!(all.amount, "300");
    assert_eq!(
        ledger.balance(PAYER, Chain::Solana).await.unwrap(),
        Balance {
            available: 0,
            held: 100
        }
    );

    assert!(ledger
        .withdrawal_failed(all.id, "never landed")
        .await
        .unwrap());
    assert!(!ledger
        .withdrawal_failed(all.id, "never landed")
        .await
        .unwrap());
    assert_eq!(
        ledger
            .balance(PAYER, Chain::Solana)
            .await
            .unwrap()
            .available,
        300
    );
    ledger.withdrawal_sent(new[0].id, "sig").await.unwrap();
    let sent = ledger
        .withdrawal(PAYER, Chain::Solana, "key-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (sent.status, sent.tx.as_deref()),
        (PayoutStatus::Sent, Some("sig"))
    );
    assert!(
        !ledger.withdrawal_failed(sent.id, "late").await.unwrap(),
        "a sent one stays sent"
    );
    assert_eq!(
        entries_sum(&pool).await,
        300,
        "the balance is the sum of its entries"
    );
}

/// Closing a key's hold takes the key's lock before the balance's, as a hold does: closing it
/// while another call holds the key (a hold in progress) leaves the balance free for that
/// call. The other order deadlocked with every concurrent hold on the key, and Postgres breaks
/// a deadlock only after a second (`deadlock_timeout`): calls on one key took a second each.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn closing_a_keys_hold_locks_the_key_before_the_balance(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    credited(&ledger, PAYER, Chain::Solana, "tx-1", 1_000).await;
    let key = daily_key(&ledger, 1_000).await;
    let Held::Held { hold_id, .. } = ledger
        .hold(&NewHold {
            api_key: Some(key.id),
            ..hold(100)
        })
        .await
        .unwrap()
    else {
        panic!("held");
    };
    // Another call's hold, half-way: it has the key and wants the balance next.
    let mut holding = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM ledger.api_keys WHERE id = $1 FOR UPDATE")
        .bind(key.id)
        .execute(&mut *holding)
        .await
        .unwrap();
    let closing = tokio::spawn({
        let ledger = ledger.clone();
        async move { ledger.charge_hold(hold_id, &used(40)).await }
    });
    // Wait until the close is waiting for a lock (the key's, once fixed).
    for _ in 0..200 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let balance_free = sqlx::query(
        "SELECT 1 FROM ledger.balances WHERE payer = $1 AND chain = 'solana' FOR UPDATE NOWAIT",
    )
    .bind(PAYER)
    .execute(&mut *holding)
    .await;
    assert!(
        balance_free.is_ok(),
        "the closing call holds the balance while it waits for the key: {balance_free:?}"
    );
    holding.rollback().await.unwrap();
    assert_eq!(closing.await.unwrap().unwrap(), Some(960));
}
