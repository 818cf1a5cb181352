//! The dedup topic's record format: what one replica tells the others, and
//! its own future self, about an accepted event.
//!
//! The key is `source/event-id`, readable with any Kafka tool and the unit of
//! compaction: the topic keeps the latest record per event. Source names hold
//! no `/`, so the key splits unambiguously, and [`IdHash`] is a hash of
//! exactly these bytes. The value is small and binary, versioned by its first
//! byte, and carries that hash too, so a replay loads ids without hashing:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version, 1 |
//! | 8 | first seen, Unix milliseconds, big-endian |
//! | 16 | the id hash |
//! | 4 | partition the event landed in, big-endian |
//! | 8 | offset the event landed at, big-endian |
//! | 1 | length of the topic name |
//! | n | topic name, UTF-8 |

use super::IdHash;
use crate::event::EventId;
use crate::source::SourceName;

const VERSION: u8 = 1;
const FIXED_LEN: usize = 1 + 8 + 16 + 4 + 8 + 1;

/// The record key of an event: `source/event-id`.
pub fn key(source: &SourceName, id: &EventId) -> Vec<u8> {
    let mut key = Vec::with_capacity(source.as_str().len() + 1 + id.as_str().len());
    key.extend_from_slice(source.as_str().as_bytes());
    key.push(b'/');
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

/// Where and when an accepted event landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Landed<'a> {
    pub first_seen_ms: u64,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

impl<'a> Landed<'a> {
    /// The record value for the event whose key hashes to `id`.
    pub fn encode(&self, id: &IdHash) -> Vec<u8> {
        // Kafka topic names are at most 249 bytes; config validation checks it.
        let topic = &self.topic.as_bytes()[..self.topic.len().min(usize::from(u8::MAX))];
        let mut value = Vec::with_capacity(FIXED_LEN + topic.len());
        value.push(VERSION);
        value.extend_from_slice(&self.first_seen_ms.to_be_bytes());
        value.extend_from_slice(&id.0);
        value.extend_from_slice(&self.partition.to_be_bytes());
        value.extend_from_slice(&self.offset.to_be_bytes());
        value.push(topic.len() as u8);
        value.extend_from_slice(topic);
        value
    }

    /// The id hash and when the event was first seen, without decoding the
    /// rest: all that a replay needs, at a million records a second.
    pub fn id_and_first_seen_ms(value: &[u8]) -> Result<(IdHash, u64), RecordError> {
        check(value)?;
        Ok((
            IdHash(array(&value[9..25])),
            u64::from_be_bytes(array(&value[1..9])),
        ))
    }

    pub fn decode(value: &'a [u8]) -> Result<(IdHash, Self), RecordError> {
        let (id, first_seen_ms) = Self::id_and_first_seen_ms(value)?;
        let topic = std::str::from_utf8(&value[FIXED_LEN..]).map_err(|_| RecordError::BadTopic)?;
        Ok((
            id,
            Self {
                first_seen_ms,
                topic,
                partition: i32::from_be_bytes(array(&value[25..29])),
                offset: i64::from_be_bytes(array(&value[29..37])),
            },
        ))
    }
}

/// A fixed-size field; `check` has made sure the bytes are there.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut array = [0u8; N];
    array.copy_from_slice(&bytes[..N]);
    array
}

/// Checks the framing: version and lengths.
fn check(value: &[u8]) -> Result<(), RecordError> {
    match value.first() {
        None => return Err(RecordError::Empty),
        Some(&VERSION) => {}
        Some(&other) => return Err(RecordError::UnknownVersion(other)),
    }
    if value.len() < FIXED_LEN || value.len() != FIXED_LEN + usize::from(value[FIXED_LEN - 1]) {
        return Err(RecordError::BadLength(value.len()));
    }
    Ok(())
}

/// Why a dedup record cannot be read. Such a record is skipped, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("the value is empty")]
    Empty,
    #[error("unknown record version {0} (this hookgate writes version {VERSION})")]
    UnknownVersion(u8),
    #[error("a version-1 value cannot be {0} bytes long")]
    BadLength(usize),
    #[error("the topic name is not UTF-8")]
    BadTopic,
    #[error("the key is not `source/event-id`")]
    BadKey,
}

/// Checks a key has the `source/event-id` shape.
pub fn check_key(key: Option<&[u8]>) -> Result<&[u8], RecordError> {
    match key {
        Some(key)
            if key
                .iter()
                .position(|&b| b == b'/')
                .is_some_and(|at| at > 0 && at + 1 < key.len()) =>
        {
            Ok(key)
        }
        _ => Err(RecordError::BadKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn landed() -> Landed<'static> {
        Landed {
            first_seen_ms: 1_763_800_000_123,
            topic: "webhooks.github",
            partition: 3,
            offset: 4_000_000_001,
        }
    }

    fn id() -> IdHash {
        IdHash::of_key(b"github/evt-1")
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let value = landed().encode(&id());
        assert_eq!(value.len(), FIXED_LEN + "webhooks.github".len());
        assert_eq!(Landed::decode(&value), Ok((id(), landed())));
        assert_eq!(
            Landed::id_and_first_seen_ms(&value),
            Ok((id(), 1_763_800_000_123))
        );
    }

    #[test]
    fn the_key_is_source_slash_id() {
        let key = key(
            &SourceName::new("github"),
            &EventId::new("a/b").expect("id"),
        );
        assert_eq!(key, b"github/a/b");
        assert_eq!(check_key(Some(&key)), Ok(&key[..]));
        for bad in [&b"github"[..], b"/id", b"github/", b""] {
            assert_eq!(check_key(Some(bad)), Err(RecordError::BadKey), "{bad:?}");
        }
        assert_eq!(check_key(None), Err(RecordError::BadKey));
    }

    #[test]
    fn damaged_values_are_refused_not_misread() {
        let value = landed().encode(&id());
        assert_eq!(Landed::decode(&[]), Err(RecordError::Empty));
        let mut future = value.clone();
        future[0] = 2;
        assert_eq!(Landed::decode(&future), Err(RecordError::UnknownVersion(2)));
        for len in [1, FIXED_LEN - 1, FIXED_LEN, value.len() - 1] {
            assert_eq!(
                Landed::decode(&value[..len]),
                Err(RecordError::BadLength(len))
            );
        }
        let mut longer = value.clone();
        longer.push(b'x');
        assert_eq!(
            Landed::decode(&longer),
            Err(RecordError::BadLength(value.len() + 1))
        );
        let mut not_utf8 = value;
        let last = not_utf8.len() - 1;
        not_utf8[last] = 0xff;
        assert_eq!(Landed::decode(&not_utf8), Err(RecordError::BadTopic));
    }
}
