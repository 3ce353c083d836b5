//! The ledger against a real Postgres (each test gets its own database from `#[sqlx::test]`).

mod balances;
mod lease;
mod nonces;
mod rate;
mod reads;
mod revenue;

use ledger::{Batch, BlockRow, Chain, Cursor, DiscrepancyRow, Ledger, LedgerError, TransferRow};
use sqlx::{PgPool, Row};

fn transfer(tx: &str, leg: &str, block: u64, amount: u64) -> TransferRow {
    TransferRow {
        leg: leg.into(),
        block,
        block_hash: Some(format!("hash-{block}")),
        ..ledger::fixtures::usdc_leg(tx, "vault", amount)
    }
}

fn batch(rows: Vec<TransferRow>, cursor: u64) -> Batch {
    let mut b = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
    b.blocks = rows
        .iter()
        .map(|r| BlockRow {
            number: r.block,
            hash: r.block_hash.clone().unwrap(),
            parent_hash: None,
            block_time: None,
        })
        .collect();
    b.transfers = rows;
    b.cursor = Some(Cursor {
        name: "solana".into(),
        position: cursor,
    });
    b
}

async fn statuses(pool: &PgPool) -> Vec<(String, i64, String)> {
    sqlx::query("SELECT tx, block, status::text AS status FROM ledger.transfers ORDER BY tx, leg")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get("tx"), r.get("block"), r.get("status")))
        .collect()
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_batch_is_written_once_with_its_cursor(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let b = batch(
        vec![
            transfer("sig1", "0", 10, u64::MAX),
            transfer("sig1", "1.0", 10, 1),
            transfer("sig2", "0", 11, 5),
        ],
        11,
    );
    let first = ledger.write(&b).await.unwrap();
    assert_eq!(first.transfers, 3);
    assert_eq!(ledger.cursor("solana").await.unwrap(), Some(11));

    // the same batch again (a restart re-delivering it) adds nothing
    let again = ledger.write(&b).await.unwrap();
    assert_eq!(again.transfers, 0);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger.transfers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 3);

    // amounts survive at the u64 extreme, and the row keeps every field
    let row = sqlx::query("SELECT amount::text AS amount, decimals, destination_owner, status::text AS status, ingested_from FROM ledger.transfers WHERE tx = 'sig1' AND leg = '0'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("amount"), u64::MAX.to_string());
    assert_eq!(row.get::<i16, _>("decimals"), 6);
    assert_eq!(row.get::<String, _>("destination_owner"), "vault");
    assert_eq!(row.get::<String, _>("status"), "confirmed");
    assert_eq!(row.get::<String, _>("ingested_from"), "grpc");
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_failing_batch_writes_neither_rows_nor_cursor(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    ledger
        .write(&batch(vec![transfer("sig1", "0", 10, 1)], 10))
        .await
        .unwrap();
    // Postgres refuses a NUL byte in text: the good row beside it and the cursor must not land
    let bad = batch(
        vec![
            transfer("sig2", "0", 12, 1),
            transfer("bad\0sig", "0", 12, 2),
        ],
        12,
    );
    let err = ledger.write(&bad).await.unwrap_err();
    assert!(matches!(err, LedgerError::Database(_)), "{err}");
    assert_eq!(
        ledger.cursor("solana").await.unwrap(),
        Some(10),
        "cursor did not move"
    );
    assert_eq!(
        statuses(&pool).await,
        vec![("sig1".into(), 10, "confirmed".into())]
    );
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_leg_delivered_twice_in_one_batch_is_written_once(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let outcome = ledger
        .write(&batch(
            vec![
                transfer("sig1", "0", 10, 1),
                transfer("sig1", "0", 10, 1),
                transfer("sig1", "1", 10, 1),
            ],
            10,
        ))
        .await
        .unwrap();
    assert_eq!(outcome.transfers, 2);
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn rolled_back_blocks_keep_their_rows_and_reingestion_revives_them(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let b = batch(
        vec![
            transfer("a", "0", 10, 1),
            transfer("b", "0", 11, 2),
            transfer("c", "0", 12, 3),
        ],
        12,
    );
    ledger.write(&b).await.unwrap();

    let rolled = ledger
        .roll_back(Chain::Solana, 11, 12, Some("solana"))
        .await
        .unwrap();
    assert_eq!(rolled, 2);
    assert_eq!(
        ledger.cursor("solana").await.unwrap(),
        Some(10),
        "cursor back before the orphaned blocks"
    );
    assert_eq!(
        statuses(&pool).await,
        vec![
            ("a".into(), 10, "confirmed".into()),
            ("b".into(), 11, "rolled_back".into()),
            ("c".into(), 12, "rolled_back".into())
        ]
    );

    // the new chain carries b again, in block 13; c never comes back
    let mut moved = transfer("b", "0", 13, 2);
    moved.block_hash = Some("hash-13-new".into());
    ledger.write(&batch(vec![moved], 13)).await.unwrap();
    assert_eq!(
        statuses(&pool).await,
        vec![
            ("a".into(), 10, "confirmed".into()),
            ("b".into(), 13, "confirmed".into()),
            ("c".into(), 12, "rolled_back".into())
        ]
    );

    ledger.finalize(Chain::Solana, 12).await.unwrap();
    assert_eq!(statuses(&pool).await[0].2, "finalized");
    assert_eq!(
        statuses(&pool).await[1].2,
        "confirmed",
        "block 13 is above the finalized mark"
    );
    assert_eq!(
        statuses(&pool).await[2].2,
        "rolled_back",
        "finalizing never resurrects a rolled-back row"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error_without_the_password() {
    let err = Ledger::connect("postgres://paywire:s3cret@127.0.0.1:1/nowhere")
        .await
        .err()
        .expect("no server on port 1");
    let message = err.to_string();
    assert!(matches!(err, LedgerError::Connect { .. }));
    assert!(message.contains("is it running"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn text_with_tabs_newlines_and_backslashes_round_trips(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let mut row = transfer("sig\twith\ttabs", "0\\1", 10, 7);
    row.program = "line\nbreak\r".into();
    row.authority = None;
    ledger.write(&batch(vec![row.clone()], 10)).await.unwrap();
    let back = sqlx::query("SELECT tx, leg, program, authority FROM ledger.transfers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(back.get::<String, _>("tx"), row.tx);
    assert_eq!(back.get::<String, _>("leg"), row.leg);
    assert_eq!(back.get::<String, _>("program"), row.program);
    assert_eq!(back.get::<Option<String>, _>("authority"), None);
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn discrepancies_are_kept_and_roll_back_with_their_block(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let mut b = batch(vec![transfer("sig1", "0", 10, 1)], 10);
    b.discrepancies.push(DiscrepancyRow {
        tx: "sig1".into(),
        account: "vault-usdc".into(),
        mint: "usdc".into(),
        block: 10,
        balance_change: 5,
        decoded_change: 1,
    });
    ledger.write(&b).await.unwrap();
    ledger.write(&b).await.unwrap();
    let rows = sqlx::query("SELECT balance_change::text AS b, decoded_change::text AS d, status::text AS s FROM ledger.discrepancies")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "recorded once");
    assert_eq!(
        (rows[0].get::<String, _>("b"), rows[0].get::<String, _>("d")),
        ("5".into(), "1".into())
    );
    ledger.roll_back(Chain::Solana, 10, 10, None).await.unwrap();
    let status: String = sqlx::query_scalar("SELECT status::text FROM ledger.discrepancies")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "rolled_back");
}

/// The schema checks the money trail's words against the same lists as the Rust enums: every
/// name the code writes is accepted, and the schema accepts no name the code does not know.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn the_schema_checks_the_same_words_as_the_enums(pool: PgPool) {
    use ledger::{
        names, ChargeStatus, EntryKind, HoldStatus, Ingest, LimitPeriod, PayoutStatus, Purpose,
        SettlementStatus, TransferKind, VaultEventKind,
    };
    use std::collections::BTreeSet;
    use strum::VariantArray;

    let pool = &pool;
    let allowed = |constraint: &'static str| async move {
        let def: String = sqlx::query_scalar(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1",
        )
        .bind(constraint)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("constraint {constraint}: {e}"));
        // CHECK ((kind = ANY (ARRAY['transfer'::text, …]))): the quoted names.
        def.split('\'')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect::<BTreeSet<_>>()
    };
    let set = |names: Vec<&str>| names.into_iter().map(String::from).collect::<BTreeSet<_>>();
    let ingest = set(names(Ingest::VARIANTS));
    assert_eq!(
        allowed("transfers_kind_check").await,
        set(names(TransferKind::VARIANTS))
    );
    assert_eq!(allowed("transfers_ingested_from_check").await, ingest);
    assert_eq!(
        allowed("vault_events_kind_check").await,
        set(names(VaultEventKind::VARIANTS))
    );
    assert_eq!(allowed("vault_events_ingested_from_check").await, ingest);
    assert_eq!(
        allowed("balance_entries_kind_check").await,
        set(names(EntryKind::VARIANTS))
    );
    assert_eq!(
        allowed("holds_status_check").await,
        set(names(HoldStatus::VARIANTS))
    );
    assert_eq!(
        allowed("api_keys_limit_period_check").await,
        set(names(LimitPeriod::VARIANTS))
    );
    assert_eq!(
        allowed("charges_purpose_check").await,
        set(names(Purpose::VARIANTS))
    );
    for payout in ["withdrawals_status_check", "revenue_releases_status_check"] {
        assert_eq!(allowed(payout).await, set(names(PayoutStatus::VARIANTS)));
    }
    assert_eq!(
        allowed("charges_status_check").await,
        set(names(ChargeStatus::VARIANTS))
    );
    assert_eq!(
        allowed("settlements_status_check").await,
        set(names(SettlementStatus::VARIANTS))
    );

    // And a word retyped wrong is refused at the write, not summed as nothing later.
    let refused = sqlx::query(
        "INSERT INTO ledger.transfers (chain, tx, leg, block, tx_index, program, kind, mint, amount, success, ingested_from)
         VALUES ('solana', 't', '0', 1, 0, 'p', 'burnchecked', 'm', 1, true, 'grpc')",
    )
    .execute(pool)
    .await;
    assert!(refused.is_err(), "a kind outside the vocabulary was stored");
}
