//! The in-memory index of accepted event ids: a sharded map from a 128-bit id
//! hash to the second its window ends, 20 bytes of payload an entry and nothing
//! else, so ten million ids fit in well under half a gigabyte.
//!
//! An entry past its expiry is dead at once (every look-up compares it with
//! the clock) and its memory is reclaimed by [`Index::sweep`], which the dedup
//! topic's reader thread runs every 1/32 of the window, or as soon as the index
//! holds more than `max_entries`. A full index forgets its oldest ids first, to
//! the second, down to 31/32 of `max_entries`, so sweeps stay rare under
//! sustained pressure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use nohash_hasher::BuildNoHashHasher;

use super::IdHash;

/// Event ids with the Unix second their window ends.
#[derive(Debug)]
pub(crate) struct Index {
    /// The key is already a uniform hash: it is not hashed again.
    expiry_by_id: DashMap<IdHash, u32, BuildNoHashHasher<IdHash>>,
    window_secs: u32,
    max_entries: usize,
    /// Entries expiring at or before this second were evicted while unexpired
    /// because the index was full; they read as absent until swept.
    evicted_through: AtomicU32,
    /// Entries in the map, expired or not.
    entries: AtomicUsize,
    evicted: AtomicU64,
    over_capacity: AtomicBool,
}

/// What [`Index::remember`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Remembered {
    /// The id was not in the index; now it is.
    New,
    /// The id was already remembered: nothing changed.
    Known,
    /// The id's window had already passed: not remembered.
    Expired,
}

/// What one [`Index::sweep`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    pub(crate) expired: usize,
    pub(crate) evicted: usize,
}

impl Index {
    pub(crate) fn new(window_secs: u32, max_entries: usize) -> Self {
        Self {
            expiry_by_id: DashMap::default(),
            window_secs,
            max_entries,
            evicted_through: AtomicU32::new(0),
            entries: AtomicUsize::new(0),
            evicted: AtomicU64::new(0),
            over_capacity: AtomicBool::new(false),
        }
    }

    /// The last second at which an entry counts as gone.
    fn dead_through(&self, now: u32) -> u32 {
        now.max(self.evicted_through.load(Ordering::Relaxed))
    }

    /// True if `key` was first seen within the window.
    pub(crate) fn contains(&self, key: IdHash, now: u32) -> bool {
        let dead_through = self.dead_through(now);
        self.expiry_by_id
            .get(&key)
            .is_some_and(|expiry| *expiry > dead_through)
    }

    /// Remembers `key`, first seen at `seen` (Unix seconds), until the window
    /// from `seen` passes. An id already remembered keeps its first sighting.
    pub(crate) fn remember(&self, key: IdHash, seen: u32, now: u32) -> Remembered {
        let expiry = seen.saturating_add(self.window_secs);
        let dead_through = self.dead_through(now);
        if expiry <= dead_through {
            return Remembered::Expired;
        }
        match self.expiry_by_id.entry(key) {
            Entry::Occupied(mut entry) => {
                if *entry.get() > dead_through {
                    return Remembered::Known;
                }
                entry.insert(expiry);
            }
            Entry::Vacant(entry) => {
                entry.insert(expiry);
                let entries = self.entries.fetch_add(1, Ordering::Relaxed) + 1;
                if entries > self.max_entries {
                    self.over_capacity.store(true, Ordering::Relaxed);
                }
            }
        }
        Remembered::New
    }

    /// Whether the index holds more than `max_entries` and needs a sweep now.
    pub(crate) fn over_capacity(&self) -> bool {
        self.over_capacity.load(Ordering::Relaxed)
    }

    /// How far back ids are remembered at `now`: the window, or less once a
    /// full index forgot the oldest early.
    pub(crate) fn remembered_secs(&self, now: u32) -> u32 {
        let evicted_through = self.evicted_through.load(Ordering::Relaxed);
        self.window_secs
            .saturating_sub(evicted_through.saturating_sub(now))
    }

    /// The window, in seconds.
    pub(crate) fn window_secs(&self) -> u32 {
        self.window_secs
    }

    pub(crate) fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// How often expired entries should be swept away.
    pub(crate) fn sweep_every_secs(&self) -> u32 {
        (self.window_secs / 32).max(1)
    }

    /// Frees expired entries; if more than `max_entries` remain, evicts the
    /// oldest, whole seconds at a time, down to 31/32 of `max_entries`. Costs a
    /// pass over the map (two more when evicting); each shard is locked only
    /// while its own part is walked.
    pub(crate) fn sweep(&self, now: u32) -> Swept {
        self.over_capacity.store(false, Ordering::Relaxed);
        let dead_through = self.dead_through(now);
        let expired = self.remove_through(dead_through);
        let remaining = self.entries.load(Ordering::Relaxed);
        if remaining <= self.max_entries {
            return Swept {
                expired,
                evicted: 0,
            };
        }
        let target = self.max_entries - self.max_entries / 32;
        let mut per_second: HashMap<u32, usize> = HashMap::new();
        for entry in &self.expiry_by_id {
            *per_second.entry(*entry.value()).or_default() += 1;
        }
        let mut seconds: Vec<(u32, usize)> = per_second.into_iter().collect();
        seconds.sort_unstable();
        let mut left = remaining;
        let mut cutoff = dead_through;
        for (second, count) in seconds {
            if left <= target {
                break;
            }
            left = left.saturating_sub(count);
            cutoff = second;
        }
        self.evicted_through.fetch_max(cutoff, Ordering::Relaxed);
        let evicted = self.remove_through(cutoff);
        self.evicted.fetch_add(evicted as u64, Ordering::Relaxed);
        Swept { expired, evicted }
    }

    /// Removes entries expiring at or before `second`; returns how many.
    fn remove_through(&self, second: u32) -> usize {
        let mut removed = 0;
        self.expiry_by_id.retain(|_, expiry| {
            let keep = *expiry > second;
            removed += usize::from(!keep);
            keep
        });
        self.entries.fetch_sub(removed, Ordering::Relaxed);
        removed
    }

    /// Entries held, including expired ones not yet swept.
    pub(crate) fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    /// Ids forgotten before their window passed because the index was full.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> IdHash {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&n.to_le_bytes());
        bytes[12..].copy_from_slice(&n.to_be_bytes());
        IdHash(bytes)
    }

    #[test]
    fn ids_are_remembered_for_the_window_from_their_first_sighting() {
        let index = Index::new(60, 100);
        assert_eq!(index.remember(key(1), 1000, 1000), Remembered::New);
        assert_eq!(index.remember(key(1), 1030, 1030), Remembered::Known);
        assert!(index.contains(key(1), 1059));
        assert!(!index.contains(key(1), 1060), "the first sighting counts");
        assert!(!index.contains(key(2), 1000));
        // Replayed records older than the window are not loaded at all.
        assert_eq!(index.remember(key(3), 900, 1000), Remembered::Expired);
        // An expired id seen again starts a new window.
        assert_eq!(index.remember(key(1), 1061, 1061), Remembered::New);
        assert!(index.contains(key(1), 1120));
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn a_sweep_frees_expired_entries_only() {
        let index = Index::new(60, 100);
        for n in 0..10 {
            index.remember(key(n), 1000 + n, 1000 + n);
        }
        let swept = index.sweep(1065);
        assert_eq!(
            swept,
            Swept {
                expired: 6,
                evicted: 0
            }
        );
        assert_eq!(index.len(), 4);
        assert!((6..10).all(|n| index.contains(key(n), 1065)));
    }

    #[test]
    fn a_full_index_evicts_the_oldest_seconds_first_and_counts_them() {
        let index = Index::new(3600, 64);
        // 4 ids a second for 20 seconds: 80 ids, 16 over.
        for n in 0..80 {
            index.remember(key(n), 1000 + n / 4, 1000 + n / 4);
        }
        assert!(index.over_capacity());
        let swept = index.sweep(1020);
        // Down to 62 (31/32 of 64) takes 18 ids, so 5 whole seconds: 20 ids.
        assert_eq!(
            swept,
            Swept {
                expired: 0,
                evicted: 20
            }
        );
        assert_eq!((index.len(), index.evicted()), (60, 20));
        assert!((0..20).all(|n| !index.contains(key(n), 1020)));
        assert!((20..80).all(|n| index.contains(key(n), 1020)));
        assert!(!index.over_capacity());
        // An evicted second stays forgotten even if replayed again.
        assert_eq!(index.remember(key(0), 1000, 1020), Remembered::Expired);
    }

    #[test]
    fn ids_do_not_collide_in_the_unhashed_map() {
        let index = Index::new(3600, 1_000_000);
        for n in 0..10_000 {
            assert_eq!(index.remember(key(n), 1000, 1000), Remembered::New);
        }
        assert!((0..10_000).all(|n| index.contains(key(n), 1000)));
        assert!(!index.contains(key(10_001), 1000));
    }
}
