//! The indexer service against a full localnet (model-vault, USDC, treasury): a payment to the
//! treasury made before it starts (backfill), a model tokenized while it runs (its vault joins
//! the tracked set by itself), payments into the vault, a buyback and its burn — each once,
//! with the right fields — and after a restart the vault is still followed.

use indexer::{
    config::{IndexerConfig, SolanaSection},
    Metrics,
};
use ledger::Ledger;
use localnet::{read_keypair, Localnet};
use model_vault_client::Protocol;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;
use testkit::{
    chains::{start_localnet, tokenized_model},
    wait_until,
};

struct Parties {
    protocol: Protocol,
    payer: Keypair,
    payer_usdc: Pubkey,
}

fn parties(net: &Localnet) -> Parties {
    let s = &net.state.solana;
    Parties {
        protocol: s.protocol(),
        payer: read_keypair(&s.payer_keypair).unwrap(),
        payer_usdc: s.payer_usdc,
    }
}

async fn pay(net: &Localnet, p: &Parties, to: &Pubkey, amount: u64) -> String {
    let ix = spl_token_interface::instruction::transfer_checked(
        &spl_token_interface::ID,
        &p.payer_usdc,
        &p.protocol.usdc_mint,
        to,
        &p.payer.pubkey(),
        &[],
        amount,
        6,
    )
    .unwrap();
    let record = net.solana.chain.submit(&[ix], &[&p.payer]).await.unwrap();
    record.signature().to_string()
}

fn config(net: &Localnet) -> IndexerConfig {
    let s = &net.state.solana;
    IndexerConfig {
        database_url: None,
        solana: Some(SolanaSection::new(&s.rpc_url, &s.grpc_url, s.treasury_usdc)),
        base: None,
    }
}

#[derive(Debug, sqlx::FromRow, PartialEq, Eq)]
struct Leg {
    tx: String,
    kind: String,
    mint: String,
    source_owner: Option<String>,
    destination: Option<String>,
    destination_owner: Option<String>,
    amount: String,
    ingested_from: String,
}

async fn legs(pool: &PgPool, condition: &str, value: &str) -> Vec<Leg> {
    sqlx::query_as(&format!(
        "SELECT tx, kind, mint, source_owner, destination, destination_owner, amount::text AS amount, ingested_from
         FROM ledger.transfers WHERE {condition} = $1 AND status <> 'rolled_back' ORDER BY block, tx_index, leg"
    ))
    .bind(value)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn spawn_indexer(net: &Localnet, pool: &PgPool) -> tokio::task::JoinHandle<()> {
    spawn_indexer_reporting(net, pool, Metrics::default())
}

fn spawn_indexer_reporting(
    net: &Localnet,
    pool: &PgPool,
    metrics: Metrics,
) -> tokio::task::JoinHandle<()> {
    let config = config(net);
    let ledger = Ledger::from_pool(pool.clone());
    tokio::spawn(async move {
        indexer::run(&config, ledger, &metrics, |_| {})
            .await
            .expect("indexer runs");
    })
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn payments_buyback_and_burn_are_indexed_once_and_new_vaults_are_followed(pool: PgPool) {
    let net = start_localnet(false).await;
    let p = parties(&net);
    let s = &net.state.solana;
    // before the indexer runs: found by the backfill
    let to_treasury = pay(&net, &p, &p.protocol.treasury_usdc, 1_000_000).await;
    // Confirmed before the indexer starts, so it is the backfill's to find.
    let rpc = solana_client::nonblocking::rpc_client::RpcClient::new_with_commitment(
        s.rpc_url.clone(),
        solana_commitment_config::CommitmentConfig::confirmed(),
    );
    let signature: solana_signature::Signature = to_treasury.parse().unwrap();
    wait_until("the treasury payment to be confirmed", async || {
        rpc.get_signature_status(&signature)
            .await
            .unwrap()
            .is_some()
    })
    .await;

    let task = spawn_indexer(&net, &pool);
    let beta = tokenized_model(&net, "beta").await;
    let into_vault = [
        pay(&net, &p, &beta.vault, 2_000_000).await,
        pay(&net, &p, &beta.vault, 3_000_000).await,
    ];
    let buyback = net
        .solana
        .chain
        .submit(&[p.protocol.buyback_and_burn(&beta)], &[])
        .await
        .expect("buyback runs")
        .signature()
        .to_string();
    wait_until("the buyback's legs", async || {
        !legs(&pool, "tx", &buyback).await.is_empty()
    })
    .await;

    let treasury_legs = legs(&pool, "tx", &to_treasury).await;
    assert_eq!(
        treasury_legs,
        [Leg {
            tx: to_treasury.clone(),
            kind: "transfer_checked".into(),
            mint: s.usdc_mint.to_string(),
            source_owner: Some(s.payer.to_string()),
            destination: Some(s.treasury_usdc.to_string()),
            destination_owner: Some(s.treasury.to_string()),
            amount: "1000000".into(),
            ingested_from: "rpc_backfill".into(),
        }]
    );
    let vault_legs = legs(&pool, "destination", &beta.vault.to_string()).await;
    let payments: Vec<(&str, &str, Option<&str>)> = vault_legs
        .iter()
        .map(|l| {
            (
                l.tx.as_str(),
                l.amount.as_str(),
                l.destination_owner.as_deref(),
            )
        })
        .collect();
    let authority = beta.vault_authority.to_string();
    assert_eq!(
        payments,
        [
            (into_vault[0].as_str(), "2000000", Some(authority.as_str())),
            (into_vault[1].as_str(), "3000000", Some(authority.as_str())),
        ],
        "each payment into the new vault once, though the vault did not exist when the indexer started"
    );

    // The buyback: protocol fee to the treasury, USDC into the pool, tokens out, tokens burned.
    let buyback_legs = legs(&pool, "tx", &buyback).await;
    let of_kind = |kind: &str| {
        buyback_legs
            .iter()
            .filter(|l| l.kind.starts_with(kind))
            .collect::<Vec<_>>()
    };
    let fee = buyback_legs
        .iter()
        .find(|l| l.destination.as_deref() == Some(s.treasury_usdc.to_string().as_str()))
        .expect("protocol fee leg");
    assert_eq!(fee.amount, "250000", "5% of the 5 USDC of revenue");
    assert!(
        buyback_legs
            .iter()
            .any(|l| l.destination.as_deref() == Some(beta.pool_quote_vault.to_string().as_str())),
        "USDC from the vault into the pool: {buyback_legs:?}"
    );
    let burns = of_kind("burn");
    assert_eq!(burns.len(), 1, "{buyback_legs:?}");
    assert_eq!(burns[0].mint, beta.mint.to_string());
    assert!(burns[0].amount.parse::<u64>().unwrap() > 0);

    let events: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT kind, model FROM ledger.vault_events ORDER BY slot, ix_path")
            .fetch_all(&pool)
            .await
            .unwrap();
    let model = Some(beta.model.to_string());
    for kind in ["register", "tokenize", "buyback"] {
        assert_eq!(
            events
                .iter()
                .filter(|(k, m)| k == kind && *m == model)
                .count(),
            1,
            "one {kind} event of beta in {events:?}"
        );
    }
    let tracked: Vec<String> =
        sqlx::query_scalar("SELECT address FROM ledger.tracked_accounts ORDER BY address")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut expected = vec![
        beta.vault.to_string(),
        beta.pool_quote_vault.to_string(),
        beta.mint.to_string(),
    ];
    expected.sort();
    assert_eq!(tracked, expected);
    let discrepancies: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger.discrepancies")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        discrepancies, 0,
        "decoded legs explain every balance change"
    );

    // Restart: the vault, learned from the chain, is followed again; nothing is doubled.
    task.abort();
    let _ = task.await;
    let while_down = pay(&net, &p, &beta.vault, 4_000_000).await;
    let task = spawn_indexer(&net, &pool);
    wait_until("the payment made while down", async || {
        !legs(&pool, "tx", &while_down).await.is_empty()
    })
    .await;
    let after = pay(&net, &p, &beta.vault, 5_000_000).await;
    wait_until("the payment made after the restart", async || {
        !legs(&pool, "tx", &after).await.is_empty()
    })
    .await;
    task.abort();
    let amounts: Vec<String> = legs(&pool, "destination", &beta.vault.to_string())
        .await
        .into_iter()
        .map(|l| l.amount)
        .collect();
    assert_eq!(amounts, ["2000000", "3000000", "4000000", "5000000"]);
}

/// The values of `name` in a Prometheus text exposition, on lines carrying every label given.
fn samples(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Vec<u64> {
    exposition
        .lines()
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let wanted = metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            wanted.then(|| value.parse().expect("an integer sample"))
        })
        .collect()
}

/// `/metrics` on the ledger API: the cursor is where the ledger says, at or past the payment's
/// slot, the lag is the head minus the cursor, and the rows written are the rows in the ledger.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn metrics_show_the_cursor_lag_and_rows_written(pool: PgPool) {
    let net = start_localnet(false).await;
    let p = parties(&net);
    let metrics = Metrics::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let api = audit::api::router(Ledger::from_pool(pool.clone()), None).merge(metrics.router());
    let server = tokio::spawn(audit::api::serve(listener, api));
    let task = spawn_indexer_reporting(&net, &pool, metrics);

    let paid = pay(&net, &p, &p.protocol.treasury_usdc, 1_000_000).await;
    wait_until("the payment in the ledger", async || {
        !legs(&pool, "tx", &paid).await.is_empty()
    })
    .await;
    let paid_in: i64 = sqlx::query_scalar("SELECT block FROM ledger.transfers WHERE tx = $1")
        .bind(&paid)
        .fetch_one(&pool)
        .await
        .unwrap();
    let cursor_of = |exposition: &str| {
        samples(
            exposition,
            "paywire_indexer_cursor",
            &[("chain", "solana"), ("cursor", "solana")],
        )
    };
    // The rows are in the ledger a moment before the write that put them there is counted.
    let mut exposition = String::new();
    wait_until("the metrics to count the payment's write", async || {
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4"
        );
        assert_eq!(
            response.headers()["x-request-id"].len(),
            36,
            "a request id (a UUID) its logs carry too"
        );
        exposition = response.text().await.unwrap();
        cursor_of(&exposition)
            .first()
            .is_some_and(|c| *c >= paid_in as u64)
    })
    .await;
    let ledger_cursor = Ledger::from_pool(pool.clone())
        .cursor("solana")
        .await
        .unwrap()
        .expect("cursor written");
    assert_eq!(
        samples(
            &exposition,
            "paywire_indexer_lease_held",
            &[("cursor", "solana")]
        ),
        [1],
        "this indexer follows Solana, not standing by"
    );
    let given_id = reqwest::Client::new()
        .get(url.replace("/metrics", "/ledger/cursors"))
        .header("x-request-id", "operator-7")
        .send()
        .await
        .unwrap();
    assert_eq!(
        given_id.headers()["x-request-id"],
        "operator-7",
        "a caller's request id is kept"
    );
    task.abort();
    server.abort();

    let one = |name: &str, labels: &[(&str, &str)]| match samples(&exposition, name, labels)[..] {
        [value] => value,
        ref found => panic!("one {name} {labels:?} expected, found {found:?}:\n{exposition}"),
    };
    let solana = [("chain", "solana")];
    let cursor = one(
        "paywire_indexer_cursor",
        &[("chain", "solana"), ("cursor", "solana")],
    );
    assert!(
        cursor <= ledger_cursor,
        "the cursor metric {cursor} is no further than the ledger's cursor {ledger_cursor}"
    );
    let head = one("paywire_indexer_chain_head", &solana);
    assert!(head >= cursor, "head {head}, cursor {cursor}");
    assert_eq!(one("paywire_indexer_lag", &solana), head - cursor);

    for table in ["transfers", "vault_events"] {
        let written: u64 = samples(
            &exposition,
            "paywire_indexer_rows_written_total",
            &[("chain", "solana"), ("table", table)],
        )
        .iter()
        .sum();
        let in_ledger: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM ledger.{table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(written, in_ledger as u64, "{table} written:\n{exposition}");
    }
    assert!(
        samples(
            &exposition,
            "paywire_indexer_rows_written_total",
            &[("table", "transfers")]
        )
        .iter()
        .sum::<u64>()
            >= 1,
        "the payment is counted"
    );
}
