//! Request limits shared by every gateway process (GCRA, one statement per request): `per_minute`
//! requests a minute per key, in bursts of as many.

use std::time::Duration;

use crate::{Ledger, LedgerError};

impl Ledger {
    /// Takes one request from `key`'s allowance in `scope` (`per_minute` a minute, bursts of as
    /// many); `Err` says how long until one is available.
    pub async fn take_rate(
        &self,
        scope: &str,
        key: &str,
        per_minute: u32,
    ) -> Result<Result<(), Duration>, LedgerError> {
        let per_minute = per_minute.max(1);
        // Each request moves the key's theoretical arrival time one interval on; one arriving
        // more than a burst's worth of intervals early is refused.
        let interval = 60.0 / f64::from(per_minute);
        let tolerance = interval * f64::from(per_minute - 1);
        let taken: Option<i32> = sqlx::query_scalar(
            "INSERT INTO ledger.rate_limits AS r (scope, key, tat)
             VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))
             ON CONFLICT (scope, key) DO UPDATE
             SET tat = GREATEST(r.tat, clock_timestamp()) + make_interval(secs => $3)
             WHERE GREATEST(r.tat, clock_timestamp()) <= clock_timestamp() + make_interval(secs => $4)
             RETURNING 1",
        )
        .bind(scope)
        .bind(key)
        .bind(interval)
        .bind(tolerance)
        .fetch_optional(self.pool())
        .await?;
        if taken.is_some() {
            return Ok(Ok(()));
        }
        let wait: f64 = sqlx::query_scalar(
            "SELECT greatest(extract(epoch FROM tat - clock_timestamp())::float8 - $3, 0)
             FROM ledger.rate_limits WHERE scope = $1 AND key = $2",
        )
        .bind(scope)
        .bind(key)
        .bind(tolerance)
        .fetch_optional(self.pool())
        .await?
        .unwrap_or(interval);
        Ok(Err(Duration::from_secs_f64(wait)))
    }

    /// Forgets the keys whose whole burst is back (their time has passed): the same as never
    /// seen. Returns how many.
    pub async fn forget_rate_limits(&self) -> Result<u64, LedgerError> {
        Ok(
            sqlx::query("DELETE FROM ledger.rate_limits WHERE tat < clock_timestamp()")
                .execute(self.pool())
                .await?
                .rows_affected(),
        )
    }
}
