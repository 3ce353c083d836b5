//! Local chains for tests: a localnet that cleans up after itself, and a model tokenized on it.

use std::time::Duration;

use localnet::{DataDir, Localnet, LocalnetConfig, OwnedLocalnet};
use model_vault_client::ModelKeys;
use solana_keypair::Keypair;
use solana_signer::Signer;

/// A localnet (Base too with `evm`) whose key files live in a temporary directory it removes
/// when dropped.
pub async fn start_localnet(evm: bool) -> OwnedLocalnet {
    localnet::quiet_runtime_logs();
    Localnet::start_in(
        DataDir::temporary("paywire-test-").expect("a temporary directory"),
        LocalnetConfig::free_ports(Duration::from_millis(50), evm),
        |_| {},
    )
    .await
    .expect("localnet starts")
}

/// `slug` registered (creator share 20%) and tokenized by a fresh creator.
pub async fn tokenized_model(net: &Localnet, slug: &str) -> ModelKeys {
    let protocol = net.state.solana.protocol();
    let creator = Keypair::new();
    net.solana
        .chain
        .airdrop(&creator.pubkey(), 10_000_000_000)
        .await
        .unwrap();
    let keys = protocol.model(slug);
    let register = protocol.register(&creator.pubkey(), &keys, 2_000);
    let tokenize = protocol.tokenize(
        &creator.pubkey(),
        &keys,
        slug,
        "MDL",
        "https://x.test/m.json",
    );
    for ix in [register, tokenize] {
        net.solana.chain.submit(&[ix], &[&creator]).await.unwrap();
    }
    keys
}

/// `amount` USDC base units sent on localnet's Base by the demo payer to `to` (a plain
/// `transfer`); its receipt, after checking it succeeded.
pub async fn base_payer_sends_usdc(
    base: &localnet::BaseState,
    to: alloy::primitives::Address,
    amount: u64,
) -> alloy::rpc::types::TransactionReceipt {
    use alloy::providers::ProviderBuilder;
    let payer: alloy::signers::local::PrivateKeySigner = base
        .payer_private_key
        .parse()
        .expect("the demo payer's key");
    let provider = ProviderBuilder::new()
        .wallet(payer)
        .connect_http(base.rpc_url.parse().expect("Base's RPC URL"));
    let receipt = localnet::evm::TestUSDC::new(base.usdc, &provider)
        .transfer(to, alloy::primitives::U256::from(amount))
        .send()
        .await
        .expect("the transfer is sent")
        .get_receipt()
        .await
        .expect("its receipt");
    assert!(receipt.status(), "the transfer succeeded: {receipt:?}");
    receipt
}
