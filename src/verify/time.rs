//! Timestamp tolerance for schemes that sign a timestamp: a delivery signed
//! too long ago, or too far ahead of our clock, is refused as stale.

use super::VerifyError;

/// Parses a Unix timestamp in seconds and checks it lies within `tolerance` of
/// `now`, in either direction (a clock ahead of ours is as suspect as one behind).
pub(super) fn check_timestamp(
    raw: &[u8],
    now: i64,
    tolerance: u64,
    label: &'static str,
) -> Result<(), VerifyError> {
    check_stamp(raw, 1, now, tolerance, label)
}

/// As [`check_timestamp`], for a timestamp in milliseconds (HubSpot's).
pub(super) fn check_timestamp_millis(
    raw: &[u8],
    now: i64,
    tolerance: u64,
    label: &'static str,
) -> Result<(), VerifyError> {
    check_stamp(raw, 1000, now, tolerance, label)
}

/// A timestamp counted in `1 / per_second` seconds, within `tolerance`
/// seconds of `now` (seconds).
fn check_stamp(
    raw: &[u8],
    per_second: u32,
    now: i64,
    tolerance: u64,
    label: &'static str,
) -> Result<(), VerifyError> {
    let malformed = VerifyError::MalformedHeader(label);
    // Twelve digits of seconds reach the year 33658; more is not a clock.
    let max_digits = 12 + per_second.ilog10() as usize;
    if raw.is_empty() || raw.len() > max_digits || !raw.iter().all(u8::is_ascii_digit) {
        return Err(malformed);
    }
    let stamp: i64 = std::str::from_utf8(raw)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(malformed)?;
    let per_second = i64::from(per_second);
    if now.saturating_mul(per_second).abs_diff(stamp) > tolerance.saturating_mul(per_second as u64)
    {
        return Err(VerifyError::StaleTimestamp);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_checked_both_ways() {
        assert_eq!(check_timestamp(b"1000", 1300, 300, "T"), Ok(()));
        assert_eq!(check_timestamp(b"1600", 1300, 300, "T"), Ok(()));
        assert_eq!(
            check_timestamp(b"999", 1300, 300, "T"),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check_timestamp(b"1601", 1300, 300, "T"),
            Err(VerifyError::StaleTimestamp)
        );
        for bad in [&b""[..], b"-5", b"12a", b"1e3", b"9999999999999"] {
            assert_eq!(
                check_timestamp(bad, 1300, 300, "T"),
                Err(VerifyError::MalformedHeader("T"))
            );
        }
    }
}
