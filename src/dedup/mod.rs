//! Deduplication by provider event id, the third stage of the pipeline.
//!
//! A request [`claim`](Dedup::claim)s its event id before publishing. The claim is
//! [`commit`](Claim::commit)ted once Kafka acknowledged the event, or released if
//! publishing failed (or the request was dropped), so a provider's retry publishes
//! it then. A second delivery that arrives while the first is still in flight
//! waits for that outcome instead of racing it to Kafka.

mod memory;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::config::DedupConfig;
use crate::event::EventId;
use crate::metrics;
use crate::source::SourceName;

/// 128 bits of SHA-256 over (source, event id): what the index stores instead of
/// the strings. Collisions are out of reach even for a hostile sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdHash([u8; 16]);

impl IdHash {
    pub fn of(source: &SourceName, id: &EventId) -> Self {
        let digest = Sha256::new()
            .chain_update(source.as_str())
            .chain_update([0u8])
            .chain_update(id.as_str())
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(bytes)
    }
}

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
    index: memory::Index,
    in_flight: DashMap<IdHash, watch::Receiver<State>>,
    /// How long a second delivery waits for the first one's outcome.
    wait_limit: Duration,
}

impl Dedup {
    /// `wait_limit` should exceed the publisher's own timeout, so the first
    /// delivery's outcome is normally known before a duplicate gives up on it.
    pub fn new(config: &DedupConfig, wait_limit: Duration) -> Self {
        let window = u32::try_from(config.window.as_secs()).unwrap_or(u32::MAX);
        Self {
            inner: Arc::new(Inner {
                index: memory::Index::new(window, config.max_entries),
                in_flight: DashMap::new(),
                wait_limit,
            }),
        }
    }

    /// Decides whether this delivery should be published.
    pub async fn claim(&self, source: &SourceName, id: &EventId) -> Result<Claimed, ClaimError> {
        let key = IdHash::of(source, id);
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
}

/// The right to publish one event. Dropping it without committing releases it.
#[derive(Debug)]
pub struct Claim {
    dedup: Dedup,
    key: IdHash,
    tx: Option<watch::Sender<State>>,
}

impl Claim {
    /// Kafka acknowledged the event: later deliveries are duplicates.
    pub fn commit(mut self) {
        let remembered = self.dedup.inner.index.insert(self.key, unix_now());
        metrics::dedup_index(remembered, self.dedup.inner.index.evicted());
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

fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dedup() -> Dedup {
        Dedup::new(&DedupConfig::default(), Duration::from_secs(5))
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
        claim.commit();
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
        first.commit();
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
