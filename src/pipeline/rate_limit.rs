//! Per-source rate limits on correctly signed deliveries: a burst from one
//! source gets 429 with `Retry-After` instead of filling the producer queue
//! that every source shares. Checked after the signature, so that unsigned
//! requests cannot use up the provider's bucket. The algorithm (GCRA) and its
//! clock are governor's.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

/// `[sources.rate_limit]`.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests a second, sustained.
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate; `per_second` if unset.
    pub burst: Option<u32>,
}

impl RateLimitConfig {
    /// Every problem, as (field, message) below `[sources.rate_limit]`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.per_second == 0 {
            problems.push(("per_second", "must be at least 1".to_owned()));
        }
        if self.burst == Some(0) {
            problems.push(("burst", "must be at least 1".to_owned()));
        }
        problems
    }
}

/// One source's limiter.
#[derive(Debug)]
pub struct RateLimit {
    config: RateLimitConfig,
    limiter: DefaultDirectRateLimiter,
    clock: DefaultClock,
}

impl RateLimit {
    /// `None` for a config that [`RateLimitConfig::problems`] refuses.
    pub fn new(config: &RateLimitConfig) -> Option<Self> {
        let per_second = NonZeroU32::new(config.per_second)?;
        let burst = NonZeroU32::new(config.burst.unwrap_or(config.per_second))?;
        let clock = DefaultClock::default();
        Some(Self {
            config: *config,
            limiter: RateLimiter::direct_with_clock(
                Quota::per_second(per_second).allow_burst(burst),
                clock.clone(),
            ),
            clock,
        })
    }

    /// What it was made from: a reload keeps a limiter whose settings did
    /// not change, with what it has counted.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// `Ok` if this request may go on, else how long until one may.
    pub fn check(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rest_wait() {
        let limit = RateLimit::new(&RateLimitConfig {
            per_second: 1,
            burst: Some(3),
        })
        .expect("valid");
        assert!((0..3).all(|_| limit.check().is_ok()));
        let wait = limit.check().expect_err("over the burst");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
    }

    #[test]
    fn zero_is_refused() {
        let zero = RateLimitConfig {
            per_second: 0,
            burst: Some(0),
        };
        assert!(RateLimit::new(&zero).is_none());
        assert_eq!(
            zero.problems().iter().map(|p| p.0).collect::<Vec<_>>(),
            ["per_second", "burst"]
        );
    }
}
