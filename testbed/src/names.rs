//! Names no other test of the run uses.

use std::sync::atomic::{AtomicU32, Ordering};

/// A name no other test of this run uses, for a topic (and the dedup topics
/// and group named after it): tests share one Apache Kafka broker.
pub fn topic(test: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("it.{test}.{}.{n}", std::process::id())
}
