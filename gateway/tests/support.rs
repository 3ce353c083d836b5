//! A world to test the gateway in: localnet with both chains, a mock OpenAI-compatible
//! upstream, and the gateway serving on a free port.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use gateway::{
    catalog::{ModelEntry, ProviderEntry},
    config::{BasePayments, SolanaPayments},
    App, GatewayConfig,
};
use ledger::Ledger;
use localnet::{read_keypair, DataDir, Localnet, LocalnetConfig, OwnedLocalnet};
use model_vault_client::{ModelKeys, Protocol};
use serde_json::{json, Value};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;
use x402::{client, wire};

pub use gateway::demo_upstream::Calls;

/// The creator the test catalog names for its models: only a model tokenized by this key is
/// paid into its vault.
pub fn creator() -> Keypair {
    Keypair::new_from_array([7; 32])
}

/// The operator's key to the facilitator API in the test gateways.
pub const FACILITATOR_KEY: &str = "operator-key";

/// The demo upstream on a free port.
pub async fn mock_upstream() -> (String, Calls) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    gateway::demo_upstream::serve(listener).await.unwrap()
}

pub struct World {
    pub net: OwnedLocalnet,
    pub gateway: String,
    pub app: Arc<App>,
    pub calls: Calls,
    pub pool: PgPool,
    pub protocol: Protocol,
    pub http: reqwest::Client,
    pub rpc: RpcClient,
    /// The demo agent on Solana.
    pub payer: Keypair,
    /// The demo agent on Base.
    pub base_payer: alloy::signers::local::PrivateKeySigner,
}

/// The config of a gateway over `net` selling `alpha` (providers `fail-500`, then `ok`, the
/// cheaper first) and `beta` (one provider whose model is `beta_upstream`).
pub fn config(net: &Localnet, upstream: &str, beta_upstream: &str) -> GatewayConfig {
    let s = &net.state.solana;
    let b = net.state.base.as_ref().expect("anvil runs");
    let model = |slug: &str, providers: Vec<ProviderEntry>| ModelEntry {
        creator: Some(creator().pubkey().to_string()),
        providers,
        ..ModelEntry::new(slug, "10", "20", "0.001", 1000)
    };
    GatewayConfig {
        facilitator_key: Some(FACILITATOR_KEY.into()),
        rate_limit_per_minute: 1000,
        client_rate_limit_per_minute: 100_000,
        solana: Some(SolanaPayments {
            fee_payer_keypair: Some(s.facilitator_keypair.clone()),
            treasury_keypair: Some(s.treasury_keypair.clone()),
            ..SolanaPayments::new(&s.rpc_url, s.usdc_mint, s.treasury)
        }),
        base: Some(BasePayments {
            facilitator_private_key: Some(b.facilitator_private_key.clone()),
            treasury_private_key: Some(b.treasury_private_key.clone()),
            ..BasePayments::new(&b.rpc_url, b.usdc, b.treasury)
        }),
        models: vec![
            model(
                "alpha",
                vec![
                    ProviderEntry::new("cheap-but-broken", upstream, "fail-500", "0.1", "0.1"),
                    ProviderEntry::new("steady", upstream, "ok", "0.5", "0.5"),
                ],
            ),
            model(
                "beta",
                vec![ProviderEntry::new(
                    "beta-provider",
                    upstream,
                    beta_upstream,
                    "0.1",
                    "0.1",
                )],
            ),
        ],
        ..GatewayConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), "tests")
    }
}

/// Serves a gateway for `config` on a free port.
pub async fn serve(config: &GatewayConfig, pool: &PgPool) -> (String, Arc<App>) {
    let app = Arc::new(
        App::new(config, Ledger::from_pool(pool.clone()))
            .await
            .expect("gateway config is valid"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gateway::serve(
        listener,
        app.clone(),
        std::future::pending(),
    ));
    (url, app)
}

pub async fn world(pool: PgPool, beta_upstream: &str) -> World {
    localnet::quiet_runtime_logs();
    // Its data directory goes with it when the test ends.
    let net = Localnet::start_in(
        DataDir::temporary("paywire-gw-").expect("a temporary directory"),
        LocalnetConfig::free_ports(Duration::from_millis(50), true),
        |_| {},
    )
    .await
    .expect("localnet starts");
    let (upstream, calls) = mock_upstream().await;
    let config = config(&net, &upstream, beta_upstream);
    let (gateway, app) = serve(&config, &pool).await;
    let s = &net.state.solana;
    World {
        protocol: s.protocol(),
        payer: read_keypair(&s.payer_keypair).unwrap(),
        base_payer: net
            .state
            .base
            .as_ref()
            .unwrap()
            .payer_private_key
            .parse()
            .unwrap(),
        rpc: RpcClient::new_with_commitment(
            s.rpc_url.clone(),
            solana_commitment_config::CommitmentConfig::confirmed(),
        ),
        http: reqwest::Client::new(),
        net,
        gateway,
        app,
        calls,
        pool,
    }
}

pub fn chat(model: &str, stream: bool) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": "Say hello" }], "max_tokens": 100, "stream": stream })
}

/// The 402's offers for `body`, checking the header and body agree.
pub async fn offers(w: &World, body: &Value) -> Vec<wire::PaymentRequirements> {
    offers_from(w, &w.gateway, body).await
}

/// `GET url` as JSON.
pub async fn get_json(w: &World, url: String) -> Value {
    w.http.get(url).send().await.unwrap().json().await.unwrap()
}

/// [`offers`] of the gateway at `gateway`.
pub async fn offers_from(w: &World, gateway: &str, body: &Value) -> Vec<wire::PaymentRequirements> {
    let response = w
        .http
        .post(format!("{gateway}/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 402);
    let header = response.headers()[wire::PAYMENT_REQUIRED]
        .to_str()
        .unwrap()
        .to_string();
    let from_header: wire::PaymentRequired = wire::decode_header(&header).unwrap();
    let from_body: wire::PaymentRequired = response.json().await.unwrap();
    assert_eq!(
        from_header, from_body,
        "PAYMENT-REQUIRED header and body agree"
    );
    from_body.accepts
}

pub fn offer(offers: &[wire::PaymentRequirements], chain: &str) -> wire::PaymentRequirements {
    offers
        .iter()
        .find(|o| o.network.starts_with(chain))
        .cloned()
        .unwrap_or_else(|| panic!("no {chain} offer in {offers:?}"))
}

/// A Solana payment header for `offer`, built as the official client builds it.
pub async fn solana_header(w: &World, offer: &wire::PaymentRequirements) -> String {
    let blockhash = w.rpc.get_latest_blockhash().await.unwrap();
    wire::encode_header(&client::solana_exact(offer, &w.payer, blockhash).unwrap())
}

pub async fn signed_header(
    w: &World,
    offer: &wire::PaymentRequirements,
    ixs: &[solana_instruction::Instruction],
) -> String {
    let blockhash = w.rpc.get_latest_blockhash().await.unwrap();
    wire::encode_header(&client::solana_payment(offer, &w.payer, ixs, blockhash).unwrap())
}

pub async fn base_header(w: &World, offer: &wire::PaymentRequirements) -> String {
    wire::encode_header(&client::base_payment(offer, &w.base_payer).await.unwrap())
}

pub async fn pay(w: &World, body: &Value, header: &str) -> reqwest::Response {
    pay_at(w, &w.gateway, body, header).await
}

pub async fn pay_at(w: &World, gateway: &str, body: &Value, header: &str) -> reqwest::Response {
    w.http
        .post(format!("{gateway}/v1/chat/completions"))
        .header(wire::PAYMENT_SIGNATURE, header)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Posts `body` to `gateway` paid with an x402 v1 payload (`X-PAYMENT`) on `network` (v1's
/// name for it).
pub async fn pay_v1(
    w: &World,
    gateway: &str,
    body: &Value,
    network: &str,
    payload: &Value,
) -> reqwest::Response {
    let v1 = json!({ "x402Version": 1, "scheme": "exact", "network": network, "payload": payload });
    w.http
        .post(format!("{gateway}/v1/chat/completions"))
        .header(wire::X_PAYMENT, wire::encode_header(&v1))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// `body` paid at `gateway` on Solana as x402 v1 clients pay: no quote to bind, a nonce memo
/// of their own.
pub async fn pay_v1_solana(w: &World, gateway: &str, body: &Value) -> reqwest::Response {
    let mut offer = offer(&offers_from(w, gateway, body).await, "solana:");
    if let Some(extra) = offer.extra.as_mut().and_then(Value::as_object_mut) {
        extra.remove("memo");
    }
    let blockhash = w.rpc.get_latest_blockhash().await.unwrap();
    let payment = client::solana_exact(&offer, &w.payer, blockhash).unwrap();
    pay_v1(w, gateway, body, "solana-devnet", &payment.payload).await
}

/// The gateway's `/metrics` text.
pub async fn metrics(w: &World) -> String {
    metrics_at(w, &w.gateway).await
}

/// The value of the unlabelled counter `name` in a `/metrics` text.
pub fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no counter {name} in {metrics}"))
}

/// The `/metrics` text of the gateway at `gateway`.
pub async fn metrics_at(w: &World, gateway: &str) -> String {
    w.http
        .get(format!("{gateway}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub async fn usdc_balance(w: &World, account: &Pubkey) -> u64 {
    w.rpc
        .get_token_account_balance(account)
        .await
        .map(|b| b.amount.parse().unwrap())
        .unwrap_or(0)
}

/// Registers and tokenizes `slug` as `creator`.
pub async fn tokenize_as(w: &World, slug: &str, creator: &Keypair) -> ModelKeys {
    let chain = &w.net.solana.chain;
    chain
        .airdrop(&creator.pubkey(), 10_000_000_000)
        .await
        .unwrap();
    let keys = w.protocol.model(slug);
    chain
        .submit(
            &[w.protocol.register(&creator.pubkey(), &keys, 2_000)],
            &[creator],
        )
        .await
        .unwrap();
    chain
        .submit(
            &[w.protocol.tokenize(
                &creator.pubkey(),
                &keys,
                slug,
                "MDL",
                "https://x.test/m.json",
            )],
            &[creator],
        )
        .await
        .unwrap();
    w.app.pay_to.as_ref().unwrap().forget(slug);
    keys
}

/// Registers and tokenizes `slug` as the catalog's creator.
pub async fn tokenize(w: &World, slug: &str) -> ModelKeys {
    tokenize_as(w, slug, &creator()).await
}

/// Every charge, oldest first.
pub async fn charges(pool: &PgPool) -> Vec<ledger::ChargeView> {
    let mut charges = Ledger::from_pool(pool.clone())
        .charges(None, 1_000)
        .await
        .unwrap();
    charges.reverse();
    charges
}

/// `response` if it has `status`; otherwise fails showing its body.
pub async fn expect_status(response: reqwest::Response, status: u16) -> reqwest::Response {
    if response.status() == status {
        return response;
    }
    let got = response.status();
    panic!(
        "expected HTTP {status}, got {got}: {}",
        response.text().await.unwrap_or_default()
    );
}

/// The JSON body of `response`, which must have `status`.
pub async fn json_of<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    status: u16,
) -> T {
    expect_status(response, status).await.json().await.unwrap()
}
