//! Base nonces handed out by the ledger (the facilitator's and the treasury's keys): a
//! transaction the node refuses after its nonce was taken does not leave the ones after it
//! stuck behind a gap, and transactions sent with the key elsewhere are stepped over.

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use ledger::Ledger;
use sqlx::PgPool;
use x402::sender::{Sender, Sent};

use crate::support::world;

const CHAIN_ID: u64 = 84532;

/// A transaction that needs more gas (53,000) than the 21,000 of the transfer of nothing that
/// fills a refused one's nonce.
fn heavy() -> TransactionRequest {
    TransactionRequest::default()
        .with_to(Address::repeat_byte(7))
        .with_input(vec![1u8; 2000])
}

struct Key {
    provider: DynProvider,
    key: PrivateKeySigner,
}

impl Key {
    async fn count(&self) -> u64 {
        self.provider
            .get_transaction_count(self.key.address())
            .await
            .unwrap()
    }

    /// The key's count once it is `expected`, or after 5 s.
    async fn count_becomes(&self, expected: u64) -> u64 {
        for _ in 0..50 {
            if self.count().await == expected {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.count().await
    }

    /// Waits for `hash` to be mined, successfully.
    async fn lands(&self, hash: alloy::primitives::TxHash) {
        let receipt =
            alloy::providers::PendingTransactionBuilder::new(self.provider.root().clone(), hash)
                .with_timeout(Some(std::time::Duration::from_secs(10)))
                .get_receipt()
                .await
                .unwrap();
        assert!(receipt.status(), "{hash} reverted");
    }

    async fn set_balance(&self, wei: U256) {
        let _: () = self
            .provider
            .raw_request("anvil_setBalance".into(), (self.key.address(), wei))
            .await
            .unwrap();
    }

    /// Enough ETH for a transfer of nothing at today's fees, not for [`heavy`].
    async fn only_enough_for_a_filler(&self) {
        let fees = self.provider.estimate_eip1559_fees().await.unwrap();
        self.set_balance(U256::from(30_000 * fees.max_fee_per_gas))
            .await;
    }
}

async fn setup(pool: &PgPool) -> (crate::support::World, Key, Sender) {
    let w = world(pool.clone(), "ok").await;
    let b = w.net.state.base.as_ref().unwrap();
    let provider = ProviderBuilder::new()
        .connect_http(b.rpc_url.parse().unwrap())
        .erased();
    let key: PrivateKeySigner = b.facilitator_private_key.parse().unwrap();
    let sender = Sender::new(
        provider.clone(),
        key.clone(),
        CHAIN_ID,
        Ledger::from_pool(pool.clone()),
    );
    (w, Key { provider, key }, sender)
}

async fn gaps(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM ledger.nonce_gaps")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_refused_transactions_nonce_is_filled_and_the_next_ones_land(pool: PgPool) {
    let (w, key, sender) = setup(&pool).await;
    let before = key.count().await;
    let unsent = sender.prepare(heavy(), None).await.unwrap();
    // Between the estimate and the send, the key's ETH went (another process spent it).
    key.only_enough_for_a_filler().await;
    let signed = sender.sign(&unsent).await.unwrap();
    let sent = sender.send(signed).await;
    assert!(matches!(sent, Sent::Refused(_)), "{sent:?}");
    assert_eq!(
        key.count_becomes(before + 1).await,
        before + 1,
        "the refused one's nonce was filled by a transfer of nothing"
    );
    assert_eq!(gaps(&pool).await, 0);

    key.set_balance(U256::from(10u128.pow(20))).await;
    key.lands(sender.submit(heavy(), None).await.unwrap()).await;
    assert_eq!(key.count().await, before + 2);

    // A transaction sent with the same key elsewhere, by a wallet reading its own nonce: the
    // next one handed out steps over it.
    let elsewhere = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key.key.clone()))
        .connect_http(w.net.state.base.as_ref().unwrap().rpc_url.parse().unwrap());
    elsewhere
        .send_transaction(heavy())
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    key.lands(sender.submit(heavy(), None).await.unwrap()).await;
    assert_eq!(key.count().await, before + 4);
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_nonce_nothing_could_fill_is_given_back_and_taken_by_the_next_transaction(pool: PgPool) {
    let (_world, key, sender) = setup(&pool).await;
    let before = key.count().await;
    let unsent = sender.prepare(heavy(), None).await.unwrap();
    // No ETH at all: neither it nor its filler can be sent.
    key.set_balance(U256::ZERO).await;
    let sent = sender.send(sender.sign(&unsent).await.unwrap()).await;
    assert!(matches!(sent, Sent::Refused(_)), "{sent:?}");
    assert_eq!(key.count().await, before);
    assert_eq!(gaps(&pool).await, 1, "the nonce was given back");

    key.set_balance(U256::from(10u128.pow(20))).await;
    for _ in 0..2 {
        key.lands(sender.submit(heavy(), None).await.unwrap()).await;
    }
    assert_eq!(
        key.count().await,
        before + 2,
        "the given-back nonce was taken first: nothing waits behind a gap"
    );
    assert_eq!(gaps(&pool).await, 0);
}
