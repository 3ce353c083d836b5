//! One active writer per follower (a cursor): the others stand by. A lease is a Postgres
//! advisory lock held on a connection of its own — Postgres releases it when that connection
//! ends, however the process ended — and an epoch, bumped by each new holder, that every write
//! of the holder checks inside its transaction (`FOR SHARE`, so a new holder's bump waits for
//! writes in flight): a process that lost its lease while it ran on can no longer write.

use std::sync::Arc;

use sqlx::{Connection, PgConnection, Postgres, Transaction};

use crate::{Ledger, LedgerError};

/// A lease held: dropping it (or its process dying) releases it.
pub struct Lease {
    connection: PgConnection,
    fence: Arc<Fence>,
}

/// What a leased ledger's writes check.
#[derive(Debug)]
pub(crate) struct Fence {
    name: String,
    epoch: i64,
}

impl Ledger {
    /// The lease `name` for `holder` (shown to operators), if no other process holds it.
    pub async fn try_lease(&self, name: &str, holder: &str) -> Result<Option<Lease>, LedgerError> {
        let mut pooled = self.pool().acquire().await?;
        let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(format!("paywire.lease.{name}"))
            .fetch_one(&mut *pooled)
            .await?;
        if !held {
            return Ok(None);
        }
        // The lock is this connection's now: it leaves the pool, and goes when it goes.
        let mut connection = pooled.detach();
        // A holder whose host dies (no FIN, no RST) is noticed in about 30 s, not the kernel's
        // two hours: the lock is released then.
        for setting in [
            "SET tcp_keepalives_idle = 10",
            "SET tcp_keepalives_interval = 5",
            "SET tcp_keepalives_count = 3",
            "SET tcp_user_timeout = 30000",
        ] {
            sqlx::query(setting).execute(&mut connection).await?;
        }
        let epoch: i64 = sqlx::query_scalar(
            "INSERT INTO ledger.leases (name, epoch, holder) VALUES ($1, 1, $2)
             ON CONFLICT (name) DO UPDATE
             SET epoch = ledger.leases.epoch + 1, holder = EXCLUDED.holder, since = now()
             RETURNING epoch",
        )
        .bind(name)
        .bind(holder)
        .fetch_one(&mut connection)
        .await?;
        Ok(Some(Lease {
            connection,
            fence: Arc::new(Fence {
                name: name.to_string(),
                epoch,
            }),
        }))
    }

    /// Who holds the lease `name` now (or last did), and since when.
    pub async fn lease_holder(
        &self,
        name: &str,
    ) -> Result<Option<(String, i64, chrono::DateTime<chrono::Utc>)>, LedgerError> {
        Ok(
            sqlx::query_as("SELECT holder, epoch, since FROM ledger.leases WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// This ledger, whose follower writes go through only while `lease` is the newest of its
    /// name.
    pub fn fenced(&self, lease: &Lease) -> Ledger {
        Ledger {
            fence: Some(lease.fence.clone()),
            ..self.clone()
        }
    }

    /// Inside a write's transaction: refused if this ledger is fenced by a lease that is no
    /// longer the newest.
    pub(crate) async fn check_fence(
        &self,
        tx: &mut Transaction<'_, Postgres>,
    ) -> Result<(), LedgerError> {
        let Some(fence) = &self.fence else {
            return Ok(());
        };
        let epoch: Option<i64> =
            sqlx::query_scalar("SELECT epoch FROM ledger.leases WHERE name = $1 FOR SHARE")
                .bind(&fence.name)
                .fetch_optional(&mut **tx)
                .await?;
        if epoch != Some(fence.epoch) {
            return Err(LedgerError::LeaseLost(fence.name.clone()));
        }
        Ok(())
    }
}

impl Lease {
    pub fn epoch(&self) -> i64 {
        self.fence.epoch
    }

    /// Returns once the lease is lost: its connection no longer answers within 5 s (checked
    /// every second).
    pub async fn lost(&mut self) {
        use std::time::Duration;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.connection.ping()).await {
                Ok(Ok(())) => tokio::time::sleep(Duration::from_secs(1)).await,
                _ => return,
            }
        }
    }
}
