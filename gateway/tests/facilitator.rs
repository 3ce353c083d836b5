//! The built-in facilitator's HTTP API, as another resource server would use it.

use serde_json::Value;
use sqlx::PgPool;
use x402::wire::{self, FacilitatorRequest, SettlementResponse, VerifyResponse};

use crate::support::*;

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn the_facilitator_api_verifies_and_settles_once(pool: PgPool) {
    let w = world(pool, "ok").await;
    let supported: Value = w
        .http
        .get(format!("{}/facilitator/supported", w.gateway))
        .bearer_auth(FACILITATOR_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds = supported["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 2, "{supported}");
    assert_eq!(
        kinds[0]["extra"]["feePayer"],
        w.net.state.solana.facilitator.to_string()
    );
    assert_eq!(
        supported["signers"]["eip155:*"][0],
        w.net.state.base.as_ref().unwrap().facilitator.to_string()
    );

    let body = chat("beta", false);
    for chain in ["solana:", "eip155:"] {
        let requirements = offer(&offers(&w, &body).await, chain);
        let header = if chain == "solana:" {
            solana_header(&w, &requirements).await
        } else {
            base_header(&w, &requirements).await
        };
        let request = FacilitatorRequest {
            x402_version: 2,
            payment_payload: wire::decode_header(&header).unwrap(),
            payment_requirements: requirements.clone(),
        };
        let post = |path: &str, request: &FacilitatorRequest| {
            w.http
                .post(format!("{}/facilitator/{path}", w.gateway))
                .bearer_auth(FACILITATOR_KEY)
                .json(request)
                .send()
        };
        let verify: VerifyResponse = post("verify", &request)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(verify.is_valid, "{chain}: {verify:?}");
        let settle = post("settle", &request).await.unwrap();
        assert_eq!(settle.status(), 200);
        let settle: SettlementResponse = settle.json().await.unwrap();
        assert!(settle.success, "{chain}: {settle:?}");
        assert_eq!(settle.amount.as_deref(), Some(requirements.amount.as_str()));
        let again = post("settle", &request).await.unwrap();
        assert_eq!(again.status(), 400, "{chain}: a payment settles once");
        let again: SettlementResponse = again.json().await.unwrap();
        assert!(!again.success);

        let mut mismatched = request.clone();
        mismatched.payment_requirements.amount = "1".into();
        let verify: VerifyResponse = post("verify", &mismatched)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            verify.invalid_reason.as_deref(),
            Some("invalid_payment_requirements")
        );
    }
}

#[sqlx::test(migrator = "ledger::MIGRATOR")]
async fn a_gateway_can_settle_through_a_remote_facilitator(pool: PgPool) {
    let w = world(pool.clone(), "ok").await;
    // A second gateway with no keys of its own, using the first as its facilitator.
    let (upstream, _) = mock_upstream().await;
    let mut remote = config(&w.net, &upstream, "ok");
    remote.facilitator_url = Some(format!("{}/facilitator", w.gateway));
    remote.solana.as_mut().unwrap().fee_payer_keypair = None;
    remote.base.as_mut().unwrap().facilitator_private_key = None;
    let (gateway, _) = serve(&remote, &pool).await;
    let own_api = w
        .http
        .get(format!("{gateway}/facilitator/supported"))
        .send()
        .await
        .unwrap();
    assert_eq!(own_api.status(), 404, "it is not a facilitator itself");

    let body = chat("beta", false);
    for chain in ["solana:", "eip155:"] {
        let requirements = offer(&offers_from(&w, &gateway, &body).await, chain);
        if chain == "solana:" {
            assert_eq!(
                requirements.extra_str("feePayer"),
                Some(w.net.state.solana.facilitator.to_string().as_str()),
                "the remote's fee payer"
            );
        }
        let header = if chain == "solana:" {
            solana_header(&w, &requirements).await
        } else {
            base_header(&w, &requirements).await
        };
        let response = expect_status(pay_at(&w, &gateway, &body, &header).await, 200).await;
        let settlement: SettlementResponse =
            wire::decode_header(response.headers()[wire::PAYMENT_RESPONSE].to_str().unwrap())
                .unwrap();
        assert!(settlement.success && !settlement.transaction.is_empty());
        let replay = pay_at(&w, &gateway, &body, &header).await;
        assert_eq!(replay.status(), 402, "{chain}: a payment is accepted once");
    }
    let charges = charges(&w.pool).await;
    assert_eq!(charges.len(), 2);
    assert!(charges
        .iter()
        .all(|c| c.status == "completed" && c.settlement_tx.is_some()));
}
