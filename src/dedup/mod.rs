//! Deduplication by provider event id, the third stage of the pipeline.
//!
//! Two places decide, each with a job of its own:
//! - **The edge** (every replica that receives webhooks): a request
//!   [`claim`](Dedup::claim)s its event id before handing the event on. The
//!   claim is [`commit`](Claim::commit)ted once Kafka acknowledged it, or
//!   released if that failed (or the request was dropped), so a provider's
//!   retry hands it on then. A second delivery that arrives while the first
//!   is in flight waits for that outcome instead of racing it, and the edge
//!   answers `duplicate` for what it handed on itself within a short window
//!   ([`Dedup::recent`]). With the null broker this index is all there is
//!   ([`Dedup::in_memory`]).
//! - **The [`stage`]**: the one owner of each partition of the [`intake`]
//!   topic, assigned by Kafka's consumer group, publishes each event whose id
//!   its partition's [`window`] has not seen and drops the others. The
//!   windows are rebuilt from the compacted dedup topic ([`topic`], records
//!   in [`record`]); the [`keeper`] keeps a stage running.

mod index;
pub mod intake;
pub mod keeper;
pub mod record;
pub mod stage;
pub mod topic;
pub mod window;

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::config::DedupConfig;
use crate::pipeline::locate::EventId;
use crate::pipeline::source::SourceName;

use index::Index;

/// 128 bits of SHA-256 over the dedup record key `source/event-id`: what the
/// index stores instead of the strings. Collisions are out of reach even for a
/// hostile sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdHash([u8; 16]);

impl IdHash {
    pub fn of(source: &SourceName, id: &EventId) -> Self {
        Self::from_digest(
            Sha256::new()
                .chain_update(source.as_str())
                .chain_update(b"/")
                .chain_update(id.as_str()),
        )
    }

    /// The key under which the replay guard remembers a delivery's signed
    /// `material` (its body, or a signed nonce). Source names hold no NUL, so
    /// it never equals an event id's key.
    pub fn of_replay(source: &SourceName, material: &[u8]) -> Self {
        Self::from_digest(
            Sha256::new()
                .chain_update(source.as_str())
                .chain_update(b"\0replay\0")
                .chain_update(material),
        )
    }

    /// The hash of a dedup record key, which is `source/event-id` already.
    pub fn of_key(key: &[u8]) -> Self {
        Self::from_digest(Sha256::new().chain_update(key))
    }

    /// A hash as [`IdHash::as_bytes`] gave it, read back.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Which of `partitions` owns this hash: its last 4 bytes taken modulo
    /// the count, uniform as the hash is. The first 12 are what a partition's
    /// window keeps of an id, so they stay independent of the partition.
    pub fn partition(&self, partitions: i32) -> i32 {
        let mut last = [0u8; 4];
        last.copy_from_slice(&self.0[12..]);
        let partitions = u32::try_from(partitions.max(1)).unwrap_or(1);
        i32::try_from(u32::from_be_bytes(last) % partitions).unwrap_or(0)
    }

    fn from_digest(digest: Sha256) -> Self {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest.finalize()[..16]);
        Self(bytes)
    }
}

/// The index's map does not hash its keys again: the first 8 bytes of a
/// SHA-256 are as uniform as any hasher's output.
impl Hash for IdHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

impl nohash_hasher::IsEnabled for IdHash {}

/// The outcome of a claim as its waiters see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Publishing,
    Committed,
    Released,
}

/// What a claim found.
#[derive(Debug)]
pub enum Claimed {
    /// The event is new (or its earlier delivery failed): publish it.
    Fresh(Claim),
    /// Kafka already holds this event.
    Duplicate,
}

/// Why a claim could not be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("an earlier delivery of this event is still being published; retry later")]
    StillInFlight,
}

/// The dedup index shared by every request. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Dedup {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    index: Index,
    in_flight: DashMap<IdHash, watch::Receiver<State>>,
    /// How long a second delivery waits for the first one's outcome.
    wait_limit: Duration,
    /// The gauge the index's size is reported as.
    entries_gauge: &'static str,
}

impl Dedup {
    /// An index kept in this process's memory only.
    ///
    /// `wait_limit` should exceed the publisher's own timeout, so the first
    /// delivery's outcome is normally known before a duplicate gives up on it.
    pub fn in_memory(config: &DedupConfig, wait_limit: Duration) -> Self {
        Self::new(
            config.window,
            config.max_entries,
            wait_limit,
            crate::ops::metrics::DEDUP_ENTRIES,
        )
    }

    /// The edge's index in front of a dedup stage: what this replica handed
    /// on itself within [`RECENT_WINDOW`] (or `dedup.window`, if shorter).
    /// The stage decides the rest.
    pub fn recent(config: &DedupConfig, wait_limit: Duration) -> Self {
        Self::new(
            config.window.min(RECENT_WINDOW),
            config.max_entries,
            wait_limit,
            crate::ops::metrics::DEDUP_RECENT_ENTRIES,
        )
    }

    fn new(
        window: Duration,
        max_entries: usize,
        wait_limit: Duration,
        entries_gauge: &'static str,
    ) -> Self {
        let window = u32::try_from(window.as_secs()).unwrap_or(u32::MAX);
        Self {
            inner: Arc::new(Inner {
                index: Index::new(window, max_entries),
                in_flight: DashMap::new(),
                wait_limit,
                entries_gauge,
            }),
        }
    }

    /// Decides whether this delivery should be published.
    pub async fn claim(&self, source: &SourceName, id: &EventId) -> Result<Claimed, ClaimError> {
        self.claim_key(IdHash::of(source, id)).await
    }

    /// As [`Dedup::claim`], for a key already hashed (the replay guard's).
    pub async fn claim_key(&self, key: IdHash) -> Result<Claimed, ClaimError> {
        let deadline = tokio::time::Instant::now() + self.inner.wait_limit;
        loop {
            if self.inner.index.contains(key, unix_now()) {
                return Ok(Claimed::Duplicate);
            }
            let mut first = match self.inner.in_flight.entry(key) {
                Entry::Vacant(slot) => {
                    let (tx, rx) = watch::channel(State::Publishing);
                    slot.insert(rx);
                    // The previous owner may have committed between our look-up
                    // and our insert: it writes the index before leaving in_flight.
                    if self.inner.index.contains(key, unix_now()) {
                        self.inner.in_flight.remove(&key);
                        return Ok(Claimed::Duplicate);
                    }
                    return Ok(Claimed::Fresh(Claim {
                        dedup: self.clone(),
                        key,
                        tx: Some(tx),
                    }));
                }
                Entry::Occupied(entry) => entry.get().clone(),
            };
            let outcome = tokio::time::timeout_at(
                deadline,
                first.wait_for(|state| *state != State::Publishing),
            )
            .await;
            match outcome {
                Err(_elapsed) => return Err(ClaimError::StillInFlight),
                Ok(Ok(state)) if *state == State::Committed => return Ok(Claimed::Duplicate),
                // Released, or its owner vanished: try to claim it ourselves.
                Ok(_) => continue,
            }
        }
    }

    /// Whether a delivery of this event now would be a duplicate.
    pub fn knows(&self, source: &SourceName, id: &EventId) -> bool {
        self.inner
            .index
            .contains(IdHash::of(source, id), unix_now())
    }

    fn index(&self) -> &Index {
        &self.inner.index
    }

    /// Sweeps the index for as long as the task lives: at once when it holds
    /// more than `max_entries`, otherwise every 1/32 of the window; and
    /// reports its size every second. Runs in every mode, the in-memory one
    /// included. A sweep walks the whole map, so it runs off the async workers.
    pub fn spawn_sweeper(&self) -> tokio::task::JoinHandle<()> {
        let dedup = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEPER_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_sweep = unix_now();
            let mut since_report = Duration::ZERO;
            loop {
                tick.tick().await;
                since_report += SWEEPER_TICK;
                let now = unix_now();
                let index = dedup.index();
                if index.over_capacity()
                    || now.saturating_sub(last_sweep) >= index.sweep_every_secs()
                {
                    last_sweep = now;
                    let sweeping = dedup.clone();
                    let _ = tokio::task::spawn_blocking(move || sweeping.sweep(now)).await;
                } else if since_report >= Duration::from_secs(1) {
                    since_report = Duration::ZERO;
                    dedup.report();
                }
            }
        })
    }

    /// Frees expired ids (and the oldest, when over `max_entries`), warns when
    /// the window had to shrink, and reports the index's size.
    pub(crate) fn sweep(&self, now: u32) {
        let index = self.index();
        let swept = index.sweep(now);
        if swept.evicted > 0 {
            let remembered = index.remembered_secs(now).max(1);
            let window = u64::from(index.window_secs());
            // At the rate that filled it, the whole window needs this many.
            let needed = index.max_entries() as u64 * window / u64::from(remembered);
            tracing::warn!(
                evicted = swept.evicted,
                max_entries = index.max_entries(),
                remembered_hours = f64::from(remembered) / 3600.0,
                window_hours = window as f64 / 3600.0,
                needed_entries = needed,
                "the edge's dedup index is full: ids are remembered for less than its window, so a repeat is answered 2xx and left to the dedup stage; raise dedup.max_entries to about {needed} (about 35 bytes of memory each)"
            );
        }
        self.report();
    }

    fn report(&self) {
        let index = self.index();
        crate::ops::metrics::dedup_index(self.inner.entries_gauge, index.len(), index.evicted());
    }
}

/// How long the edge remembers what it handed on itself: repeats within it
/// are answered `duplicate` at once, and it bounds the edge's memory.
pub const RECENT_WINDOW: Duration = Duration::from_secs(600);

/// The right to publish one event. Dropping it without committing releases it.
#[derive(Debug)]
pub struct Claim {
    dedup: Dedup,
    key: IdHash,
    tx: Option<watch::Sender<State>>,
}

impl Claim {
    /// Kafka acknowledged the event, received at `first_seen`: later
    /// deliveries are duplicates.
    pub fn commit(mut self, first_seen: SystemTime) {
        let first_seen = index_seconds(crate::ops::clock::unix_seconds(first_seen));
        self.dedup
            .inner
            .index
            .remember(self.key, first_seen, unix_now());
        self.settle(State::Committed);
    }

    /// Publishing failed: the next delivery publishes it.
    pub fn release(mut self) {
        self.settle(State::Released);
    }

    fn settle(&mut self, state: State) {
        if let Some(tx) = self.tx.take() {
            self.dedup.inner.in_flight.remove(&self.key);
            tx.send_replace(state);
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.settle(State::Released);
    }
}

/// How often the sweeper looks at the index: often enough that a full index
/// is swept within a tenth of a second.
const SWEEPER_TICK: Duration = Duration::from_millis(100);

/// Now in the index's Unix seconds.
pub(crate) fn unix_now() -> u32 {
    index_seconds(crate::ops::clock::now_seconds())
}

/// Unix seconds as the index keeps them: unsigned 32 bits, good until 2106.
fn index_seconds(seconds: i64) -> u32 {
    u32::try_from(seconds.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dedup() -> Dedup {
        Dedup::in_memory(&DedupConfig::default(), Duration::from_secs(5))
    }

    #[test]
    fn the_id_hash_is_the_hash_of_the_record_key() {
        let (source, id) = names("evt/1");
        assert_eq!(
            IdHash::of(&source, &id),
            IdHash::of_key(&record::key(&source, &id))
        );
        assert_ne!(IdHash::of(&source, &id), IdHash::of_key(b"github/evt/2"));
    }

    fn names(id: &str) -> (SourceName, EventId) {
        (SourceName::new("github"), EventId::new(id).expect("id"))
    }

    #[tokio::test]
    async fn committed_events_are_duplicates_and_released_ones_are_not() {
        let dedup = dedup();
        let (source, id) = names("a");
        let Claimed::Fresh(claim) = dedup.claim(&source, &id).await.expect("claim") else {
            panic!("fresh")
        };
        claim.release();
        let Claimed::Fresh(claim) = dedup.claim(&source, &id).await.expect("claim") else {
            panic!("fresh again")
        };
        claim.commit(SystemTime::now());
        assert!(matches!(
            dedup.claim(&source, &id).await,
            Ok(Claimed::Duplicate)
        ));
        let other = SourceName::new("stripe");
        assert!(matches!(
            dedup.claim(&other, &id).await,
            Ok(Claimed::Fresh(_))
        ));
    }

    #[tokio::test]
    async fn a_concurrent_delivery_waits_for_the_first_outcome() {
        let dedup = dedup();
        let (source, id) = names("b");
        let Claimed::Fresh(first) = dedup.claim(&source, &id).await.expect("claim") else {
            panic!("fresh")
        };
        let waiter = {
            let (dedup, source, id) = (dedup.clone(), source.clone(), id.clone());
            tokio::spawn(async move { dedup.claim(&source, &id).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        first.commit(SystemTime::now());
        assert!(matches!(
            waiter.await.expect("join"),
            Ok(Claimed::Duplicate)
        ));
    }

    #[tokio::test]
    async fn a_waiter_takes_over_when_the_first_delivery_fails_or_is_dropped() {
        let dedup = dedup();
        let (source, id) = names("c");
        let Claimed::Fresh(first) = dedup.claim(&source, &id).await.expect("claim") else {
            panic!("fresh")
        };
        let waiter = {
            let (dedup, source, id) = (dedup.clone(), source.clone(), id.clone());
            tokio::spawn(async move { dedup.claim(&source, &id).await })
        };
        tokio::task::yield_now().await;
        drop(first);
        assert!(matches!(waiter.await.expect("join"), Ok(Claimed::Fresh(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_gives_up_after_the_wait_limit() {
        let dedup = dedup();
        let (source, id) = names("d");
        let _first = dedup.claim(&source, &id).await.expect("claim");
        assert_eq!(
            dedup.claim(&source, &id).await.unwrap_err(),
            ClaimError::StillInFlight
        );
    }
}
