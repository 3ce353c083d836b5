//! Rate limits keyed by who asks (a payer address, a client IP, an API key): `per_minute`
//! requests with bursts of as many. Each process first checks its own allowance (governor's
//! keyed generic-cell limiter, forgetting idle keys once many are held: a flood is refused
//! without touching the database); then the allowance shared by every gateway process on the
//! ledger, one statement per request. A ledger that does not answer leaves the process's own
//! limit in force.

use std::{num::NonZeroU32, time::Duration};

use governor::{
    clock::{Clock, DefaultClock},
    DefaultKeyedRateLimiter, Quota,
};
use ledger::Ledger;

/// Keys held before idle ones are dropped.
const MAX_KEYS: usize = 100_000;

pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    per_minute: u32,
    /// The ledger the allowance is shared in, and the scope of its keys there.
    shared: Option<(Ledger, &'static str)>,
}

impl RateLimiter {
    /// An allowance of this process alone.
    pub fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        RateLimiter {
            limiter: governor::RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
            per_minute: per_minute.get(),
            shared: None,
        }
    }

    /// An allowance shared by every gateway process on `ledger`, its keys under `scope`.
    pub fn shared(per_minute: u32, ledger: Ledger, scope: &'static str) -> Self {
        RateLimiter {
            shared: Some((ledger, scope)),
            ..RateLimiter::new(per_minute)
        }
    }

    /// Takes one request from `key`'s allowance, or says how long until one is available.
    pub async fn take(&self, key: &str) -> Result<(), Duration> {
        if self.limiter.len() > MAX_KEYS {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))?;
        let Some((ledger, scope)) = &self.shared else {
            return Ok(());
        };
        match ledger.take_rate(scope, key, self.per_minute).await {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!(error = %e, scope, "the shared rate limit is unavailable; this process's own applies");
                Ok(())
            }
        }
    }
}
