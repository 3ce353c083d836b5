//! Revenue owed to models' vaults: earned on every rail and chain, received directly or by
//! release, owed the difference; a release recorded once however many keepers ask at once,
//! from however many processes, and never for more than is owed when it is recorded.

use std::time::Duration;

use ledger::{
    fixtures::{credited, served_charge},
    Chain, Held, HoldUsage, Ledger, NewHold, NewRelease, Rail, ReleaseClaim,
};
use sqlx::{migrate::Migrator, postgres::PgPoolOptions, PgPool};

const MODEL: &str = "creator/model";

/// `payer`'s call of MODEL served from their balance on `chain` for `cost` (held `held`).
async fn balance_call(ledger: &Ledger, payer: &str, chain: Chain, held: u64, cost: u64) {
    let hold = NewHold {
        payer,
        chain,
        model: MODEL,
        amount: held,
        ttl: Duration::from_secs(3600),
        api_key: None,
    };
    let Held::Held { hold_id, .. } = ledger.hold(&hold).await.unwrap() else {
        panic!("the balance covers the hold")
    };
    let usage = HoldUsage {
        provider: Some("p".into()),
        prompt_tokens: Some(1),
        completion_tokens: Some(1),
        actual_cost: cost,
    };
    ledger.charge_hold(hold_id, &usage).await.unwrap().unwrap();
}

/// MODEL, sold for a creator, paid on every rail: per call into its vault (2,064 for a call
/// that cost 1,000), per call into the Solana treasury before it was tokenized, per call on
/// Base, and from a balance (held 1,500, cost 700). Another model, sold for no one.
async fn earn_everywhere(ledger: &Ledger) {
    ledger
        .record_model_creator(MODEL, "creator", "vault")
        .await
        .unwrap();
    served_charge(
        ledger,
        MODEL,
        Chain::Solana,
        "direct",
        "vault",
        2_064,
        1_000,
    )
    .await;
    served_charge(
        ledger,
        MODEL,
        Chain::Solana,
        "held",
        "treasury",
        2_064,
        1_000,
    )
    .await;
    served_charge(
        ledger,
        MODEL,
        Chain::Base,
        "0xbase",
        "0xtreasury",
        2_064,
        1_000,
    )
    .await;
    credited(ledger, "agent", Chain::Solana, "top-up", 5_000).await;
    balance_call(ledger, "agent", Chain::Solana, 1_500, 700).await;
    served_charge(
        ledger,
        "operator/own",
        Chain::Solana,
        "own",
        "treasury",
        500,
        500,
    )
    .await;
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn owed_is_what_every_rail_earned_less_what_the_vault_received(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    earn_everywhere(&ledger).await;

    let lines: Vec<_> = ledger
        .earned_lines(None)
        .await
        .unwrap()
        .into_iter()
        .map(|l| {
            (
                l.model,
                l.rail,
                l.chain,
                l.calls,
                l.earned,
                l.direct,
                l.direct_earned,
            )
        })
        .collect();
    let line = |rail, chain, calls, earned: &str, direct: &str, direct_earned: &str| {
        (
            MODEL.to_string(),
            rail,
            chain,
            calls,
            earned.into(),
            direct.into(),
            direct_earned.into(),
        )
    };
    assert_eq!(
        lines,
        vec![
            line(Rail::Balance, Chain::Solana, 1, "700", "0", "0"),
            line(Rail::PerCall, Chain::Solana, 2, "2000", "2064", "1000"),
            line(Rail::PerCall, Chain::Base, 1, "1000", "0", "0"),
        ],
        "a model sold for no creator earns for no vault"
    );
    let totals = ledger.revenue_totals(None).await.unwrap();
    assert_eq!(totals.len(), 1);
    let t = &totals[0];
    assert_eq!(
        (
            t.earned.as_str(),
            t.direct.as_str(),
            t.released.as_str(),
            t.in_flight.as_str()
        ),
        ("3700", "2064", "0", "0")
    );

    // Released: 3,700 − 2,064 = 1,636, once.
    let release = |tx: &'static str, amount| NewRelease {
        model: MODEL,
        amount,
        earned: 3_700,
        received: 3_700 - u128::from(amount),
        tx,
        blockhash: "hash",
    };
    let claim = ledger.claim_release(&release("r1", 1_636)).await.unwrap();
    let ReleaseClaim::Claimed(id) = claim else {
        panic!("{claim:?}")
    };
    assert_eq!(
        ledger.claim_release(&release("r2", 1_636)).await.unwrap(),
        ReleaseClaim::InFlight
    );
    ledger.release_sent(id).await.unwrap();
    assert_eq!(
        ledger.claim_release(&release("r3", 1_636)).await.unwrap(),
        ReleaseClaim::Changed,
        "once landed it is received: nothing is owed"
    );
    // Another balance call earns 300 more: owed again, exactly that.
    balance_call(&ledger, "agent", Chain::Solana, 400, 300).await;
    assert_eq!(
        ledger.claim_release(&release("r4", 301)).await.unwrap(),
        ReleaseClaim::Changed,
        "never more than is owed"
    );
    let ReleaseClaim::Claimed(id) = ledger.claim_release(&release("r5", 300)).await.unwrap() else {
        panic!("300 is owed")
    };
    // A release that can no longer land is owed again.
    ledger.release_failed(id, "expired").await.unwrap();
    assert!(matches!(
        ledger.claim_release(&release("r6", 300)).await.unwrap(),
        ReleaseClaim::Claimed(_)
    ));
}

/// Sixteen keepers in two processes (two pools) ask to release what they all computed owed, at
/// once: one release is recorded.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn one_release_whatever_number_of_keepers_ask_at_once(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    earn_everywhere(&ledger).await;
    let options = (*pool.connect_options()).clone();
    let mut processes = Vec::new();
    for _ in 0..2 {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .unwrap();
        Migrator::run(&ledger::MIGRATOR, &pool).await.unwrap();
        processes.push(Ledger::from_pool(pool));
    }
    let asks = (0..16).map(|i| {
        let ledger = processes[i % 2].clone();
        async move {
            let tx = format!("keeper-{i}");
            ledger
                .claim_release(&NewRelease {
                    model: MODEL,
                    amount: 1_636,
                    earned: 3_700,
                    received: 2_064,
                    tx: &tx,
                    blockhash: "hash",
                })
                .await
                .unwrap()
        }
    });
    let claims = futures::future::join_all(asks).await;
    let claimed = claims
        .iter()
        .filter(|c| matches!(c, ReleaseClaim::Claimed(_)))
        .count();
    assert_eq!(claimed, 1, "{claims:?}");
    assert!(claims
        .iter()
        .all(|c| matches!(c, ReleaseClaim::Claimed(_) | ReleaseClaim::InFlight)));
    let releases = ledger.releases(None).await.unwrap();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].amount, "1636");
}
