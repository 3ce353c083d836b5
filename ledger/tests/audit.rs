//! The audit of charges against the chain: each kind of discrepancy, seeded, is reported.

use ledger::{
    AuditScope, Batch, Chain, Claim, Completion, Ledger, NewCharge, Reconciliation, TransferRow,
};
use sqlx::PgPool;

/// A USDC leg of `tx` paying `amount` to `owner`.
fn leg(tx: &str, owner: &str, amount: u64) -> TransferRow {
    TransferRow {
        tx: tx.into(),
        leg: "2".into(),
        block: 7,
        block_hash: None,
        block_time: None,
        tx_index: 0,
        program: "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA".into(),
        kind: "transfer_checked".into(),
        mint: "usdc".into(),
        source: Some("agent-usdc".into()),
        source_owner: Some("agent".into()),
        destination: Some(format!("{owner}-usdc")),
        destination_owner: Some(owner.into()),
        authority: Some("agent".into()),
        amount,
        decimals: Some(6),
        success: true,
    }
}

/// A completed charge of `amount` to `pay_to`, settled by `tx`.
async fn charge(ledger: &Ledger, model: &str, tx: &str, pay_to: &str, amount: u64) -> i64 {
    let Claim::New(id) = ledger
        .claim_charge(&NewCharge {
            quote_id: format!("quote-{tx}"),
            model: model.into(),
            payer: "agent".into(),
            chain: Chain::Solana,
            pay_to: pay_to.into(),
            amount,
            settlement_tx: Some(tx.into()),
            eip3009_nonce: None,
            payment_id: None,
        })
        .await
        .unwrap()
    else {
        panic!("a fresh charge")
    };
    ledger.charge_settled(id, tx).await.unwrap();
    let completion = Completion {
        provider: Some("p".into()),
        prompt_tokens: Some(1),
        completion_tokens: Some(1),
        actual_cost: amount,
        credit: 0,
        credit_reason: "surplus",
    };
    ledger.complete_charge(id, &completion, None).await.unwrap();
    id
}

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

    let good = charge(&ledger, "alpha", "good", "vault", 1_000).await;
    let missing = charge(&ledger, "alpha", "never-landed", "vault", 1_000).await;
    let short = charge(&ledger, "alpha", "short", "vault", 1_000).await;
    let elsewhere = charge(&ledger, "beta", "elsewhere", "vault", 1_000).await;

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
    charge(&ledger, "alpha", "a", "vault", 10).await;
    charge(&ledger, "beta", "b", "treasury", 20).await;
    let audit = ledger.audit_charges(&AuditScope::default()).await.unwrap();
    assert!(audit.reconciled(), "{audit:?}");
}
