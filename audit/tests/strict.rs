//! The strict audit (issue #16): a charge pairs with exactly one real USDC leg of its
//! settlement — that chain's USDC, a successful transaction, from its payer, to a payTo of
//! ours — and every USDC inflow to an address we own is explained, whatever the scope. Each
//! class is seeded as an insider (ledger rows) or an outsider (chain rows) would leave it.

use audit::{audit_charges, AuditError, AuditScope, Reconciliation};
use ledger::fixtures::{completed_charge, our_addresses, slot_time, usdc_leg as leg};
use ledger::{Batch, Chain, Ledger, TransferKind, TransferRow, VaultEventKind, VaultEventRow};
use sqlx::PgPool;

async fn write(ledger: &Ledger, transfers: Vec<TransferRow>, events: Vec<VaultEventRow>) {
    let mut batch = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
    batch.transfers = transfers;
    batch.vault_events = events;
    ledger.write(&batch).await.unwrap();
}

async fn everything(ledger: &Ledger) -> audit::ChargeAudit {
    audit_charges(ledger, &AuditScope::default()).await.unwrap()
}

fn results(audit: &audit::ChargeAudit) -> Vec<(i64, Reconciliation)> {
    audit
        .charges
        .iter()
        .map(|c| (c.charge_id, c.result.clone()))
        .collect()
}

fn inflows(audit: &audit::ChargeAudit) -> Vec<&str> {
    audit
        .unexplained_inflows
        .iter()
        .map(|i| i.tx.as_str())
        .collect()
}

/// Charges whose legs exist but are not what was sold: another token, a failed transaction,
/// another payer, a payTo not ours, one leg claimed by two charges.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_charge_matches_one_real_usdc_leg_of_its_payer_to_a_pay_to_of_ours(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    our_addresses(&ledger, &[("alpha", "vault")]).await;
    write(
        &ledger,
        vec![
            leg("good", "vault", 1_000),
            TransferRow {
                mint: "fake-usdc".into(),
                ..leg("other-token", "vault", 1_000)
            },
            TransferRow {
                success: false,
                ..leg("failed", "vault", 1_000)
            },
            TransferRow {
                source_owner: Some("someone-else".into()),
                ..leg("not-the-payer", "vault", 1_000)
            },
            leg("stranger", "stranger", 1_000),
        ],
        vec![],
    )
    .await;
    let charge = |tx: &'static str, pay_to: &'static str| {
        let ledger = ledger.clone();
        async move { completed_charge(&ledger, "alpha", Chain::Solana, tx, pay_to, 1_000).await }
    };
    let good = charge("good", "vault").await;
    let token = charge("other-token", "vault").await;
    let failed = charge("failed", "vault").await;
    let payer = charge("not-the-payer", "vault").await;
    let stranger = charge("stranger", "stranger").await;
    // gamma's vault was paid in slot 7; the chain shows gamma tokenized only in slot 9.
    let gamma_model = model_vault_client::model_pda("gamma").to_string();
    ledger
        .record_model_creator("gamma", "creator", "gamma-vault")
        .await
        .unwrap();
    write(
        &ledger,
        vec![leg("early", "gamma-vault", 1_000)],
        vec![VaultEventRow {
            signature: "tokenize-gamma".into(),
            ix_path: "0".into(),
            slot: 9,
            block_time: None,
            tx_index: 0,
            kind: VaultEventKind::Tokenize,
            model: Some(gamma_model),
            actor: None,
            usdc_amount: None,
            token_amount: None,
            success: true,
        }],
    )
    .await;
    let early = completed_charge(
        &ledger,
        "gamma",
        Chain::Solana,
        "early",
        "gamma-vault",
        1_000,
    )
    .await;
    // An insider who drops the one-settlement-per-charge index claims the good leg again.
    sqlx::query("DROP INDEX ledger.charges_settlement")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO ledger.charges (quote_id, model, payer, chain, pay_to, amount, settlement_tx, status)
         VALUES ('again', 'alpha', 'agent', 'solana', 'vault', 1000, 'good', 'completed')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let audit = everything(&ledger).await;
    let again = audit.charges.last().unwrap().charge_id;
    assert_eq!(
        results(&audit),
        [
            (good, Reconciliation::Matched),
            (
                token,
                Reconciliation::WrongToken {
                    found: "fake-usdc".into()
                }
            ),
            (failed, Reconciliation::FailedOnChain),
            (
                payer,
                Reconciliation::WrongPayer {
                    found: "someone-else".into()
                }
            ),
            (
                stranger,
                Reconciliation::NotOurs {
                    found: "stranger".into()
                }
            ),
            (
                early,
                Reconciliation::NotOurs {
                    found: "gamma-vault".into()
                }
            ),
            (
                again,
                Reconciliation::Duplicate {
                    of: format!("charge {good}")
                }
            ),
        ]
    );
    assert!(inflows(&audit).is_empty(), "every leg is some charge's");
    assert!(!audit.reconciled());
}

/// What flows into an address of ours: only successful USDC legs count (a failed transfer of
/// 777,000 "USDC", another token, are not inflows); USDC minted straight into the treasury is
/// one, explained once the operator records it; a model-vault instruction explains only the
/// legs it moved itself, and a rolled-back one explains nothing.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn only_real_usdc_inflows_count_and_each_needs_its_own_cause(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    our_addresses(&ledger, &[("alpha", "vault")]).await;
    let buyback = |path: &str| VaultEventRow {
        signature: "crank".into(),
        ix_path: path.into(),
        slot: 7,
        block_time: None,
        tx_index: 0,
        kind: VaultEventKind::Buyback,
        model: Some("alpha-model".into()),
        actor: None,
        usdc_amount: Some(50),
        token_amount: None,
        success: true,
    };
    write(
        &ledger,
        vec![
            TransferRow {
                success: false,
                ..leg("failed-gift", "treasury", 777_000_000_000)
            },
            TransferRow {
                mint: "fake-usdc".into(),
                ..leg("fake-gift", "vault", 5)
            },
            TransferRow {
                kind: TransferKind::MintTo,
                source_owner: None,
                ..leg("minted", "treasury", 10_000_000)
            },
            // The crank's fee to the treasury (moved by the buyback at path 1), and a donation
            // to the vault riding in the same transaction at path 0.
            TransferRow {
                leg: "1.0".into(),
                ..leg("crank", "treasury", 50)
            },
            TransferRow {
                leg: "0".into(),
                ..leg("crank", "vault", 70)
            },
        ],
        vec![buyback("1")],
    )
    .await;
    let audit = everything(&ledger).await;
    let found: Vec<(&str, &str)> = audit
        .unexplained_inflows
        .iter()
        .map(|i| (i.tx.as_str(), i.destination_owner.as_str()))
        .collect();
    assert_eq!(found, [("crank", "vault"), ("minted", "treasury")]);

    ledger
        .record_operator_transfer(Chain::Solana, "minted", "working capital")
        .await
        .unwrap();
    let audit = everything(&ledger).await;
    assert_eq!(inflows(&audit), ["crank"]);

    // The buyback rolled back with its slot: its fee leg is explained by nothing.
    sqlx::query("UPDATE ledger.vault_events SET status = 'rolled_back'")
        .execute(&pool)
        .await
        .unwrap();
    let audit = everything(&ledger).await;
    assert_eq!(inflows(&audit), ["crank", "crank"]);
}

/// What is watched comes from what we know, not from the charges in scope: deleting every
/// charge of a payTo, or auditing a window with none, hides nothing. A scope of one model
/// reports its own charges and leaves other models' matched traffic alone; a model nothing
/// knows is an error; times are the settlement's block time, boundaries exact.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn the_scope_hides_nothing_and_reports_nothing_that_did_not_happen(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    our_addresses(&ledger, &[("alpha", "vault"), ("beta", "beta-vault")]).await;
    let at = |tx: &str, owner: &str, minute: u64| TransferRow {
        block_time: Some(slot_time(minute)),
        ..leg(tx, owner, 1_000)
    };
    write(
        &ledger,
        vec![
            at("alpha-1", "vault", 10),
            at("beta-1", "treasury", 20),
            at("beta-2", "beta-vault", 30),
        ],
        vec![],
    )
    .await;
    let alpha = completed_charge(&ledger, "alpha", Chain::Solana, "alpha-1", "vault", 1_000).await;
    completed_charge(&ledger, "beta", Chain::Solana, "beta-1", "treasury", 1_000).await;
    completed_charge(
        &ledger,
        "beta",
        Chain::Solana,
        "beta-2",
        "beta-vault",
        1_000,
    )
    .await;

    let scoped = |model: Option<&str>, from: Option<u64>, to: Option<u64>| AuditScope {
        model: model.map(String::from),
        from: from.map(slot_time),
        to: to.map(slot_time),
    };
    // alpha alone: its charge; beta's matched legs into the shared treasury are not alpha's
    // problems.
    let audit = audit_charges(&ledger, &scoped(Some("alpha"), None, None))
        .await
        .unwrap();
    assert_eq!(results(&audit), [(alpha, Reconciliation::Matched)]);
    assert!(audit.reconciled(), "{audit:?}");
    // [10, 20): alpha's charge, settled at minute 10; the boundary at 20 excludes beta-1.
    let audit = audit_charges(&ledger, &scoped(None, Some(10), Some(20)))
        .await
        .unwrap();
    assert_eq!(results(&audit), [(alpha, Reconciliation::Matched)]);
    assert!(audit.reconciled(), "{audit:?}");

    // An insider deletes every charge paid to beta's vault: its inflow is still watched and
    // unexplained, in a scope of beta and in a window holding no charge at all.
    sqlx::query("DELETE FROM ledger.charges WHERE pay_to = 'beta-vault'")
        .execute(&pool)
        .await
        .unwrap();
    for scope in [
        scoped(Some("beta"), None, None),
        scoped(None, Some(25), Some(35)),
    ] {
        let audit = audit_charges(&ledger, &scope).await.unwrap();
        assert_eq!(inflows(&audit), ["beta-2"], "{scope:?}");
    }

    let unknown = audit_charges(&ledger, &scoped(Some("gamma"), None, None)).await;
    assert!(
        matches!(unknown, Err(AuditError::UnknownModel(ref m)) if m == "gamma"),
        "{unknown:?}"
    );
}
