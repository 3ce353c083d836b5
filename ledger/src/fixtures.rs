//! Rows for tests of the ledger and of what reads it (feature `fixtures`): a USDC payment
//! leg, a completed charge, a buyback. Plain data, written through the real write paths.

use crate::{
    Batch, Chain, Claim, Completion, Ledger, NewCharge, TransferKind, TransferRow, VaultEventKind,
    VaultEventRow,
};

/// Records the addresses the fixtures pay as ours: the Solana treasury `treasury` and the Base
/// treasury `0xtreasury` (both of USDC `usdc`), and each `(model, vault owner)` of `vaults` as
/// a model its catalog sells for `creator`.
pub async fn our_addresses(ledger: &Ledger, vaults: &[(&str, &str)]) {
    for (chain, owner) in [(Chain::Solana, "treasury"), (Chain::Base, "0xtreasury")] {
        ledger
            .record_treasury(chain, owner, "usdc")
            .await
            .expect("record a treasury");
    }
    for (model, vault) in vaults {
        ledger
            .record_model_creator(model, "creator", vault)
            .await
            .expect("record a model's creator");
    }
}

/// A USDC leg of `tx` paying `amount` to `owner` (its token account is `{owner}-usdc`).
pub fn usdc_leg(tx: &str, owner: &str, amount: u64) -> TransferRow {
    TransferRow {
        tx: tx.into(),
        leg: "2".into(),
        block: 7,
        block_hash: None,
        block_time: None,
        tx_index: 0,
        program: "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA".into(),
        kind: TransferKind::TransferChecked,
        mint: "usdc".into(),
        source: Some("agent-usdc".into()),
        source_owner: Some("agent".into()),
        destination: Some(format!("{owner}-usdc")),
        destination_owner: Some(owner.into()),
        authority: Some("agent".into()),
        amount,
        decimals: Some(6),
        success: true,
    }
}

/// A charge of `amount` on `chain` to `pay_to`, settled by `tx` and completed at full cost.
pub async fn completed_charge(
    ledger: &Ledger,
    model: &str,
    chain: Chain,
    tx: &str,
    pay_to: &str,
    amount: u64,
) -> i64 {
    served_charge(ledger, model, chain, tx, pay_to, amount, amount).await
}

/// A charge of `amount` on `chain` to `pay_to`, settled by `tx`, whose call cost
/// `actual_cost`: the rest credited to its payer as a surplus.
pub async fn served_charge(
    ledger: &Ledger,
    model: &str,
    chain: Chain,
    tx: &str,
    pay_to: &str,
    amount: u64,
    actual_cost: u64,
) -> i64 {
    let completion = Completion {
        provider: Some("p".into()),
        prompt_tokens: Some(1),
        completion_tokens: Some(1),
        actual_cost,
        credit: amount - actual_cost,
        credit_reason: crate::CreditReason::Surplus,
    };
    settled_and_completed(
        ledger,
        charge("agent", model, chain, tx, pay_to, amount),
        &completion,
    )
    .await
}

/// A charge of `amount` paid by `payer` on `chain` (settled by `tx`) whose call failed: the
/// whole of it credited to `payer`'s balance.
pub async fn credited(ledger: &Ledger, payer: &str, chain: Chain, tx: &str, amount: u64) -> i64 {
    let completion = Completion::upstream_failed(None, amount);
    settled_and_completed(
        ledger,
        charge(payer, "alpha", chain, tx, "treasury", amount),
        &completion,
    )
    .await
}

fn charge(
    payer: &str,
    model: &str,
    chain: Chain,
    tx: &str,
    pay_to: &str,
    amount: u64,
) -> NewCharge {
    NewCharge {
        quote_id: format!("quote-{tx}"),
        purpose: crate::Purpose::Call,
        model: Some(model.into()),
        payer: payer.into(),
        chain,
        pay_to: pay_to.into(),
        amount,
        settlement_tx: Some(tx.into()),
        eip3009_nonce: None,
        payment_id: None,
    }
}

async fn settled_and_completed(ledger: &Ledger, charge: NewCharge, completion: &Completion) -> i64 {
    let tx = charge.settlement_tx.clone().expect("a settled charge");
    let Claim::New(id) = ledger
        .claim_charge(&charge)
        .await
        .expect("claim the charge")
    else {
        panic!("charge {tx} was already claimed")
    };
    ledger
        .charge_settled(id, &tx)
        .await
        .expect("settle the charge");
    ledger
        .complete_charge(id, completion, None)
        .await
        .expect("complete the charge");
    id
}

/// When the fixtures' slot `slot` happened: 2026-11-01T10:00:00Z plus `slot` minutes.
pub fn slot_time(slot: u64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_761_991_200 + slot as i64 * 60, 0).expect("in range")
}

/// Two successful `buyback_and_burn`s of model `alpha` (mint `alpha-mint`, vault
/// `alpha-vault-usdc` owned by `alpha-vault`): `bb-1` in slot 20 burns 700000, `bb-2` in slot 30 burns 600000; each pays
/// a 50000 USDC fee to `treasury` and swaps 950000 USDC into `pool`.
pub fn two_buybacks(batch: &mut Batch) {
    for (tx, slot, burned) in [("bb-1", 20, 700_000), ("bb-2", 30, 600_000)] {
        let leg =
            |leg: &str, kind: TransferKind, mint: &str, to: Option<&str>, amount| TransferRow {
                leg: leg.into(),
                block: slot,
                block_time: Some(slot_time(slot)),
                kind,
                mint: mint.into(),
                source: Some("alpha-vault-usdc".into()),
                source_owner: Some("alpha-vault".into()),
                destination: to.map(|o| format!("{o}-usdc")),
                destination_owner: to.map(Into::into),
                authority: Some("alpha-vault".into()),
                ..usdc_leg(tx, "", amount)
            };
        batch.transfers.extend([
            leg(
                "0.0",
                TransferKind::TransferChecked,
                "usdc",
                Some("treasury"),
                50_000,
            ),
            leg(
                "0.1",
                TransferKind::TransferChecked,
                "usdc",
                Some("pool"),
                950_000,
            ),
            // burned from the vault's model-token account, not its USDC one
            TransferRow {
                source: Some("alpha-vault-tokens".into()),
                ..leg("0.2", TransferKind::BurnChecked, "alpha-mint", None, burned)
            },
        ]);
        batch.vault_events.push(VaultEventRow {
            signature: tx.into(),
            ix_path: "0".into(),
            slot,
            block_time: Some(slot_time(slot)),
            tx_index: 0,
            kind: VaultEventKind::Buyback,
            model: Some("alpha".into()),
            actor: None,
            usdc_amount: None,
            token_amount: None,
            success: true,
        });
    }
}
