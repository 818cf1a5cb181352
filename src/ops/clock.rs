//! Wall-clock time as providers and Kafka write it: Unix seconds and
//! milliseconds. A clock before 1970 reads as 0 rather than failing a request.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as signature timestamps count them.
pub fn unix_seconds(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Milliseconds since the Unix epoch, as Kafka record timestamps count them.
pub fn unix_millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// [`unix_seconds`] of now.
pub fn now_seconds() -> i64 {
    unix_seconds(SystemTime::now())
}
