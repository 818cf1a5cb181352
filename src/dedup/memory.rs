//! The in-memory index of committed event ids: a sharded map from id hash to
//! expiry, plus the order ids were committed in, so the oldest is forgotten first
//! when the window passes or the index is full.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use super::IdHash;

/// Committed ids with their expiry (Unix seconds).
#[derive(Debug)]
pub(crate) struct Index {
    expiry_by_id: DashMap<IdHash, u32>,
    /// Commit order; expiries are non-decreasing along it, so the front is the
    /// oldest. An id committed again after it expired appears twice.
    order: Mutex<VecDeque<(IdHash, u32)>>,
    window_secs: u32,
    max_entries: usize,
    evicted: AtomicU64,
}

impl Index {
    pub(crate) fn new(window_secs: u32, max_entries: usize) -> Self {
        Self {
            expiry_by_id: DashMap::new(),
            order: Mutex::new(VecDeque::new()),
            window_secs,
            max_entries,
            evicted: AtomicU64::new(0),
        }
    }

    /// True if `key` was committed within the window.
    pub(crate) fn contains(&self, key: IdHash, now: u32) -> bool {
        self.expiry_by_id
            .get(&key)
            .is_some_and(|expiry| *expiry > now)
    }

    /// Remembers `key` for the window from `now`, then forgets what expired and,
    /// beyond `max_entries`, the oldest. Returns the number of ids remembered.
    pub(crate) fn insert(&self, key: IdHash, now: u32) -> usize {
        let expiry = now.saturating_add(self.window_secs);
        self.expiry_by_id.insert(key, expiry);
        let mut order = self
            .order
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        order.push_back((key, expiry));
        while let Some(&(oldest, oldest_expiry)) = order.front() {
            let expired = oldest_expiry <= now;
            if !expired && order.len() <= self.max_entries {
                break;
            }
            order.pop_front();
            // Only forget it if it was not committed again since.
            self.expiry_by_id
                .remove_if(&oldest, |_, expiry| *expiry == oldest_expiry);
            if !expired {
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        order.len()
    }

    /// Ids forgotten before their window passed because the index was full.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.expiry_by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> IdHash {
        IdHash([n; 16])
    }

    #[test]
    fn ids_are_remembered_for_the_window_only() {
        let index = Index::new(60, 100);
        index.insert(key(1), 1000);
        assert!(index.contains(key(1), 1000));
        assert!(index.contains(key(1), 1059));
        assert!(!index.contains(key(1), 1060));
        assert!(!index.contains(key(2), 1000));
        // Expired ids are dropped as later ones arrive.
        index.insert(key(2), 1060);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn the_oldest_are_evicted_first_and_counted() {
        let index = Index::new(3600, 3);
        for n in 1..=5 {
            index.insert(key(n), 1000 + u32::from(n));
        }
        assert_eq!(index.len(), 3);
        assert!(!index.contains(key(1), 1010) && !index.contains(key(2), 1010));
        assert!((3..=5).all(|n| index.contains(key(n), 1010)));
        assert_eq!(index.evicted(), 2);
    }

    #[test]
    fn a_recommitted_id_outlives_its_old_entry() {
        let index = Index::new(10, 100);
        index.insert(key(1), 1000);
        index.insert(key(1), 1011);
        index.insert(key(2), 1012); // pops key(1)'s first, expired entry
        assert!(index.contains(key(1), 1015));
    }
}
