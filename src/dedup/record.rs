//! The dedup topic's record format: what a partition's dedup stage tells
//! the partition's next owner about the events it published.
//!
//! Ids are group-committed: one record carries the ids of one batch of the
//! [`stage`](super::stage) in one partition, so producing, storing and
//! loading the topic cost per batch, not per event. Every record has a
//! key of its own (`ids/<writer>/<sequence>`), because a compacted topic keeps
//! only the newest record of a key and refuses records without one; ids age
//! out with the topic's `retention.ms`, which is the dedup window.
//!
//! The value is binary and starts with its kind:
//!
//! | kind | key | value after the kind byte |
//! |---|---|---|
//! | 2, ids | `ids/<writer>/<sequence>` | count (u32), then per id: the 16-byte [`IdHash`], first seen (u32 Unix seconds) |
//! | 3, replay marker | `replay/<writer>/<partition>` | the 16-byte nonce of one start-up's replay |
//! | 1, one id (older hookgate) | `source/event-id` | first seen (u64 ms), the id hash, where the event landed |
//!
//! Integers are big-endian. Kind 1 is what hookgate wrote before group
//! commit: it is still read, so a topic written by an older replica keeps its
//! ids through an upgrade, and never written.

use super::IdHash;
use crate::pipeline::locate::EventId;
use crate::pipeline::source::SourceName;

const KIND_ONE_ID: u8 = 1;
const KIND_IDS: u8 = 2;
const KIND_MARKER: u8 = 3;

/// Bytes one id takes in a kind-2 record: its hash and its first-seen second.
pub const BYTES_PER_ID: usize = 16 + 4;
/// Ids one record carries at most: 160 KiB, well under Kafka's default
/// `message.max.bytes` of 1 MiB.
pub const MAX_IDS_PER_RECORD: usize = 8192;
/// The fixed part of a kind-1 value, before the topic name.
const ONE_ID_FIXED_LEN: usize = 1 + 8 + 16 + 4 + 8 + 1;

/// The `source/event-id` string that [`IdHash::of`] hashes.
pub fn key(source: &SourceName, id: &EventId) -> Vec<u8> {
    let mut key = Vec::with_capacity(source.as_str().len() + 1 + id.as_str().len());
    key.extend_from_slice(source.as_str().as_bytes());
    key.push(b'/');
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

/// Who wrote a record: a random id each replica draws at start-up, so keys
/// never collide across replicas or restarts, and a replica can tell its own
/// records from the others'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterId(u64);

impl WriterId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(random_u64())
    }

    /// The key of this writer's `sequence`-th id record.
    pub fn ids_key(self, sequence: u64) -> String {
        format!("ids/{:016x}/{sequence}", self.0)
    }

    /// The key of this writer's replay marker on `partition`.
    pub fn marker_key(self, partition: i32) -> String {
        format!("replay/{:016x}/{partition}", self.0)
    }

    /// The partition, of `partitions`, that this writer's id records go to:
    /// one, so that a batch of them is one produce request, and a different
    /// one for each replica, likely, so that replicas spread over the topic.
    pub fn partition(self, partitions: usize) -> i32 {
        let partitions = partitions.max(1) as u64;
        i32::try_from(self.0 % partitions).unwrap_or(0)
    }

    /// Whether `key` is one of this writer's id records.
    pub fn wrote(self, key: Option<&[u8]>) -> bool {
        let mut prefix = [0u8; 21];
        prefix[..4].copy_from_slice(b"ids/");
        hex::encode_to_slice(self.0.to_be_bytes(), &mut prefix[4..20]).ok();
        prefix[20] = b'/';
        key.is_some_and(|key| key.starts_with(&prefix))
    }
}

/// 64 random bits. `RandomState` is seeded from the operating system's
/// randomness; mixing in the clock and the process id guards against a weak seed.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// A random nonce that tells one replay's markers from every other's.
pub fn random_nonce() -> [u8; 16] {
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&random_u64().to_ne_bytes());
    nonce[8..].copy_from_slice(&random_u64().to_ne_bytes());
    nonce
}

/// The value of a record carrying `ids`, each with its first-seen second.
pub fn encode_ids(ids: &[(IdHash, u32)]) -> Vec<u8> {
    let count = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    let mut value = Vec::with_capacity(5 + ids.len() * BYTES_PER_ID);
    value.push(KIND_IDS);
    value.extend_from_slice(&count.to_be_bytes());
    for (id, first_seen) in ids.iter().take(count as usize) {
        value.extend_from_slice(&id.0);
        value.extend_from_slice(&first_seen.to_be_bytes());
    }
    value
}

/// The value of a replay marker.
pub fn encode_marker(nonce: &[u8; 16]) -> Vec<u8> {
    let mut value = Vec::with_capacity(17);
    value.push(KIND_MARKER);
    value.extend_from_slice(nonce);
    value
}

/// What a record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content<'a> {
    /// Ids accepted, with their first-seen seconds.
    Ids(Ids<'a>),
    /// A replica's replay marker: it has read the partition once it reads this.
    Marker([u8; 16]),
    /// A tombstone (no value): nothing to learn.
    Nothing,
}

/// The ids of one record, read without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids<'a> {
    /// Whole `BYTES_PER_ID` entries of a kind-2 value.
    packed: &'a [u8],
    /// The id of a kind-1 value.
    single: Option<(IdHash, u32)>,
}

impl Ids<'_> {
    pub fn len(&self) -> usize {
        self.packed.len() / BYTES_PER_ID + usize::from(self.single.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Iterator for Ids<'_> {
    type Item = (IdHash, u32);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(single) = self.single.take() {
            return Some(single);
        }
        let (entry, rest) = self.packed.split_first_chunk::<BYTES_PER_ID>()?;
        self.packed = rest;
        let (hash, first_seen) = entry.split_first_chunk::<16>()?;
        let first_seen = first_seen.first_chunk::<4>()?;
        Some((IdHash(*hash), u32::from_be_bytes(*first_seen)))
    }
}

/// Reads one record of the dedup topic.
pub fn parse<'a>(key: Option<&[u8]>, value: Option<&'a [u8]>) -> Result<Content<'a>, RecordError> {
    let Some(value) = value else {
        return Ok(Content::Nothing);
    };
    let Some((&kind, rest)) = value.split_first() else {
        return Err(RecordError::Empty);
    };
    match kind {
        KIND_IDS => {
            let (count, packed) = rest
                .split_first_chunk::<4>()
                .ok_or(RecordError::BadLength(value.len()))?;
            let count = u32::from_be_bytes(*count) as usize;
            if packed.len() != count.saturating_mul(BYTES_PER_ID) {
                return Err(RecordError::BadLength(value.len()));
            }
            Ok(Content::Ids(Ids {
                packed,
                single: None,
            }))
        }
        KIND_MARKER => rest
            .try_into()
            .map(Content::Marker)
            .map_err(|_| RecordError::BadLength(value.len())),
        KIND_ONE_ID => {
            check_one_id_key(key)?;
            if value.len() < ONE_ID_FIXED_LEN
                || value.len() != ONE_ID_FIXED_LEN + usize::from(value[ONE_ID_FIXED_LEN - 1])
            {
                return Err(RecordError::BadLength(value.len()));
            }
            let first_seen_ms = u64::from_be_bytes(array(&value[1..9]));
            let first_seen = u32::try_from(first_seen_ms / 1000).unwrap_or(u32::MAX);
            Ok(Content::Ids(Ids {
                packed: &[],
                single: Some((IdHash(array(&value[9..25])), first_seen)),
            }))
        }
        other => Err(RecordError::UnknownKind(other)),
    }
}

/// A fixed-size field whose bytes the caller has checked are there.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut array = [0u8; N];
    array.copy_from_slice(&bytes[..N]);
    array
}

/// Checks a kind-1 key has the `source/event-id` shape.
fn check_one_id_key(key: Option<&[u8]>) -> Result<(), RecordError> {
    match key {
        Some(key)
            if key
                .iter()
                .position(|&b| b == b'/')
                .is_some_and(|at| at > 0 && at + 1 < key.len()) =>
        {
            Ok(())
        }
        _ => Err(RecordError::BadKey),
    }
}

/// Why a dedup record cannot be read. Such a record is skipped, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("the value is empty")]
    Empty,
    #[error("unknown record kind {0} (this hookgate reads kinds 1 to 3)")]
    UnknownKind(u8),
    #[error("a value of its kind cannot be {0} bytes long")]
    BadLength(usize),
    #[error("the key of a single-id record is not `source/event-id`")]
    BadKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> IdHash {
        IdHash::of_key(&[b'g', b'/', n])
    }

    /// A kind-1 value as older hookgate wrote it.
    fn one_id_value(id: IdHash, first_seen_ms: u64, topic: &str) -> Vec<u8> {
        let mut value = vec![KIND_ONE_ID];
        value.extend_from_slice(&first_seen_ms.to_be_bytes());
        value.extend_from_slice(&id.0);
        value.extend_from_slice(&3i32.to_be_bytes());
        value.extend_from_slice(&7i64.to_be_bytes());
        value.push(topic.len() as u8);
        value.extend_from_slice(topic.as_bytes());
        value
    }

    #[test]
    fn ids_read_back_as_written() {
        let ids = [(id(1), 1_763_800_000), (id(2), 1_763_800_001)];
        let value = encode_ids(&ids);
        assert_eq!(value.len(), 5 + 2 * BYTES_PER_ID);
        let Ok(Content::Ids(read)) = parse(Some(b"ids/x/0"), Some(&value)) else {
            panic!("ids")
        };
        assert_eq!(read.len(), 2);
        assert_eq!(read.collect::<Vec<_>>(), ids);
        let empty = encode_ids(&[]);
        let Ok(Content::Ids(none)) = parse(Some(b"ids/x/1"), Some(&empty)) else {
            panic!("ids")
        };
        assert!(none.is_empty());
    }

    #[test]
    fn records_of_older_hookgate_are_still_read() {
        let value = one_id_value(id(9), 1_763_800_000_123, "webhooks.github");
        let Ok(Content::Ids(read)) = parse(Some(b"github/evt-1"), Some(&value)) else {
            panic!("one id")
        };
        assert_eq!(read.collect::<Vec<_>>(), [(id(9), 1_763_800_000)]);
        for bad in [&b"github"[..], b"/id", b"github/", b""] {
            assert_eq!(parse(Some(bad), Some(&value)), Err(RecordError::BadKey));
        }
        assert_eq!(parse(None, Some(&value)), Err(RecordError::BadKey));
    }

    #[test]
    fn markers_and_tombstones() {
        let nonce = [7u8; 16];
        assert_eq!(
            parse(Some(b"replay/x/0"), Some(&encode_marker(&nonce))),
            Ok(Content::Marker(nonce))
        );
        assert_eq!(parse(Some(b"ids/x/0"), None), Ok(Content::Nothing));
    }

    #[test]
    fn damaged_values_are_refused_not_misread() {
        assert_eq!(parse(None, Some(&[])), Err(RecordError::Empty));
        assert_eq!(
            parse(None, Some(b"\x09abc")),
            Err(RecordError::UnknownKind(9))
        );
        let ids = encode_ids(&[(id(1), 1)]);
        for len in [1, 4, ids.len() - 1] {
            assert_eq!(
                parse(None, Some(&ids[..len])),
                Err(RecordError::BadLength(len))
            );
        }
        let mut longer = ids.clone();
        longer.push(0);
        assert_eq!(
            parse(None, Some(&longer)),
            Err(RecordError::BadLength(longer.len()))
        );
        let mut huge_count = ids;
        huge_count[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            parse(None, Some(&huge_count)),
            Err(RecordError::BadLength(_))
        ));
        assert_eq!(
            parse(None, Some(&[KIND_MARKER, 1, 2])),
            Err(RecordError::BadLength(3))
        );
        let one = one_id_value(id(1), 0, "t");
        for len in [1, ONE_ID_FIXED_LEN - 1, ONE_ID_FIXED_LEN, one.len() - 1] {
            assert_eq!(
                parse(Some(b"g/1"), Some(&one[..len])),
                Err(RecordError::BadLength(len))
            );
        }
    }

    #[test]
    fn a_writer_knows_its_own_records() {
        let writer = WriterId(0xabc);
        let other = WriterId(0xabd);
        let key = writer.ids_key(42);
        assert_eq!(key, "ids/0000000000000abc/42");
        assert!(writer.wrote(Some(key.as_bytes())));
        assert!(!other.wrote(Some(key.as_bytes())));
        assert!(!writer.wrote(Some(writer.marker_key(0).as_bytes())));
        assert!(!writer.wrote(None));
        assert_ne!(WriterId::random(), WriterId::random());
        assert_eq!(writer.partition(6), 0xabc % 6);
        assert_eq!(writer.partition(0), 0);
    }
}
