//! The Base follower against anvil, driven step by step: plain and EIP-3009 transfers to the
//! treasury appear once; a reorg rolls orphaned rows back and ingests the new chain; a node
//! that refuses wide `eth_getLogs` ranges gets narrower ones.

use std::time::Duration;

use alloy::{
    network::EthereumWallet,
    primitives::{Address, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use indexer::base::{BaseConfig, BaseFollower, Step};
use ledger::Ledger;
use localnet::evm::{authorize, settle, EvmConfig, EvmNode, TestUSDC};
use serde_json::{json, Value};
use sqlx::PgPool;

struct Chain {
    node: EvmNode,
    treasury: Address,
}

async fn start() -> Chain {
    let node = EvmNode::start(EvmConfig {
        port: 0,
        anvil: None,
        block_time: None,
    })
    .await
    .expect("anvil starts (npm install --prefix localnet/evm installs it)");
    node.mint_usdc(node.deployer.address(), 100_000_000)
        .await
        .unwrap();
    Chain {
        node,
        treasury: PrivateKeySigner::random().address(),
    }
}

impl Chain {
    /// A new provider each time: one that watched blocks before a revert waits for block
    /// numbers past the old head before it reports a receipt.
    fn provider(&self) -> DynProvider {
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(self.node.deployer.clone()))
            .connect_http(self.node.rpc_url.parse().unwrap())
            .erased()
    }

    fn follower(&self, rpc_url: &str, pool: &PgPool, confirmations: u64) -> BaseFollower {
        self.follower_from(rpc_url, pool, confirmations, Some(0))
    }

    fn follower_from(
        &self,
        rpc_url: &str,
        pool: &PgPool,
        confirmations: u64,
        start_block: Option<u64>,
    ) -> BaseFollower {
        BaseFollower::new(
            BaseConfig {
                rpc_url: rpc_url.to_string(),
                usdc: self.node.usdc,
                usdc_decimals: 6,
                tracked: vec![self.treasury],
                cursor: "base".into(),
                start_block,
                confirmations,
                poll_interval: Duration::from_millis(50),
                max_range: 1_000,
                metrics: Default::default(),
            },
            Ledger::from_pool(pool.clone()),
        )
        .unwrap()
    }

    /// A plain `transfer` from the deployer; returns the transaction hash.
    async fn transfer(&self, to: Address, amount: u64) -> String {
        let receipt = TestUSDC::new(self.node.usdc, &self.provider())
            .transfer(to, U256::from(amount))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        receipt.transaction_hash.to_string()
    }

    /// `from` authorizes a transfer (EIP-3009), the deployer submits it, as a facilitator does.
    async fn transfer_with_authorization(
        &self,
        from: &PrivateKeySigner,
        to: Address,
        amount: u64,
    ) -> String {
        let auth = authorize(from, self.node.usdc, to, amount, u64::MAX).await;
        let provider = self.provider();
        let usdc = TestUSDC::new(self.node.usdc, &provider);
        let receipt = settle(&usdc, &auth)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status(), "the authorization is accepted");
        receipt.transaction_hash.to_string()
    }

    async fn rpc(&self, method: &'static str, params: Value) -> Value {
        self.provider()
            .raw_request::<_, Value>(method.into(), params)
            .await
            .unwrap()
    }

    async fn mine(&self, blocks: u64) {
        self.rpc("anvil_mine", json!([blocks])).await;
    }
}

/// Steps until the follower reports it is at the head; returns what it did on the way.
async fn catch_up(follower: &mut BaseFollower) -> Vec<Step> {
    let mut steps = Vec::new();
    for _ in 0..1_000 {
        match follower.step().await.expect("step") {
            Step::AtHead => return steps,
            step => steps.push(step),
        }
    }
    panic!("never reached the head: {steps:?}");
}

#[derive(Debug, sqlx::FromRow, PartialEq, Eq)]
struct Row {
    tx: String,
    kind: String,
    source_owner: Option<String>,
    destination_owner: Option<String>,
    amount: String,
    status: String,
}

async fn rows(pool: &PgPool) -> Vec<Row> {
    sqlx::query_as(
        "SELECT tx, kind, source_owner, destination_owner, amount::text AS amount, status::text AS status
         FROM ledger.transfers WHERE chain = 'base' ORDER BY block, leg::int",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

fn row(tx: &str, from: Address, to: Address, amount: u64, status: &str) -> Row {
    Row {
        tx: tx.to_string(),
        kind: "erc20_transfer".into(),
        source_owner: Some(from.to_string()),
        destination_owner: Some(to.to_string()),
        amount: amount.to_string(),
        status: status.into(),
    }
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn transfers_and_eip3009_authorizations_to_the_treasury_appear_once(pool: PgPool) {
    let chain = start().await;
    let deployer = chain.node.deployer.address();
    let alice = PrivateKeySigner::random();
    chain
        .node
        .mint_usdc(alice.address(), 5_000_000)
        .await
        .unwrap();

    let plain = chain.transfer(chain.treasury, 1_000_000).await;
    let authorized = chain
        .transfer_with_authorization(&alice, chain.treasury, 2_000_000)
        .await;
    // not ours: must not appear
    chain
        .transfer(PrivateKeySigner::random().address(), 3_000_000)
        .await;

    let mut follower = chain.follower(&chain.node.rpc_url, &pool, 0);
    catch_up(&mut follower).await;
    let expected = [
        row(&plain, deployer, chain.treasury, 1_000_000, "finalized"),
        row(
            &authorized,
            alice.address(),
            chain.treasury,
            2_000_000,
            "finalized",
        ),
    ];
    assert_eq!(rows(&pool).await, expected);

    // Going over the same chain again changes nothing.
    let head = chain.provider().get_block_number().await.unwrap();
    assert_eq!(
        Ledger::from_pool(pool.clone())
            .cursor("base")
            .await
            .unwrap(),
        Some(head)
    );
    chain.mine(2).await;
    catch_up(&mut follower).await;
    assert_eq!(rows(&pool).await, expected);
}

/// A follower started at the head, after the treasury was paid, records what the treasury held
/// just before its first block: the ledger's flows of the treasury start from it.
#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_follower_started_late_records_what_the_treasury_already_held(pool: PgPool) {
    let chain = start().await;
    chain.transfer(chain.treasury, 1_500_000).await;
    chain.mine(1).await;
    let head = chain.provider().get_block_number().await.unwrap();
    let mut follower = chain.follower_from(&chain.node.rpc_url, &pool, 0, None);
    catch_up(&mut follower).await;
    let later = chain.transfer(chain.treasury, 250_000).await;
    catch_up(&mut follower).await;

    let deployer = chain.node.deployer.address();
    assert_eq!(
        rows(&pool).await,
        [row(&later, deployer, chain.treasury, 250_000, "finalized")]
    );
    let opening: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT owner, block, amount::text FROM ledger.opening_balances WHERE chain = 'base'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        opening,
        [(
            chain.treasury.to_string(),
            head as i64 - 1,
            "1500000".to_string()
        )]
    );
    let ledger = Ledger::from_pool(pool.clone());
    ledger
        .record_treasury(
            ledger::Chain::Base,
            &chain.treasury.to_string(),
            &chain.node.usdc.to_string(),
        )
        .await
        .unwrap();
    let flows = ledger.treasury_flows().await.unwrap();
    assert_eq!(
        (flows[0].inflow.as_str(), flows[0].outflow.as_str()),
        ("1750000", "0")
    );
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_reorg_rolls_orphaned_rows_back_and_ingests_the_new_chain(pool: PgPool) {
    let chain = start().await;
    let deployer = chain.node.deployer.address();
    let snapshot = chain.rpc("evm_snapshot", json!([])).await;

    let orphaned = chain.transfer(chain.treasury, 1_000_000).await;
    chain.mine(1).await;
    let mut follower = chain.follower(&chain.node.rpc_url, &pool, 3);
    catch_up(&mut follower).await;
    assert_eq!(
        rows(&pool).await,
        [row(
            &orphaned,
            deployer,
            chain.treasury,
            1_000_000,
            "confirmed"
        )]
    );

    // Another history from the snapshot on, longer than the one the follower saw.
    assert_eq!(
        chain.rpc("evm_revert", json!([snapshot])).await,
        json!(true)
    );
    let canonical = chain.transfer(chain.treasury, 7_000_000).await;
    // one block past the old head; the new row stays within the 3 unconfirmed blocks
    chain.mine(2).await;
    let steps = catch_up(&mut follower).await;
    assert!(
        matches!(steps.first(), Some(Step::RolledBack(_))),
        "the reorg is noticed before anything new is read: {steps:?}"
    );
    assert_eq!(
        rows(&pool).await,
        [
            row(
                &orphaned,
                deployer,
                chain.treasury,
                1_000_000,
                "rolled_back"
            ),
            row(&canonical, deployer, chain.treasury, 7_000_000, "confirmed"),
        ]
    );
    // Every block the ledger still holds is on the canonical chain.
    let blocks: Vec<(i64, String)> = sqlx::query_as(
        "SELECT number, hash FROM ledger.blocks WHERE chain = 'base' AND status <> 'rolled_back'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (number, hash) in blocks {
        let block = chain
            .provider()
            .get_block_by_number((number as u64).into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(block.header.hash.to_string(), hash, "block {number}");
    }

    // Deep enough below the head, the row is final.
    chain.mine(4).await;
    catch_up(&mut follower).await;
    assert_eq!(rows(&pool).await[1].status, "finalized");
}

/// A JSON-RPC proxy in front of anvil that refuses `eth_getLogs` over more than `max` blocks,
/// as hosted nodes do.
async fn range_limited_proxy(upstream: String, max: u64) -> String {
    use axum::{routing::post, Json, Router};
    let client = reqwest::Client::new();
    let app = Router::new().route(
        "/",
        post(move |Json(request): Json<Value>| {
            let client = client.clone();
            let upstream = upstream.clone();
            async move {
                if request["method"] == "eth_getLogs" {
                    let block = |key: &str| {
                        u64::from_str_radix(
                            request["params"][0][key].as_str().unwrap().trim_start_matches("0x"),
                            16,
                        )
                        .unwrap()
                    };
                    if block("toBlock") - block("fromBlock") + 1 > max {
                        return Json(json!({
                            "jsonrpc": "2.0",
                            "id": request["id"],
                            "error": { "code": -32005, "message": format!("block range too large, max {max}") }
                        }));
                    }
                }
                let answer = client.post(&upstream).json(&request).send().await.unwrap();
                Json(answer.json::<Value>().await.unwrap())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_node_refusing_wide_ranges_gets_narrower_ones(pool: PgPool) {
    let chain = start().await;
    let deployer = chain.node.deployer.address();
    let mut expected = Vec::new();
    for amount in [1_000_000, 2_000_000, 3_000_000] {
        let tx = chain.transfer(chain.treasury, amount).await;
        expected.push(row(&tx, deployer, chain.treasury, amount, "finalized"));
        chain.mine(3).await;
    }
    let proxy = range_limited_proxy(chain.node.rpc_url.clone(), 4).await;
    let mut follower = chain.follower(&proxy, &pool, 0);
    let steps = catch_up(&mut follower).await;
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::Narrowed(n) if *n <= 4)),
        "{steps:?}"
    );
    assert_eq!(rows(&pool).await, expected);
}
