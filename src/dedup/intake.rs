//! The intake record: an event on its way from the edge (what received it
//! over HTTP) to the dedup stage (the one owner of its id's partition, which
//! publishes it once).
//!
//! It is the event's record as it will be published — body byte for byte,
//! key, timestamp, hookgate's and the provider's headers — plus three
//! headers of the intake's own, which the stage takes off again:
//!
//! | header | value |
//! |---|---|
//! | `hookgate-intake-topic` | the event topic the stage publishes to |
//! | `hookgate-intake-source` | the source's name, which the stage counts by (whatever headers the event itself carries) |
//! | `hookgate-intake-keys` | the dedup keys: the id's 16-byte [`IdHash`], then the replay guard's when the source has it (16 or 32 bytes) |
//!
//! The record goes to the intake partition its routing key chooses: the
//! replay guard's key when there is one (so a captured body sent again under
//! a new id meets the original at the same owner), else the id's.

use rdkafka::message::{Header, Headers, OwnedHeaders};

use super::IdHash;

/// The event topic the stage publishes an intake record to.
pub const TOPIC_HEADER: &str = "hookgate-intake-topic";
/// The dedup keys of an intake record.
pub const KEYS_HEADER: &str = "hookgate-intake-keys";
/// The source an intake record came through.
pub const SOURCE_HEADER: &str = "hookgate-intake-source";

/// What the stage decides an event by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupKeys {
    /// The hash of `source/event-id`.
    pub id: IdHash,
    /// The hash of the signed replay material, for sources with the guard.
    pub replay: Option<IdHash>,
}

impl DedupKeys {
    /// The key whose hash chooses the intake partition.
    pub fn routing(&self) -> IdHash {
        self.replay.unwrap_or(self.id)
    }

    /// The intake partition of these keys among `partitions`.
    pub fn partition(&self, partitions: i32) -> i32 {
        self.routing().partition(partitions)
    }

    /// The header value: 16 or 32 bytes, written into `buf` (no allocation:
    /// the edge writes one per request).
    pub fn encode<'b>(&self, buf: &'b mut [u8; 32]) -> &'b [u8] {
        buf[..16].copy_from_slice(self.id.as_bytes());
        match &self.replay {
            Some(replay) => {
                buf[16..].copy_from_slice(replay.as_bytes());
                &buf[..]
            }
            None => &buf[..16],
        }
    }

    /// Reads a header value [`DedupKeys::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Result<Self, IntakeError> {
        let hash = |bytes: &[u8]| -> Result<IdHash, IntakeError> {
            <[u8; 16]>::try_from(bytes)
                .map(IdHash::from_bytes)
                .map_err(|_| IntakeError::Keys(bytes.len()))
        };
        match bytes.len() {
            16 => Ok(Self {
                id: hash(bytes)?,
                replay: None,
            }),
            32 => Ok(Self {
                id: hash(&bytes[..16])?,
                replay: Some(hash(&bytes[16..])?),
            }),
            other => Err(IntakeError::Keys(other)),
        }
    }
}

/// Why an intake record cannot be published: written by something other
/// than a hookgate edge (or a newer one). Skipped and counted by the stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    #[error("no {0} header")]
    Missing(&'static str),
    #[error("{KEYS_HEADER} holds {0} bytes, not 16 or 32")]
    Keys(usize),
    #[error("{TOPIC_HEADER} is not a topic name")]
    Topic,
}

/// The event's headers with the intake's own added.
pub fn with_intake_headers(
    headers: OwnedHeaders,
    source: &str,
    topic: &str,
    keys: &DedupKeys,
) -> OwnedHeaders {
    headers
        .insert(Header {
            key: TOPIC_HEADER,
            value: Some(topic.as_bytes()),
        })
        .insert(Header {
            key: SOURCE_HEADER,
            value: Some(source.as_bytes()),
        })
        .insert(Header {
            key: KEYS_HEADER,
            value: Some(keys.encode(&mut [0u8; 32])),
        })
}

/// What the stage reads off an intake record's headers: where to publish,
/// what to decide by, and the event's own headers without the intake's.
#[derive(Debug)]
pub struct Routed {
    pub topic: String,
    pub keys: DedupKeys,
    /// The source's name; empty on a record that does not say.
    pub source: String,
    pub headers: OwnedHeaders,
}

/// Takes an intake record's headers apart.
pub fn route(headers: Option<&impl Headers>) -> Result<Routed, IntakeError> {
    let mut topic = None;
    let mut keys = None;
    let mut source = None;
    let mut kept = OwnedHeaders::new();
    for header in headers.into_iter().flat_map(Headers::iter) {
        match header.key {
            TOPIC_HEADER => {
                let name = header
                    .value
                    .and_then(|value| std::str::from_utf8(value).ok())
                    .filter(|name| !name.is_empty())
                    .ok_or(IntakeError::Topic)?;
                topic = Some(name.to_owned());
            }
            KEYS_HEADER => keys = Some(DedupKeys::decode(header.value.unwrap_or_default())?),
            SOURCE_HEADER => {
                source = header
                    .value
                    .map(|value| String::from_utf8_lossy(value).into_owned());
            }
            _ => kept = kept.insert(header),
        }
    }
    Ok(Routed {
        topic: topic.ok_or(IntakeError::Missing(TOPIC_HEADER))?,
        keys: keys.ok_or(IntakeError::Missing(KEYS_HEADER))?,
        source: source.unwrap_or_default(),
        headers: kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> IdHash {
        IdHash::from_bytes([n; 16])
    }

    #[test]
    fn keys_round_trip_and_route_by_the_replay_guard_when_there_is_one() {
        let plain = DedupKeys {
            id: hash(1),
            replay: None,
        };
        let guarded = DedupKeys {
            id: hash(1),
            replay: Some(hash(2)),
        };
        for keys in [plain, guarded] {
            assert_eq!(DedupKeys::decode(keys.encode(&mut [0u8; 32])), Ok(keys));
        }
        assert_eq!(plain.routing(), hash(1));
        assert_eq!(guarded.routing(), hash(2));
        assert_eq!(DedupKeys::decode(&[0; 20]), Err(IntakeError::Keys(20)));
    }

    #[test]
    fn the_stage_gets_the_events_headers_back_without_the_intakes() {
        let keys = DedupKeys {
            id: hash(3),
            replay: Some(hash(4)),
        };
        let event = OwnedHeaders::new()
            .insert(Header {
                key: "hookgate-source",
                value: Some(b"github"),
            })
            .insert(Header {
                key: "x-github-event",
                value: Some(b"push"),
            });
        let intake = with_intake_headers(event, "github", "webhooks.github", &keys);
        let routed = route(Some(&intake)).expect("routed");
        assert_eq!(routed.topic, "webhooks.github");
        assert_eq!(routed.keys, keys);
        assert_eq!(routed.source, "github");
        let names: Vec<&str> = routed.headers.iter().map(|h| h.key).collect();
        assert_eq!(names, ["hookgate-source", "x-github-event"]);
        let bare = OwnedHeaders::new().insert(Header {
            key: TOPIC_HEADER,
            value: Some(b"t"),
        });
        assert_eq!(
            route(Some(&bare)).err(),
            Some(IntakeError::Missing(KEYS_HEADER))
        );
        assert_eq!(
            route(None::<&OwnedHeaders>).err(),
            Some(IntakeError::Missing(TOPIC_HEADER))
        );
    }

    #[test]
    fn partitions_spread_evenly() {
        let mut counts = [0u32; 12];
        for n in 0..12_000u32 {
            let id = IdHash::of_key(format!("github/evt-{n}").as_bytes());
            let keys = DedupKeys { id, replay: None };
            let p = keys.partition(12);
            counts[usize::try_from(p).expect("non-negative")] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }
}
