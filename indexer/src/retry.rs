//! How long a follower waits after a failure before it tries again: 100 ms, doubling, at most
//! 5 s, for as long as it keeps failing; a success starts the count again.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// The waits after consecutive failures.
pub struct Retry(ExponentialBackoff);

impl Default for Retry {
    fn default() -> Self {
        Retry(
            ExponentialBuilder::new()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(5))
                .without_max_times()
                .build(),
        )
    }
}

impl Retry {
    /// The wait before the next try.
    pub fn next_wait(&mut self) -> Duration {
        self.0.next().unwrap_or(Duration::from_secs(5))
    }

    /// A try succeeded: the next failure waits the shortest again.
    pub fn reset(&mut self) {
        *self = Retry::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_five_seconds_and_start_again_after_a_success() {
        let mut retry = Retry::default();
        let waits: Vec<u64> = (0..9)
            .map(|_| retry.next_wait().as_millis() as u64)
            .collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000, 5_000]
        );
        retry.reset();
        assert_eq!(retry.next_wait(), Duration::from_millis(100));
    }
}
