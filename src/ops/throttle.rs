//! Keeps a warning that can repeat thousands of times a second (a Kafka outage
//! failing every record) to one log line every few seconds, with a count of
//! those left out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lets one event through per period.
#[derive(Debug)]
pub(crate) struct Throttle {
    started: Instant,
    period: Duration,
    /// Milliseconds since `started` when the next event may pass.
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::every(Duration::from_secs(10))
    }
}

impl Throttle {
    pub(crate) fn every(period: Duration) -> Self {
        Self {
            started: Instant::now(),
            period,
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this event should be logged, `n` being how many were
    /// held back since the last one; `None` when it should not.
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        let period = u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX);
        if now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now.saturating_add(period),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_period_passes_with_the_count_held_back() {
        // Long enough that a preempted test thread still makes its first three
        // calls within one period.
        let throttle = Throttle::every(Duration::from_millis(300));
        assert_eq!(throttle.allow(), Some(0));
        assert_eq!(throttle.allow(), None);
        assert_eq!(throttle.allow(), None);
        std::thread::sleep(Duration::from_millis(320));
        assert_eq!(throttle.allow(), Some(2));
    }
}
