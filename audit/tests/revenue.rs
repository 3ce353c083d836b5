//! Revenue owed to vaults in the audit: earned, received and owed per model; each release
//! matched to its transfer; a release no one computed, a treasury outflow with no cause, a
//! release beyond what the calls earned, each reported; owed revenue weighed in the Solana
//! treasury's coverage.

use audit::{audit_balances, audit_revenue, Amount, Reconciliation};
use ledger::fixtures::{served_charge, usdc_leg as leg};
use ledger::{
    Batch, Chain, Ledger, NewRelease, ReleaseClaim, TransferRow, VaultEventKind, VaultEventRow,
};
use sqlx::PgPool;

const MODEL: &str = "creator/model";

/// A leg of `tx` out of the treasury to `owner`.
fn out_of_treasury(tx: &str, owner: &str, amount: u64) -> TransferRow {
    TransferRow {
        source: Some("treasury-usdc".into()),
        source_owner: Some("treasury".into()),
        authority: Some("treasury".into()),
        ..leg(tx, owner, amount)
    }
}

/// The chain ran `release_held_revenue` in `tx`, moving `amount` from the treasury to the vault.
fn released_on_chain(batch: &mut Batch, tx: &str, amount: u64) {
    batch.transfers.push(out_of_treasury(tx, "vault", amount));
    batch.vault_events.push(VaultEventRow {
        signature: tx.into(),
        ix_path: "1".into(),
        slot: 9,
        block_time: None,
        tx_index: 0,
        kind: VaultEventKind::Release,
        model: Some("model-pda".into()),
        actor: Some("treasury".into()),
        usdc_amount: Some(amount),
        token_amount: None,
        success: true,
    });
}

async fn write(ledger: &Ledger, fill: impl FnOnce(&mut Batch)) {
    let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
    fill(&mut batch);
    ledger.write(&batch).await.unwrap();
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn owed_revenue_is_released_matched_and_covered_and_tampering_is_reported(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    ledger
        .record_treasury(Chain::Solana, "treasury", "usdc")
        .await
        .unwrap();
    ledger
        .record_model_creator(MODEL, "creator", "vault")
        .await
        .unwrap();
    // Before it was tokenized, a call paid the treasury 3,000 and cost 2,000.
    served_charge(
        &ledger,
        MODEL,
        Chain::Solana,
        "pre",
        "treasury",
        3_000,
        2_000,
    )
    .await;
    write(&ledger, |b| b.transfers.push(leg("pre", "treasury", 3_000))).await;
    let revenue = audit_revenue(&ledger, None).await.unwrap();
    assert_eq!(revenue.models[0].owed(), Some(2_000));
    assert_eq!(revenue.owed_to_vaults(), Amount::Units(2_000));
    let coverage = audit_balances(&ledger, &revenue.owed_to_vaults())
        .await
        .unwrap()
        .coverage;
    assert_eq!(
        (
            &coverage[0].holds,
            &coverage[0].owes_payers,
            &coverage[0].owes_vaults,
            coverage[0].covered
        ),
        (
            &Amount::Units(3_000),
            &Amount::Units(1_000),
            &Amount::Units(2_000),
            true
        ),
        "the treasury holds the surplus credited and the revenue owed"
    );

    // The keeper releases it; the chain shows it.
    let ReleaseClaim::Claimed(id) = ledger
        .claim_release(&NewRelease {
            model: MODEL,
            amount: 2_000,
            earned: 2_000,
            received: 0,
            tx: "rel-1",
            blockhash: "hash",
        })
        .await
        .unwrap()
    else {
        panic!("2,000 is owed")
    };
    ledger.release_sent(id).await.unwrap();
    write(&ledger, |b| released_on_chain(b, "rel-1", 2_000)).await;
    let revenue = audit_revenue(&ledger, None).await.unwrap();
    assert_eq!(revenue.models[0].owed(), Some(0));
    assert_eq!(revenue.releases[0].result, Reconciliation::Matched);
    assert!(revenue.reconciled(), "{revenue:?}");
    let balances = audit_balances(&ledger, &revenue.owed_to_vaults())
        .await
        .unwrap();
    assert!(balances.reconciled(), "{balances:?}");

    // Revenue earned on Base is owed on Solana, where vaults are: the Solana treasury is short
    // of it until it holds it.
    served_charge(
        &ledger,
        MODEL,
        Chain::Base,
        "0xbase",
        "0xtreasury",
        1_500,
        1_500,
    )
    .await;
    let revenue = audit_revenue(&ledger, None).await.unwrap();
    let balances = audit_balances(&ledger, &revenue.owed_to_vaults())
        .await
        .unwrap();
    assert_eq!(balances.coverage[0].owes_vaults, Amount::Units(1_500));
    assert_eq!(balances.coverage[0].short, Some(1_500));
    assert!(
        revenue.reconciled(),
        "owed is a liability, not a discrepancy"
    );

    // A release the chain ran that no computation of the ledger recorded; and USDC that left
    // the treasury for no recorded cause.
    write(&ledger, |b| {
        released_on_chain(b, "rogue", 500);
        b.transfers.push(out_of_treasury("drain", "someone", 100));
    })
    .await;
    let revenue = audit_revenue(&ledger, None).await.unwrap();
    let uncomputed: Vec<_> = revenue
        .uncomputed_releases
        .iter()
        .map(|u| u.tx.as_str())
        .collect();
    assert_eq!(uncomputed, ["rogue"]);
    let uncaused: Vec<_> = revenue
        .uncaused_outflows
        .iter()
        .map(|o| (o.tx.as_str(), o.amount.clone()))
        .collect();
    assert_eq!(
        uncaused,
        [("drain", Amount::Units(100)), ("rogue", Amount::Units(500))]
    );
    assert!(!revenue.reconciled());

    // An insider records a release of more than the calls earned (bypassing the keeper), and
    // the chain never ran it.
    sqlx::query(
        "INSERT INTO ledger.revenue_releases (model, amount, earned, received, status, tx, blockhash)
         VALUES ($1, 9000, 9000, 0, 'sent', 'forged', 'hash')",
    )
    .bind(MODEL)
    .execute(&pool)
    .await
    .unwrap();
    let revenue = audit_revenue(&ledger, Some(MODEL)).await.unwrap();
    assert!(revenue.models[0].over_released(), "{:?}", revenue.models[0]);
    // Its computation claims nothing was received, which release 1 already paid for.
    let forged = revenue.releases.iter().find(|r| r.tx == "forged").unwrap();
    assert_eq!(
        forged.result,
        Reconciliation::Duplicate {
            of: "release 1".into()
        }
    );
}

/// A second release computed on the ledger state the first one already paid (what two keepers
/// racing would send), landed on chain: the duplicate is reported, though its transfer matches.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_release_computed_on_a_state_already_paid_is_a_duplicate(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    ledger
        .record_model_creator(MODEL, "creator", "vault")
        .await
        .unwrap();
    // A vault paid per call with a large surplus, then revenue from the treasury: owed 1,000,
    // and the surpluses (5,000) leave room for a duplicate under the over-release bound.
    served_charge(
        &ledger,
        MODEL,
        Chain::Solana,
        "direct",
        "vault",
        6_000,
        1_000,
    )
    .await;
    served_charge(
        &ledger,
        MODEL,
        Chain::Base,
        "0xbase",
        "0xtreasury",
        6_000,
        6_000,
    )
    .await;
    for (tx, status) in [("rel-1", "sent"), ("rel-2", "sent")] {
        sqlx::query(
            "INSERT INTO ledger.revenue_releases (model, amount, earned, received, status, tx, blockhash)
             VALUES ($1, 1000, 7000, 6000, $2, $3, 'hash')",
        )
        .bind(MODEL)
        .bind(status)
        .bind(tx)
        .execute(&pool)
        .await
        .unwrap();
        write(&ledger, |b| released_on_chain(b, tx, 1_000)).await;
    }
    let revenue = audit_revenue(&ledger, None).await.unwrap();
    assert!(!revenue.models[0].over_released());
    let results: Vec<_> = revenue.releases.iter().map(|r| r.result.clone()).collect();
    assert_eq!(
        results,
        [
            Reconciliation::Matched,
            Reconciliation::Duplicate {
                of: "release 1".into()
            }
        ]
    );
    assert!(!revenue.reconciled());
}

/// A vault paid per call directly, whose payer was credited the surplus, received more than
/// the model earned: over-received, netted later, not a discrepancy and not owed.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_surplus_paid_into_a_vault_is_over_received_not_owed(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    ledger
        .record_model_creator(MODEL, "creator", "vault")
        .await
        .unwrap();
    served_charge(
        &ledger,
        MODEL,
        Chain::Solana,
        "direct",
        "vault",
        2_064,
        1_000,
    )
    .await;
    let revenue = audit_revenue(&ledger, None).await.unwrap();
    let model = &revenue.models[0];
    assert_eq!(
        (
            model.owed(),
            model.direct.clone(),
            model.direct_earned.clone()
        ),
        (Some(-1_064), Amount::Units(2_064), Amount::Units(1_000))
    );
    assert!(!model.over_released());
    assert!(revenue.reconciled());
    assert_eq!(revenue.owed_to_vaults(), Amount::Units(0));
}
