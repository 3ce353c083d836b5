//! alloy against anvil: EIP-3009 authorizations on the local USDC.

use alloy::{
    network::EthereumWallet,
    primitives::{Address, Bytes, FixedBytes, U256},
    providers::ProviderBuilder,
    signers::{local::PrivateKeySigner, Signer},
    sol,
    sol_types::eip712_domain,
};
use localnet::evm::{EvmConfig, EvmNode, TestUSDC, CHAIN_ID};

sol! {
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

const USDC: u64 = 1_000_000;

struct Authorization {
    message: TransferWithAuthorization,
    signature: Bytes,
}

async fn authorize(
    payer: &PrivateKeySigner,
    usdc: Address,
    to: Address,
    value: u64,
    valid_before: u64,
) -> Authorization {
    let message = TransferWithAuthorization {
        from: payer.address(),
        to,
        value: U256::from(value),
        validAfter: U256::ZERO,
        validBefore: U256::from(valid_before),
        nonce: random_b256(),
    };
    let domain = eip712_domain! {
        name: "USD Coin",
        version: "2",
        chain_id: CHAIN_ID,
        verifying_contract: usdc,
    };
    let signature = payer.sign_typed_data(&message, &domain).await.unwrap();
    Authorization {
        message,
        signature: signature.as_bytes().to_vec().into(),
    }
}

/// 32 unpredictable bytes, taken from a fresh key.
fn random_b256() -> FixedBytes<32> {
    FixedBytes::from_slice(&PrivateKeySigner::random().to_bytes()[..])
}

fn random_address() -> Address {
    PrivateKeySigner::random().address()
}

/// Submits `auth` through the `bytes signature` overload (the one x402 facilitators use).
fn settle<'a, P: alloy::providers::Provider>(
    usdc: &'a TestUSDC::TestUSDCInstance<P>,
    auth: &Authorization,
) -> alloy::contract::SolCallBuilder<&'a P, TestUSDC::transferWithAuthorization_0Call> {
    let m = &auth.message;
    usdc.transferWithAuthorization_0(
        m.from,
        m.to,
        m.value,
        m.validAfter,
        m.validBefore,
        m.nonce,
        auth.signature.clone(),
    )
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
