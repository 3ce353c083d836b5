use solana_signer::Signer;

use crate::harness::*;

#[tokio::test]
async fn smoke() {
    let mut env = Env::new().await;
    let (_creator, keys) = env.tokenized_model("llama-3-70b", 2_000).await;
    let t = env.trader(&keys, 100 * USDC).await;
    env.buy(&keys, &t, 10 * USDC, 1).await.unwrap();
    assert!(env.balance(&t.tokens).await > 0);
    let _ = t.key.pubkey();
}
