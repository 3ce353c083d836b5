//! alloy against anvil: EIP-3009 authorizations on the local USDC.

use alloy::{
    network::EthereumWallet,
    primitives::{Address, U256},
    providers::ProviderBuilder,
    signers::local::PrivateKeySigner,
};
use localnet::evm::{authorize, settle, EvmConfig, EvmNode, TestUSDC};

const USDC: u64 = 1_000_000;

fn random_address() -> Address {
    PrivateKeySigner::random().address()
}

/// The revert of a call that must fail.
fn reverted<T>(result: Result<T, alloy::contract::Error>) -> String {
    match result {
        Ok(_) => panic!("the call succeeded but must revert"),
        Err(e) => e.to_string(),
    }
}

fn far_future() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3_600
}

/// anvil with TestUSDC, and the contract as the facilitator (here the deployer) calls it.
async fn local_usdc() -> (
    EvmNode,
    TestUSDC::TestUSDCInstance<impl alloy::providers::Provider>,
) {
    let evm = EvmNode::start(EvmConfig {
        port: 0,
        anvil: None,
        block_time: None,
    })
    .await
    .expect("start anvil");
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(evm.deployer.clone()))
        .connect_http(evm.rpc_url.parse().unwrap());
    let usdc = TestUSDC::new(evm.usdc, provider);
    (evm, usdc)
}

#[tokio::test(flavor = "multi_thread")]
async fn eip3009_authorization_settles_once() {
    let (evm, usdc) = local_usdc().await;
    let payer = PrivateKeySigner::random();
    let merchant = random_address();
    evm.mint_usdc(payer.address(), 100 * USDC).await.unwrap();

    assert_eq!(usdc.name().call().await.unwrap(), "USD Coin");
    assert_eq!(usdc.decimals().call().await.unwrap(), 6);

    let auth = authorize(&payer, evm.usdc, merchant, 12 * USDC, far_future()).await;
    let m = &auth.message;
    let receipt = settle(&usdc, &auth)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    assert_eq!(
        usdc.balanceOf(merchant).call().await.unwrap(),
        U256::from(12 * USDC)
    );
    assert_eq!(
        usdc.balanceOf(payer.address()).call().await.unwrap(),
        U256::from(88 * USDC)
    );
    assert!(usdc
        .authorizationState(payer.address(), m.nonce)
        .call()
        .await
        .unwrap());

    // the same authorization again: refused, nothing moves
    let replay = reverted(settle(&usdc, &auth).call().await);
    assert!(
        replay
            .to_string()
            .contains("authorization is used or canceled"),
        "{replay}"
    );
    assert_eq!(
        usdc.balanceOf(merchant).call().await.unwrap(),
        U256::from(12 * USDC)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_or_forged_authorizations_are_refused() {
    let (evm, usdc) = local_usdc().await;
    let payer = PrivateKeySigner::random();
    evm.mint_usdc(payer.address(), 10 * USDC).await.unwrap();

    let expired = authorize(&payer, evm.usdc, random_address(), USDC, 1).await;
    let err = reverted(settle(&usdc, &expired).call().await);
    assert!(
        err.to_string().contains("authorization is expired"),
        "{err}"
    );

    // signed by someone else on the payer's behalf
    let thief = PrivateKeySigner::random();
    let mut forged = authorize(&thief, evm.usdc, thief.address(), USDC, far_future()).await;
    forged.message.from = payer.address();
    let err = reverted(settle(&usdc, &forged).call().await);
    assert!(err.to_string().contains("invalid signature"), "{err}");
    assert_eq!(
        usdc.balanceOf(payer.address()).call().await.unwrap(),
        U256::from(10 * USDC)
    );
}
