//! Rate limits keyed by who asks (a payer address, a client IP): governor's keyed
//! generic-cell rate limiter, `per_minute` requests with bursts of as many, forgetting idle
//! keys once many are held.

use std::{num::NonZeroU32, time::Duration};

use governor::{
    clock::{Clock, DefaultClock},
    DefaultKeyedRateLimiter, Quota,
};

/// Keys held before idle ones are dropped.
const MAX_KEYS: usize = 100_000;

pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        RateLimiter {
            limiter: governor::RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `key`'s allowance, or says how long until one is available.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        if self.limiter.len() > MAX_KEYS {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}
