//! The partition-owned dedup state (`dedup::window`) in a 72 h window of 3 h
//! buckets, with no broker:
//!
//! - `memory`: bytes per id, as `memory_bytes` counts them and as the resident
//!   set grew, filled event by event the way the partition's owner fills it:
//!   24 sealed buckets and the current one half full (`WINDOW_IDS` ids in all,
//!   default 10,000,000); then the current bucket full; then the second that
//!   seals it (the resident peak of that step too);
//! - `load`: ids per second through the `Loader`, `LOAD_IDS` pairs (default
//!   20,000,000) spread over the window;
//! - `lookup` (criterion): `check_and_insert` of a new id and of a duplicate,
//!   and `contains` of an absent one, in a full window of `LOOKUP_IDS` ids
//!   (default 10,000,000), beside the same look-ups in a map like today's
//!   index (`DashMap` from a 16-byte hash to a 4-byte expiry).
//!
//! `cargo bench --bench window` runs all three; name some to run only those.

use std::hash::{Hash, Hasher};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use dashmap::DashMap;
use hookgate::dedup::window::{Fingerprint, Loader, PartitionWindow, Seen};
use hookgate_testbed::figures::{env_count, rss_bytes};
use nohash_hasher::BuildNoHashHasher;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WINDOW: Duration = Duration::from_secs(72 * 3600);
const BUCKET: Duration = Duration::from_secs(3 * 3600);
const BUCKET_SECS: u32 = 3 * 3600;
/// A bucket boundary in 2027; the window's first bucket starts here.
const START: u32 = 1_800_000_000 - 1_800_000_000 % BUCKET_SECS;

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runs = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    if runs("memory") {
        memory(env_count("WINDOW_IDS", 10_000_000));
    }
    if runs("load") {
        load(env_count("LOAD_IDS", 20_000_000));
    }
    if runs("lookup") {
        let mut criterion = Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();
        lookup(&mut criterion, env_count("LOOKUP_IDS", 10_000_000));
        criterion.final_summary();
    }
}

/// The resident peak since the last [`reset_peak`], if the kernel tells.
fn peak_rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

fn fingerprint(rng: &mut StdRng) -> Fingerprint {
    Fingerprint::from_bytes(rng.random())
}

/// Fills a window event by event, `ids_per_bucket` evenly over each bucket
/// from START, up to (not including) second `until`; returns the number of
/// the next event.
fn fill(
    window: &mut PartitionWindow,
    rng: &mut StdRng,
    from_event: u64,
    until: u32,
    ids_per_bucket: u64,
) -> u64 {
    let mut event = from_event;
    loop {
        let at = START + (event * u64::from(BUCKET_SECS) / ids_per_bucket) as u32;
        if at >= until {
            return event;
        }
        let seen = window.check_and_insert(fingerprint(rng), at);
        debug_assert_eq!(seen, Seen::New);
        event += 1;
    }
}

fn report(what: &str, window: &PartitionWindow, grown: usize) {
    let ids = window.len();
    println!(
        "memory: {what}: {ids} ids in {} buckets: counted {:.1} MiB = {:.2} bytes per id; \
         resident set grew {:.1} MiB = {:.2} bytes per id",
        window.buckets(),
        mib(window.memory_bytes()),
        window.memory_bytes() as f64 / ids as f64,
        mib(grown),
        grown as f64 / ids as f64,
    );
}

fn memory(ids: usize) {
    let mut rng = StdRng::seed_from_u64(1);
    // 24 sealed buckets and half of the current one hold `ids`.
    let ids_per_bucket = (ids as f64 / 24.5) as u64;
    let before = rss_bytes();
    let mut window = PartitionWindow::new(WINDOW, BUCKET).expect("window");
    let started = Instant::now();
    let half = START + 24 * BUCKET_SECS + BUCKET_SECS / 2;
    let next = fill(&mut window, &mut rng, 0, half, ids_per_bucket);
    let elapsed = started.elapsed();
    report(
        "24 sealed buckets, the current one half full",
        &window,
        rss_bytes().saturating_sub(before),
    );
    println!(
        "memory: filled at {:.2} M check_and_insert per second (new ids, one thread)",
        next as f64 / elapsed.as_secs_f64() / 1e6
    );
    let end = START + 25 * BUCKET_SECS;
    fill(&mut window, &mut rng, next, end, ids_per_bucket);
    report(
        "24 sealed buckets, the current one full",
        &window,
        rss_bytes().saturating_sub(before),
    );
    let held = window.len();
    let peak_known = reset_peak();
    let sealing = Instant::now();
    window.check_and_insert(fingerprint(&mut rng), end);
    let sealed_in = sealing.elapsed();
    report(
        "its end passed: sealed, the oldest bucket dropped",
        &window,
        rss_bytes().saturating_sub(before),
    );
    match peak_rss_bytes().filter(|_| peak_known) {
        Some(peak) => println!(
            "memory: sealing took {:.0} ms; resident peak while sealing {:.1} MiB above the start = {:.2} bytes per id held before it",
            sealed_in.as_secs_f64() * 1e3,
            mib(peak.saturating_sub(before)),
            peak.saturating_sub(before) as f64 / held as f64,
        ),
        None => println!(
            "memory: sealing took {:.0} ms (no resident peak: /proc/self/clear_refs not writable)",
            sealed_in.as_secs_f64() * 1e3
        ),
    }
}

fn load(ids: usize) {
    let mut rng = StdRng::seed_from_u64(2);
    // Changelog order: by time, over 24 buckets and half of a 25th.
    let span = 24 * BUCKET_SECS + BUCKET_SECS / 2;
    let pairs: Vec<(Fingerprint, u32)> = (0..ids as u64)
        .map(|n| {
            let at = START + (n * u64::from(span) / ids as u64) as u32;
            (fingerprint(&mut rng), at)
        })
        .collect();
    let now = START + span;
    let before = rss_bytes();
    let peak_known = reset_peak();
    let started = Instant::now();
    let mut loader = Loader::new(WINDOW, BUCKET).expect("loader");
    for (fingerprint, at) in &pairs {
        loader.push(*fingerprint, *at);
    }
    let window = loader.finish(now);
    let elapsed = started.elapsed();
    let grown = rss_bytes().saturating_sub(before);
    let peak = peak_rss_bytes()
        .filter(|_| peak_known)
        .map(|p| format!("{:.1} MiB", mib(p.saturating_sub(before))))
        .unwrap_or_else(|| "unknown".into());
    println!(
        "load: {ids} ids in {:.2} s: {:.2} M ids per second; {} buckets, resident set grew {:.1} MiB ({:.2} bytes per id), peak {peak} above the start",
        elapsed.as_secs_f64(),
        ids as f64 / elapsed.as_secs_f64() / 1e6,
        window.buckets(),
        mib(grown),
        grown as f64 / ids as f64,
    );
    let missing = pairs
        .iter()
        .step_by(997)
        .filter(|(fingerprint, _)| !window.contains(*fingerprint, now))
        .count();
    assert_eq!(missing, 0, "every loaded id is found");
}

/// Today's index's map: a 16-byte hash, not hashed again, to an expiry.
#[derive(Clone, Copy, PartialEq, Eq)]
struct TodayKey([u8; 16]);

impl Hash for TodayKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

impl nohash_hasher::IsEnabled for TodayKey {}

fn lookup(c: &mut Criterion, ids: usize) {
    let mut rng = StdRng::seed_from_u64(3);
    let ids_per_bucket = (ids as f64 / 24.5) as u64;
    let now = START + 24 * BUCKET_SECS + BUCKET_SECS / 2;
    // The sealed buckets through the loader (quick), the current one's half
    // event by event, so it is a hash set as in service.
    let mut loader = Loader::new(WINDOW, BUCKET).expect("loader");
    let mut known = Vec::with_capacity(100_000);
    let sealed = ids_per_bucket * 24;
    let keep_every = (ids as u64 / 100_000).max(1);
    for n in 0..sealed {
        let id = fingerprint(&mut rng);
        if n.is_multiple_of(keep_every) {
            known.push(id);
        }
        loader.push(
            id,
            START + (n * u64::from(BUCKET_SECS) / ids_per_bucket) as u32,
        );
    }
    let mut window = loader.finish(START + 24 * BUCKET_SECS);
    let mut n = sealed;
    loop {
        let at = START + (n * u64::from(BUCKET_SECS) / ids_per_bucket) as u32;
        if at >= now {
            break;
        }
        let id = fingerprint(&mut rng);
        if n.is_multiple_of(keep_every) {
            known.push(id);
        }
        window.check_and_insert(id, at);
        n += 1;
    }
    println!(
        "lookup: {} ids in {} buckets ({:.2} bytes per id counted)",
        window.len(),
        window.buckets(),
        window.memory_bytes() as f64 / window.len() as f64
    );

    let mut group = c.benchmark_group(format!("window/lookup/{}M-ids", ids / 1_000_000));
    group.throughput(Throughput::Elements(1));
    group.bench_function("check_and_insert, new id", |b| {
        b.iter(|| window.check_and_insert(fingerprint(&mut rng), now))
    });
    let mut next = 0usize;
    group.bench_function("check_and_insert, duplicate", |b| {
        b.iter(|| {
            next = (next + 7919) % known.len();
            window.check_and_insert(known[next], now)
        })
    });
    group.bench_function("contains, absent", |b| {
        b.iter(|| window.contains(fingerprint(&mut rng), now))
    });
    group.bench_function(
        "a random fingerprint alone (the cost inside the rows above)",
        |b| b.iter(|| black_box(fingerprint(&mut rng))),
    );
    drop(window);

    let today: DashMap<TodayKey, u32, BuildNoHashHasher<TodayKey>> = DashMap::default();
    let mut today_known = Vec::with_capacity(100_000);
    for n in 0..ids {
        let key = TodayKey(rng.random());
        if (n as u64).is_multiple_of(keep_every) {
            today_known.push(key);
        }
        today.insert(key, now + 3600);
    }
    group.bench_function("today's map, get of an absent id", |b| {
        b.iter(|| today.get(&TodayKey(rng.random())).is_some())
    });
    group.bench_function("today's map, get of a known id", |b| {
        b.iter(|| {
            next = (next + 7919) % today_known.len();
            today.get(&today_known[next]).is_some()
        })
    });
    group.finish();
}
