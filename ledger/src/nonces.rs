//! Transaction nonces of a key shared by several gateway processes, handed out here so they
//! can all send at once: one short statement per transaction instead of a turn that spans the
//! node's round trips.

use crate::{Chain, Ledger, LedgerError};

impl Ledger {
    /// A nonce for `signer`'s next transaction on `chain`, never handed out before unless it
    /// was given back ([`Ledger::nonce_unused`]): the lowest given-back one still ahead of
    /// `mined` (the key's transaction count on chain, so a gap something else filled is
    /// dropped), else the next one — at least `mined`, so transactions sent with this key
    /// elsewhere are skipped.
    pub async fn take_nonce(
        &self,
        chain: Chain,
        signer: &str,
        mined: u64,
    ) -> Result<u64, LedgerError> {
        // One statement, so the sequence's row is locked only inside the server; and its
        // commit is not waited for on disk: a nonce forgotten in a crash is handed out again
        // and found used (the sender signs again), never sent twice.
        let nonce: i64 = sqlx::query_scalar(
            "WITH dropped AS (
                 DELETE FROM ledger.nonce_gaps WHERE chain = $1 AND signer = $2 AND nonce < $3),
             gap AS (
                 DELETE FROM ledger.nonce_gaps WHERE (chain, signer, nonce) = (
                     SELECT chain, signer, nonce FROM ledger.nonce_gaps
                     WHERE chain = $1 AND signer = $2 AND nonce >= $3
                     ORDER BY nonce LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING nonce),
             fresh AS (
                 INSERT INTO ledger.signer_nonces AS n (chain, signer, next)
                 SELECT $1, $2, $3 + 1 WHERE NOT EXISTS (SELECT 1 FROM gap)
                 ON CONFLICT (chain, signer) DO UPDATE SET next = GREATEST(n.next, $3) + 1
                 RETURNING next - 1 AS nonce)
             SELECT nonce FROM gap UNION ALL SELECT nonce FROM fresh",
        )
        .bind(chain)
        .bind(signer)
        .bind(nonce_in_db(mined)?)
        .fetch_one(self.calls())
        .await?;
        Ok(nonce as u64)
    }

    /// Gives back a nonce from [`Ledger::take_nonce`] whose transaction the node refused and
    /// nothing filled: the next transaction takes it.
    pub async fn nonce_unused(
        &self,
        chain: Chain,
        signer: &str,
        nonce: u64,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO ledger.nonce_gaps (chain, signer, nonce) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(chain)
        .bind(signer)
        .bind(nonce_in_db(nonce)?)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

fn nonce_in_db(nonce: u64) -> Result<i64, LedgerError> {
    i64::try_from(nonce)
        .map_err(|_| LedgerError::Conflict(format!("nonce {nonce} is out of range")))
}
