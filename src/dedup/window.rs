//! The dedup state of one partition of the intake topic: which event ids were
//! seen within the window, in about 11 bytes an id.
//!
//! The consumer that owns a partition asks [`PartitionWindow::check_and_insert`]
//! for each event in offset order; at assignment it rebuilds the state from the
//! changelog through a [`Loader`]. One task owns a partition's state, so nothing
//! in here locks: the type is `Send` and is not meant to be shared.
//!
//! # Layout
//!
//! Ids are kept by 96-bit [`Fingerprint`] in time buckets of `bucket_secs`,
//! aligned to multiples of it since the Unix epoch, so every replica that loads
//! the same changelog cuts the same buckets and gives the same answers.
//!
//! - The bucket that time is in (and any bucket a late event lands in) takes
//!   inserts in a hash set.
//! - Once time passes a bucket's end, its set is sealed into a sorted array.
//!   The array drops the fingerprint's leading bits: a table of offsets by those
//!   bits (`2^k + 1` entries) gives them back, so a sealed id costs 9 to 12
//!   bytes plus its share of the table, and a look-up reads one table entry and
//!   compares the 8 or so ids behind it.
//! - Expiry drops whole buckets from the old end: no pass over the ids.
//!
//! # How long an id is remembered
//!
//! An id seen at `t` sits in the bucket `[start, end)` holding `t`, and the
//! bucket is dropped once `now >= end + window`. So an id is remembered for at
//! least the window and at most one bucket longer: erring long keeps a late
//! retry from being published twice.
//!
//! # Why 96 bits
//!
//! Two different ids with the same fingerprint make the second a false
//! duplicate: a real event dropped. With `n` ids in the window a new id meets a
//! colliding fingerprint with probability about `n / 2^bits`. At 13 G ids in
//! the window (summed over partitions), 64 bits drop about 9 real events per
//! window (13 G × 13 G / 2^64 ÷ 2, shared by the partitions); 96 bits drop one
//! in about two billion windows. The fingerprint is taken from SHA-256, so a
//! sender cannot aim for a collision either.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use nohash_hasher::BuildNoHashHasher;

use super::IdHash;

/// 96 bits of the SHA-256 of an event's dedup key: what the window keeps of an
/// id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fingerprint([u8; 12]);

impl Fingerprint {
    pub const fn from_bytes(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }

    /// The slot of this fingerprint in a table of `2^bits` (`bits` ≤ 24):
    /// its leading bits.
    fn slot(&self, bits: u32) -> usize {
        let leading = u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]);
        leading.checked_shr(32 - bits).unwrap_or(0) as usize
    }
}

impl From<IdHash> for Fingerprint {
    /// The first 12 of the id hash's 16 bytes.
    fn from(id: IdHash) -> Self {
        let mut bytes = [0u8; 12];
        bytes.copy_from_slice(&id.0[..12]);
        Self(bytes)
    }
}

/// The bucket's hash set does not hash again: the last 8 bytes of a SHA-256
/// prefix are uniform already (and independent of the leading bits the sealed
/// table uses).
impl Hash for Fingerprint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut tail = [0u8; 8];
        tail.copy_from_slice(&self.0[4..]);
        state.write_u64(u64::from_le_bytes(tail));
    }
}

impl nohash_hasher::IsEnabled for Fingerprint {}

type FingerprintSet = HashSet<Fingerprint, BuildNoHashHasher<Fingerprint>>;

/// What [`PartitionWindow::check_and_insert`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not seen within the window: the event is new (and now remembered,
    /// unless its time is already older than the window).
    New,
    /// Seen within the window: the event is a duplicate.
    Duplicate,
}

/// Why a window could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("the dedup bucket must be at least 1 second; got {0:?}")]
    BucketTooShort(Duration),
    #[error(
        "the dedup bucket ({bucket:?}) is longer than the window ({window:?}); use at most the window, typically window/24"
    )]
    BucketLongerThanWindow { bucket: Duration, window: Duration },
    #[error(
        "the dedup window must be between 1 second and about 136 years (u32 seconds); got {0:?}"
    )]
    WindowOutOfRange(Duration),
}

/// The bucket length for a window when none is configured: a 24th of it (3 h
/// for 72 h), at least 1 s. Longer buckets keep ids longer past the window;
/// shorter ones make every look-up visit more of them.
pub fn default_bucket(window: Duration) -> Duration {
    (window / 24).max(Duration::from_secs(1))
}

/// The window's and the bucket's lengths in seconds, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spans {
    window_secs: u32,
    bucket_secs: u32,
}

impl Spans {
    fn new(window: Duration, bucket: Duration) -> Result<Self, WindowError> {
        let window_secs = u32::try_from(window.as_secs())
            .ok()
            .filter(|secs| *secs > 0)
            .ok_or(WindowError::WindowOutOfRange(window))?;
        let bucket_secs = u32::try_from(bucket.as_secs())
            .ok()
            .filter(|secs| *secs > 0)
            .ok_or(WindowError::BucketTooShort(bucket))?;
        if bucket_secs > window_secs {
            return Err(WindowError::BucketLongerThanWindow { bucket, window });
        }
        Ok(Self {
            window_secs,
            bucket_secs,
        })
    }

    /// The start of the bucket holding second `at`.
    fn bucket_start(&self, at: u32) -> u32 {
        at - at % self.bucket_secs
    }

    /// Whether the bucket starting at `start` still holds ids worth knowing at
    /// `now`: it ends less than a window before `now`.
    fn is_live(&self, start: u32, now: u32) -> bool {
        u64::from(start) + u64::from(self.bucket_secs) + u64::from(self.window_secs)
            > u64::from(now)
    }
}

/// The ids of one partition seen within the window. See the module docs.
#[derive(Debug)]
pub struct PartitionWindow {
    spans: Spans,
    /// Ordered by start; no two share one. Gaps where no event came.
    buckets: VecDeque<Bucket>,
    /// The latest second seen: an event's time or an [`expire`](Self::expire)'s
    /// `now`. Buckets that end at or before it are sealed.
    clock: u32,
}

impl PartitionWindow {
    /// An empty window of `window`, cut into buckets of `bucket` (see
    /// [`default_bucket`]).
    pub fn new(window: Duration, bucket: Duration) -> Result<Self, WindowError> {
        Ok(Self::empty(Spans::new(window, bucket)?))
    }

    fn empty(spans: Spans) -> Self {
        Self {
            spans,
            buckets: VecDeque::new(),
            clock: 0,
        }
    }

    /// The dedup decision for an event at `at` (Unix seconds), in offset
    /// order: a duplicate if its fingerprint is in any bucket still live; else
    /// new, and remembered in the bucket of `at`. An event older than the
    /// window is new and not remembered (it would be dropped at once).
    pub fn check_and_insert(&mut self, fingerprint: Fingerprint, at: u32) -> Seen {
        self.advance(at);
        if self.contains(fingerprint, self.clock) {
            return Seen::Duplicate;
        }
        self.remember(fingerprint, at);
        Seen::New
    }

    /// Whether `fingerprint` was seen within the window as of `now`.
    ///
    /// A new id is looked for in every bucket, and each bucket costs a cache
    /// miss or two; so the offset-table entries of a batch of buckets are read
    /// first, with no branch between them, letting the misses overlap, and
    /// only then are the tails compared.
    pub fn contains(&self, fingerprint: Fingerprint, now: u32) -> bool {
        let mut from = self
            .buckets
            .partition_point(|bucket| !self.spans.is_live(bucket.start, now));
        let mut ranges = [(0u32, 0u32); LOOKUP_BATCH];
        while from < self.buckets.len() {
            let to = (from + LOOKUP_BATCH).min(self.buckets.len());
            for (range, bucket) in ranges.iter_mut().zip(self.buckets.range(from..to)) {
                *range = bucket.sorted.candidates(&fingerprint);
            }
            for (range, bucket) in ranges.iter().zip(self.buckets.range(from..to)) {
                if bucket.sorted.holds(&fingerprint, *range) || bucket.recent_contains(&fingerprint)
                {
                    return true;
                }
            }
            from = to;
        }
        false
    }

    /// Remembers `fingerprint` as seen at `at` without asking, as a replay of
    /// the changelog does. Returns false if `at` is older than the window.
    /// For many ids at once a [`Loader`] is faster.
    pub fn insert(&mut self, fingerprint: Fingerprint, at: u32) -> bool {
        self.advance(at);
        self.remember(fingerprint, at)
    }

    /// Moves the clock to `now` if that is later: drops the buckets that ended
    /// a window or more before it and seals those it has passed. Call it when
    /// no event came for a while, so an idle partition frees memory too.
    /// Returns how many ids were dropped.
    pub fn expire(&mut self, now: u32) -> usize {
        self.advance(now)
    }

    /// Ids held (an id remembered in two buckets, as a late replay can do,
    /// counts twice).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(Bucket::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|bucket| bucket.len() == 0)
    }

    /// Buckets held, sealed or not.
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// The heap bytes this window holds: the sealed arrays and offset tables,
    /// the hash sets' whole tables (spare room included) and the bucket list.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.buckets.capacity() * std::mem::size_of::<Bucket>()
            + self.buckets.iter().map(Bucket::heap_bytes).sum::<usize>()
    }

    pub fn window_secs(&self) -> u32 {
        self.spans.window_secs
    }

    pub fn bucket_secs(&self) -> u32 {
        self.spans.bucket_secs
    }

    /// Expiry first, then sealing, so the buckets dropped are gone before the
    /// sealed one's array is built.
    fn advance(&mut self, now: u32) -> usize {
        if now <= self.clock {
            return 0;
        }
        let before = self.clock;
        self.clock = now;
        let mut dropped = 0;
        while let Some(oldest) = self.buckets.front() {
            if self.spans.is_live(oldest.start, now) {
                break;
            }
            dropped += oldest.len();
            self.buckets.pop_front();
        }
        // Normally just the bucket that was current; the list is in time order.
        let bucket_secs = self.spans.bucket_secs;
        for bucket in self.buckets.iter_mut().rev() {
            let end = bucket.start.saturating_add(bucket_secs);
            if end <= before {
                break;
            }
            if end <= now {
                bucket.seal();
            }
        }
        dropped
    }

    /// Puts `fingerprint` in the bucket of `at`, unless that bucket is already
    /// past the window or holds it.
    fn remember(&mut self, fingerprint: Fingerprint, at: u32) -> bool {
        let start = self.spans.bucket_start(at);
        if !self.spans.is_live(start, self.clock) {
            return false;
        }
        let index = match self.buckets.binary_search_by_key(&start, |b| b.start) {
            Ok(index) => index,
            Err(index) => {
                self.buckets.insert(index, Bucket::new(start));
                index
            }
        };
        let bucket_secs = self.spans.bucket_secs;
        let clock = self.clock;
        let Some(bucket) = self.buckets.get_mut(index) else {
            return false;
        };
        if bucket.sorted.contains(&fingerprint) || !bucket.recent.insert(fingerprint) {
            return true;
        }
        // A bucket time has passed takes only late events: fold them into its
        // array once they are many enough to pay for the rebuild.
        let passed = start.saturating_add(bucket_secs) <= clock;
        if passed && bucket.recent.len() > LATE_SEAL_MIN.max(bucket.sorted.len() / 8) {
            bucket.seal();
        }
        true
    }
}

/// Buckets whose offset-table entries a look-up reads before comparing tails:
/// a 72 h window in 3 h buckets is one batch.
const LOOKUP_BATCH: usize = 32;

/// Late events a passed bucket holds in its hash set before it is sealed again.
const LATE_SEAL_MIN: usize = 4096;

/// Builds a [`PartitionWindow`] from many `(fingerprint, at)` pairs in any
/// order, such as a changelog replay: the pairs are collected per bucket and
/// each bucket is sorted once, instead of hashed one by one.
///
/// While loading it holds 12 bytes a pair (duplicates included) beside the
/// finished buckets.
#[derive(Debug)]
pub struct Loader {
    spans: Spans,
    pending: BTreeMap<u32, Vec<Fingerprint>>,
    clock: u32,
}

impl Loader {
    pub fn new(window: Duration, bucket: Duration) -> Result<Self, WindowError> {
        Ok(Self {
            spans: Spans::new(window, bucket)?,
            pending: BTreeMap::new(),
            clock: 0,
        })
    }

    /// Adds an id seen at `at`. Pairs older than the window as of the latest
    /// `at` so far are left out; later ones are left out by [`finish`](Self::finish).
    pub fn push(&mut self, fingerprint: Fingerprint, at: u32) {
        self.clock = self.clock.max(at);
        let start = self.spans.bucket_start(at);
        if self.spans.is_live(start, self.clock) {
            self.pending.entry(start).or_default().push(fingerprint);
        }
    }

    /// The window as of `now` (or of the latest `at` pushed, if later).
    pub fn finish(self, now: u32) -> PartitionWindow {
        let clock = self.clock.max(now);
        let mut window = PartitionWindow::empty(self.spans);
        window.clock = clock;
        for (start, fingerprints) in self.pending {
            if !self.spans.is_live(start, clock) {
                continue;
            }
            // Each bucket's pairs are freed as soon as its array is built.
            let mut bucket = Bucket::new(start);
            bucket.sorted = Sorted::build(&fingerprints);
            drop(fingerprints);
            window.buckets.push_back(bucket);
        }
        window
    }
}

/// The ids seen in one time bucket.
#[derive(Debug)]
struct Bucket {
    start: u32,
    sorted: Sorted,
    /// Ids added since the last seal; none of them is in `sorted`.
    recent: FingerprintSet,
}

impl Bucket {
    fn new(start: u32) -> Self {
        Self {
            start,
            sorted: Sorted::default(),
            recent: FingerprintSet::default(),
        }
    }

    fn recent_contains(&self, fingerprint: &Fingerprint) -> bool {
        !self.recent.is_empty() && self.recent.contains(fingerprint)
    }

    fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    /// Folds the hash set into the sorted array.
    fn seal(&mut self) {
        if self.recent.is_empty() {
            return;
        }
        let recent = std::mem::take(&mut self.recent);
        self.sorted = if self.sorted.len() == 0 {
            Sorted::build_from(recent.len(), || recent.iter().copied())
        } else {
            let old = std::mem::take(&mut self.sorted);
            Sorted::build_from(old.len() + recent.len(), || {
                old.iter().chain(recent.iter().copied())
            })
        };
    }

    fn heap_bytes(&self) -> usize {
        self.sorted.heap_bytes() + set_heap_bytes(&self.recent)
    }
}

/// The bytes of a hash set's table: hashbrown keeps a power of two of slots,
/// at most 7/8 used, each an entry and a control byte, plus one group of
/// control bytes more.
fn set_heap_bytes(set: &FingerprintSet) -> usize {
    let capacity = set.capacity();
    if capacity == 0 {
        return 0;
    }
    let slots = if capacity < 7 {
        capacity + 1
    } else {
        capacity / 7 * 8
    };
    slots * (std::mem::size_of::<Fingerprint>() + 1) + 16
}

/// A bucket's sealed ids: sorted fingerprints without their leading `bits`
/// bits (rounded down to bytes), found through a table of offsets by those
/// bits.
#[derive(Debug, Default)]
struct Sorted {
    bits: u32,
    /// `2^bits + 1` entries: the ids in slot `s` are `offsets[s]..offsets[s+1]`.
    offsets: Box<[u32]>,
    /// Each id's last `stride` bytes, one after the other.
    tails: Box<[u8]>,
}

/// The most ids a slot of the offset table holds on average: a look-up's binary
/// search covers this many.
const SLOT_FILL: usize = 8;

/// The widest offset table: 16 M slots, 64 MiB.
const MAX_BITS: u32 = 24;

impl Sorted {
    fn len(&self) -> usize {
        self.offsets.last().map_or(0, |last| *last as usize)
    }

    /// The bytes of each id kept in `tails`: those the offset table does not
    /// already say.
    fn stride(&self) -> usize {
        stride(self.bits)
    }

    fn heap_bytes(&self) -> usize {
        self.offsets.len() * 4 + self.tails.len()
    }

    fn contains(&self, fingerprint: &Fingerprint) -> bool {
        self.holds(fingerprint, self.candidates(fingerprint))
    }

    /// Where the ids that could equal `fingerprint` are: its slot's range.
    fn candidates(&self, fingerprint: &Fingerprint) -> (u32, u32) {
        let slot = fingerprint.slot(self.bits);
        match (self.offsets.get(slot), self.offsets.get(slot + 1)) {
            (Some(&from), Some(&to)) => (from, to),
            _ => (0, 0),
        }
    }

    /// Whether `fingerprint` is among the `candidates`.
    fn holds(&self, fingerprint: &Fingerprint, candidates: (u32, u32)) -> bool {
        match self.stride() {
            9 => self.find::<9>(fingerprint, candidates),
            10 => self.find::<10>(fingerprint, candidates),
            11 => self.find::<11>(fingerprint, candidates),
            _ => self.find::<12>(fingerprint, candidates),
        }
    }

    fn find<const STRIDE: usize>(&self, fingerprint: &Fingerprint, (from, to): (u32, u32)) -> bool {
        let (tails, _) = self.tails.as_chunks::<STRIDE>();
        let Some(candidates) = tails.get(from as usize..to as usize) else {
            return false;
        };
        let wanted = tail_key::<STRIDE>(&fingerprint.0);
        // A slot holds about SLOT_FILL ids: a scan has no branch to miss. Only
        // ids aimed at one slot make it long.
        if candidates.len() <= 2 * SLOT_FILL {
            candidates.iter().any(|tail| key(tail) == wanted)
        } else {
            candidates
                .binary_search_by_key(&wanted, key::<STRIDE>)
                .is_ok()
        }
    }

    /// The whole fingerprints, in order.
    fn iter(&self) -> impl Iterator<Item = Fingerprint> + '_ {
        let stride = self.stride();
        let dropped = 12 - stride;
        let shift = 32 - self.bits;
        self.offsets
            .windows(2)
            .enumerate()
            .flat_map(move |(slot, range)| {
                // The leading bytes come back from the slot number.
                let leading = (slot as u64)
                    .checked_shl(shift)
                    .map_or(0, |v| v as u32)
                    .to_be_bytes();
                let from = range[0] as usize * stride;
                let to = range[1] as usize * stride;
                self.tails[from..to].chunks_exact(stride).map(move |tail| {
                    let mut bytes = [0u8; 12];
                    bytes[..dropped].copy_from_slice(&leading[..dropped]);
                    bytes[dropped..].copy_from_slice(tail);
                    Fingerprint(bytes)
                })
            })
    }

    fn build(fingerprints: &[Fingerprint]) -> Self {
        Self::build_from(fingerprints.len(), || fingerprints.iter().copied())
    }

    /// Sorts `count` fingerprints (given twice by `fingerprints`) by counting
    /// them into slots, then sorting each slot's few tails; duplicates are
    /// kept once.
    fn build_from<I>(count: usize, fingerprints: impl Fn() -> I) -> Self
    where
        I: Iterator<Item = Fingerprint>,
    {
        Self::build_with_bits(table_bits(count), fingerprints)
    }

    fn build_with_bits<I>(bits: u32, fingerprints: impl Fn() -> I) -> Self
    where
        I: Iterator<Item = Fingerprint>,
    {
        let slots = 1usize << bits;
        let stride = stride(bits);
        let mut offsets = vec![0u32; slots + 1];
        for fingerprint in fingerprints() {
            offsets[fingerprint.slot(bits) + 1] += 1;
        }
        for slot in 0..slots {
            offsets[slot + 1] += offsets[slot];
        }
        let total = offsets[slots] as usize;
        let mut next = offsets[..slots].to_vec();
        let mut tails = vec![0u8; total * stride];
        let dropped = 12 - stride;
        for fingerprint in fingerprints() {
            let at = &mut next[fingerprint.slot(bits)];
            let from = *at as usize * stride;
            tails[from..from + stride].copy_from_slice(&fingerprint.0[dropped..]);
            *at += 1;
        }
        drop(next);
        let mut sorted = Self {
            bits,
            offsets: offsets.into_boxed_slice(),
            tails: tails.into_boxed_slice(),
        };
        match stride {
            9 => sorted.sort_slots::<9>(),
            10 => sorted.sort_slots::<10>(),
            11 => sorted.sort_slots::<11>(),
            _ => sorted.sort_slots::<12>(),
        }
        sorted
    }

    /// Sorts each slot's tails and squeezes out repeats.
    fn sort_slots<const STRIDE: usize>(&mut self) {
        let (tails, _) = self.tails.as_chunks_mut::<STRIDE>();
        let mut kept = 0usize;
        let mut start = 0usize;
        for slot in 0..self.offsets.len() - 1 {
            let end = self.offsets[slot + 1] as usize;
            tails[start..end].sort_unstable_by_key(key::<STRIDE>);
            self.offsets[slot] = kept as u32;
            let mut previous = None;
            for index in start..end {
                let tail = tails[index];
                if previous == Some(tail) {
                    continue;
                }
                previous = Some(tail);
                tails[kept] = tail;
                kept += 1;
            }
            start = end;
        }
        let slots = self.offsets.len() - 1;
        self.offsets[slots] = kept as u32;
        if kept * STRIDE < self.tails.len() {
            self.tails = self.tails[..kept * STRIDE].into();
        }
    }
}

/// The bytes an id keeps when `bits` leading bits are in the table.
fn stride(bits: u32) -> usize {
    12 - (bits / 8) as usize
}

/// The table width that makes a bucket of `count` ids smallest, among those
/// that keep [`SLOT_FILL`] or fewer ids a slot on average: every 8 bits more
/// saves a byte an id, and costs 4 bytes a slot.
fn table_bits(count: usize) -> u32 {
    let bytes = |bits: u32| count * stride(bits) + 4 * ((1usize << bits) + 1);
    (0..=MAX_BITS)
        .filter(|bits| count <= SLOT_FILL << bits)
        .min_by_key(|bits| bytes(*bits))
        .unwrap_or(MAX_BITS)
}

/// A tail as a number, so that comparing numbers compares the bytes.
fn key<const STRIDE: usize>(tail: &[u8; STRIDE]) -> u128 {
    let mut bytes = [0u8; 16];
    bytes[16 - STRIDE..].copy_from_slice(tail);
    u128::from_be_bytes(bytes)
}

fn tail_key<const STRIDE: usize>(fingerprint: &[u8; 12]) -> u128 {
    let mut tail = [0u8; STRIDE];
    tail.copy_from_slice(&fingerprint[12 - STRIDE..]);
    key(&tail)
}

#[cfg(test)]
mod tests;
