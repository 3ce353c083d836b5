//! The ledger page at `/ledger/`, loaded in headless Chromium (Debian's `chromium`): the charts
//! render the seeded revenue, buybacks and reconciliation results, and a database that goes
//! away is a 503 from the API that the page shows instead of stale figures passing as fresh.

use audit::VaultAudit;
use ledger::fixtures::{completed_charge, our_addresses, two_buybacks, usdc_leg};
use ledger::{Batch, Chain, Ledger, ScratchDatabase};
use sqlx::PgPool;

/// Serves the ledger API on a free port; returns its base URL.
async fn serve(ledger: Ledger) -> String {
    serve_reading(ledger, None).await
}

/// [`serve`] with the vault checks reading the chain through `vaults`.
async fn serve_reading(ledger: Ledger, vaults: Option<VaultAudit>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(audit::api::serve(
        listener,
        audit::api::router(ledger, vaults),
    ));
    url
}

/// A Solana RPC that takes connections and never answers: the vault checks give up after 5 s
/// with a 504 that says why, rather than hold the page's request.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_chain_that_does_not_answer_is_a_504_within_5_s(pool: PgPool) {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let rpc = format!("http://{}", silent.local_addr().unwrap());
    let vaults = VaultAudit::new(rpc, "solana");
    let url = serve_reading(Ledger::from_pool(pool), Some(vaults)).await;
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .get(format!("{url}/ledger/models"))
        .timeout(std::time::Duration::from_secs(15))
        .send()
        .await
        .expect("an answer, not a request held past 15 s");
    let waited = started.elapsed();
    assert_eq!(response.status(), 504);
    assert!(
        waited < std::time::Duration::from_secs(6),
        "answered after {waited:?}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("5 s"), "says why: {body}");
}

async fn render(url: &str) -> String {
    testkit::browser::rendered_dom(url).await.unwrap()
}

fn count(dom: &str, needle: &str) -> usize {
    dom.matches(needle).count()
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn the_ledger_page_charts_revenue_buybacks_and_reconciliation(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    our_addresses(&ledger, &[("alpha", "alpha-vault")]).await;
    let mut solana = Batch::new(Chain::Solana, ledger::Ingest::Grpc);
    solana.transfers = vec![
        usdc_leg("s1", "alpha-vault", 1_500_000),
        usdc_leg("s2", "alpha-vault", 500_000),
        usdc_leg("gift", "alpha-vault", 9_000_000),
    ];
    two_buybacks(&mut solana);
    ledger.write(&solana).await.unwrap();
    let mut base = Batch::new(Chain::Base, ledger::Ingest::EvmLogs);
    base.transfers = vec![usdc_leg("0xb1", "0xtreasury", 300_000)];
    ledger.write(&base).await.unwrap();

    completed_charge(
        &ledger,
        "alpha",
        Chain::Solana,
        "s1",
        "alpha-vault",
        1_500_000,
    )
    .await;
    completed_charge(
        &ledger,
        "alpha",
        Chain::Solana,
        "s2",
        "alpha-vault",
        500_000,
    )
    .await;
    completed_charge(&ledger, "alpha", Chain::Base, "0xb1", "0xtreasury", 300_000).await;
    completed_charge(
        &ledger,
        "beta",
        Chain::Solana,
        "lost",
        "treasury",
        2_000_000,
    )
    .await;

    let url = serve(ledger).await;
    // `/` leads to the page
    let dom = render(&url).await;
    assert!(dom.contains(r#"data-state="ready""#), "{dom}");

    // revenue: one bar per model and chain, with the ledger's amounts and call counts
    for bar in [
        r#"data-model="alpha" data-chain="solana" data-revenue="2000000" data-calls="2""#,
        r#"data-model="alpha" data-chain="base" data-revenue="300000" data-calls="1""#,
        r#"data-model="beta" data-chain="solana" data-revenue="2000000" data-calls="1""#,
    ] {
        assert_eq!(count(&dom, bar), 1, "revenue bar {bar}");
    }
    assert_eq!(count(&dom, r#"class="bar""#), 3);

    // reconciliation: three matched, one charge with no transfer, one unexplained inflow
    for segment in [
        r#"data-result="matched" data-count="3""#,
        r#"data-result="missing" data-count="1""#,
        r#"data-result="unexplained_inflow" data-count="1""#,
    ] {
        assert_eq!(count(&dom, segment), 1, "segment {segment}");
    }
    assert_eq!(count(&dom, r#"class="segment""#), 3);
    // And the Solana treasury is short: alpha earned 0.3 on Base, owed to its vault from the
    // Solana treasury, which holds only the buybacks' fees (0.1).
    assert!(
        dom.contains(r#"<span id="status" class="bad">3 not reconciled</span>"#),
        "{dom}"
    );
    assert_eq!(count(&dom, r#"<tr data-result="short">"#), 1);
    assert_eq!(count(&dom, r#"data-owed="300000" data-model="alpha""#), 1);
    assert_eq!(count(&dom, r#"<tr data-result="missing">"#), 1);
    assert_eq!(count(&dom, r#"<tr data-result="unexplained_inflow">"#), 1);

    // without a Solana RPC the vault checks say what they need instead of passing as clean
    assert!(
        dom.contains("vault and supply checks read the chain: serve the API with a Solana RPC"),
        "{dom}"
    );

    // buybacks: a bar each (fee + swap), and the burned line ends at 1.3 tokens (base units)
    for buyback in [
        r#"data-signature="bb-1" data-model="alpha" data-usdc="1000000" data-burned="700000""#,
        r#"data-signature="bb-2" data-model="alpha" data-usdc="1000000" data-burned="600000""#,
    ] {
        assert_eq!(count(&dom, buyback), 1, "buyback {buyback}");
    }
    assert!(
        dom.contains(r#"id="burned-line" data-points="2" data-total="1300000""#),
        "{dom}"
    );
}

#[tokio::test]
async fn a_database_that_goes_away_is_a_503_the_page_shows() {
    let server = std::env::var("DATABASE_URL").expect(
        "DATABASE_URL must point at a Postgres server (.ci/run sets it; e.g. postgres://postgres@127.0.0.1:5432/postgres)",
    );
    let scratch = ScratchDatabase::create(&server, "paywire_page_gone")
        .await
        .unwrap();
    let ledger = Ledger::connect(&scratch.url).await.unwrap();
    let url = serve(ledger).await;
    let http = reqwest::Client::new();
    let ok = http
        .get(format!("{url}/ledger/audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    scratch.drop().await.unwrap();
    for path in [
        "audit",
        "revenue",
        "buybacks",
        "charges",
        "transfers",
        "cursors",
    ] {
        let response = http
            .get(format!("{url}/ledger/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "/ledger/{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "/ledger/{path} says why: {body}"
        );
    }
    let dom = render(&format!("{url}/ledger/")).await;
    assert!(dom.contains(r#"data-state="error""#), "{dom}");
    // whichever request failed first, the page names it and the database's reason
    assert!(
        dom.contains("The ledger API did not answer: /ledger/") && dom.contains("database"),
        "{dom}"
    );
}
