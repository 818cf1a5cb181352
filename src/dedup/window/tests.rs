use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const WINDOW: u32 = 3600;
const BUCKET: u32 = 600;
/// A bucket boundary.
const T: u32 = 1_800_000_000 - 1_800_000_000 % BUCKET;

fn window() -> PartitionWindow {
    PartitionWindow::new(
        Duration::from_secs(WINDOW.into()),
        Duration::from_secs(BUCKET.into()),
    )
    .expect("window")
}

fn loader() -> Loader {
    Loader::new(
        Duration::from_secs(WINDOW.into()),
        Duration::from_secs(BUCKET.into()),
    )
    .expect("loader")
}

fn fp(n: u32) -> Fingerprint {
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&n.wrapping_mul(0x9e37_79b9).to_be_bytes());
    bytes[8..].copy_from_slice(&n.to_le_bytes());
    Fingerprint(bytes)
}

fn random_fingerprints(rng: &mut StdRng, count: usize) -> Vec<Fingerprint> {
    (0..count)
        .map(|_| Fingerprint::from_bytes(rng.random()))
        .collect()
}

#[test]
fn spans_are_checked() {
    let secs = Duration::from_secs;
    assert_eq!(
        PartitionWindow::new(secs(60), Duration::from_millis(500)).err(),
        Some(WindowError::BucketTooShort(Duration::from_millis(500)))
    );
    assert!(matches!(
        PartitionWindow::new(secs(60), secs(61)),
        Err(WindowError::BucketLongerThanWindow { .. })
    ));
    assert!(matches!(
        PartitionWindow::new(secs(0), secs(1)),
        Err(WindowError::WindowOutOfRange(_))
    ));
    assert_eq!(default_bucket(secs(72 * 3600)), secs(3 * 3600));
    assert_eq!(default_bucket(secs(10)), secs(1));
}

#[test]
fn the_fingerprint_is_the_id_hash_s_first_12_bytes() {
    let id = IdHash::of_key(b"github/evt_1");
    assert_eq!(Fingerprint::from(id).as_bytes()[..], id.0[..12]);
}

#[test]
fn an_id_is_a_duplicate_in_the_current_bucket_and_once_sealed() {
    let mut window = window();
    assert_eq!(window.check_and_insert(fp(1), T + 10), Seen::New);
    assert_eq!(window.check_and_insert(fp(1), T + 20), Seen::Duplicate);
    // Time passes the bucket's end: it is sealed into a sorted array.
    assert_eq!(window.check_and_insert(fp(2), T + BUCKET + 5), Seen::New);
    let first = &window.buckets[0];
    assert_eq!((first.sorted.len(), first.recent.len()), (1, 0));
    assert_eq!(
        window.check_and_insert(fp(1), T + BUCKET + 6),
        Seen::Duplicate
    );
    assert_eq!(
        window.check_and_insert(fp(2), T + BUCKET + 7),
        Seen::Duplicate
    );
    assert_eq!(window.check_and_insert(fp(3), T + BUCKET + 8), Seen::New);
    assert_eq!((window.len(), window.buckets()), (3, 2));
}

#[test]
fn an_id_is_remembered_for_the_window_and_at_most_one_bucket_more() {
    let mut window = window();
    let early = T; // the bucket's first second
    let late = T + BUCKET - 1; // its last
    window.insert(fp(1), early);
    window.insert(fp(2), late);
    let end = T + BUCKET;
    for (id, at) in [(fp(1), early), (fp(2), late)] {
        assert!(window.contains(id, at + WINDOW - 1), "within the window");
        assert!(
            window.contains(id, end + WINDOW - 1),
            "until the bucket's edge"
        );
        assert!(!window.contains(id, end + WINDOW), "gone past it");
    }
    assert_eq!(
        window.check_and_insert(fp(1), end + WINDOW - 1),
        Seen::Duplicate
    );
    assert_eq!(window.check_and_insert(fp(1), end + WINDOW), Seen::New);
}

#[test]
fn expiry_drops_whole_buckets_and_only_those() {
    let mut window = window();
    // Three ids in each of the 6 buckets a window spans.
    for n in 0..18 {
        window.insert(fp(n), T + (n / 3) * BUCKET + n % 3);
    }
    assert_eq!((window.len(), window.buckets()), (18, 6));
    // The first two buckets end at T + 2 × BUCKET.
    let now = T + 2 * BUCKET + WINDOW;
    assert_eq!(window.expire(now), 6);
    assert_eq!((window.len(), window.buckets()), (12, 4));
    assert!((0..6).all(|n| !window.contains(fp(n), now)));
    assert!((6..18).all(|n| window.contains(fp(n), now)));
    // An earlier `now` changes nothing.
    assert_eq!(window.expire(T), 0);
    assert_eq!(window.len(), 12);
    // Every bucket time has passed is sealed.
    assert!(window.buckets.iter().all(|bucket| bucket.recent.is_empty()));
}

#[test]
fn a_late_event_lands_in_its_own_bucket() {
    let mut window = window();
    assert_eq!(window.check_and_insert(fp(1), T + 3 * BUCKET), Seen::New);
    // Two buckets late, and into a bucket that did not exist yet.
    assert_eq!(window.check_and_insert(fp(2), T + BUCKET), Seen::New);
    assert_eq!(
        window.check_and_insert(fp(2), T + 3 * BUCKET),
        Seen::Duplicate
    );
    assert_eq!(window.check_and_insert(fp(1), T + BUCKET), Seen::Duplicate);
    assert_eq!(window.buckets(), 2);
    // It leaves with its own bucket, before the one that was current.
    let now = T + 2 * BUCKET + WINDOW;
    assert_eq!(window.expire(now), 1);
    assert!(!window.contains(fp(2), now));
    assert!(window.contains(fp(1), now));
}

#[test]
fn an_event_older_than_the_window_is_new_and_not_remembered() {
    let mut window = window();
    window.insert(fp(1), T + 10 * BUCKET);
    let old = T + 10 * BUCKET - WINDOW - BUCKET;
    assert_eq!(window.check_and_insert(fp(2), old), Seen::New);
    assert!(!window.insert(fp(2), old));
    assert_eq!((window.len(), window.buckets()), (1, 1));
}

#[test]
fn many_late_events_are_folded_into_their_sealed_bucket() {
    let mut window = window();
    let mut rng = StdRng::seed_from_u64(7);
    let late = random_fingerprints(&mut rng, 3 * LATE_SEAL_MIN);
    window.insert(fp(0), T);
    window.insert(fp(1), T + BUCKET);
    for id in &late {
        assert_eq!(window.check_and_insert(*id, T + 1), Seen::New);
    }
    let first = &window.buckets[0];
    assert!(first.sorted.len() > LATE_SEAL_MIN, "folded at least once");
    assert!(first.recent.len() <= LATE_SEAL_MIN);
    assert_eq!(window.len(), late.len() + 2);
    assert!(late.iter().all(|id| window.contains(*id, T + BUCKET)));
    assert!(window.contains(fp(0), T + BUCKET));
}

#[test]
fn the_loader_gives_the_answers_of_inserting_one_by_one() {
    let mut rng = StdRng::seed_from_u64(42);
    let ids = random_fingerprints(&mut rng, 5000);
    let newest = T + 20 * BUCKET;
    // Times over twice the window, in no order, some ids more than once.
    let pairs: Vec<(Fingerprint, u32)> = ids
        .iter()
        .chain(ids.iter().take(300))
        .map(|id| (*id, newest - rng.random_range(0..2 * WINDOW)))
        .collect();
    let mut one_by_one = window();
    let mut loader = loader();
    for (id, at) in &pairs {
        one_by_one.insert(*id, *at);
        loader.push(*id, *at);
    }
    let mut loaded = loader.finish(newest);
    assert_eq!(loaded.buckets(), one_by_one.buckets());
    let absent = random_fingerprints(&mut rng, 1000);
    for now in [
        newest,
        newest + BUCKET,
        newest + WINDOW / 2,
        newest + WINDOW,
    ] {
        for id in ids.iter().chain(&absent) {
            assert_eq!(loaded.contains(*id, now), one_by_one.contains(*id, now));
        }
    }
    // And they go on the same way.
    let more = random_fingerprints(&mut rng, 1000);
    for (n, id) in more.iter().chain(&ids[..1000]).enumerate() {
        let at = newest + n as u32;
        assert_eq!(
            loaded.check_and_insert(*id, at),
            one_by_one.check_and_insert(*id, at)
        );
    }
    let now = newest + 2000;
    assert_eq!(loaded.expire(now), one_by_one.expire(now));
    assert!(
        ids.iter()
            .all(|id| loaded.contains(*id, now) == one_by_one.contains(*id, now))
    );
}

#[test]
fn the_loader_keeps_a_repeated_id_once() {
    let mut loader = loader();
    loader.push(fp(1), T);
    loader.push(fp(1), T + 1);
    loader.push(fp(2), T + 2);
    let window = loader.finish(T + 3);
    assert_eq!(window.len(), 2);
}

#[test]
fn sorted_arrays_of_every_table_width_find_exactly_their_ids() {
    let mut rng = StdRng::seed_from_u64(3);
    let ids = random_fingerprints(&mut rng, 3000);
    let absent = random_fingerprints(&mut rng, 3000);
    let mut expected = ids.clone();
    expected.sort_unstable();
    for bits in [0, 5, 8, 13, 16, 21, 24] {
        let sorted = Sorted::build_with_bits(bits, || ids.iter().copied());
        assert_eq!(sorted.stride(), 12 - (bits / 8) as usize);
        assert_eq!(sorted.len(), ids.len());
        assert!(ids.iter().all(|id| sorted.contains(id)), "bits {bits}");
        assert!(!absent.iter().any(|id| sorted.contains(id)), "bits {bits}");
        assert_eq!(sorted.iter().collect::<Vec<_>>(), expected, "bits {bits}");
    }
}

#[test]
fn the_table_width_keeps_ids_small_and_slots_short() {
    assert_eq!(table_bits(0), 0);
    assert_eq!(table_bits(8), 0);
    // 100 k ids: 14 bits (11-byte tails) beats 16 (10-byte tails, 4× the table).
    assert_eq!(table_bits(100_000), 14);
    // 8.3 M ids, a 3 h bucket at 200 M ids a window: 10-byte tails.
    let bits = table_bits(8_333_333);
    assert_eq!((bits, stride(bits)), (20, 10));
}

#[test]
fn memory_is_counted_for_arrays_and_hash_sets() {
    let mut window = window();
    for n in 0..1000 {
        window.insert(fp(n), T);
    }
    let fixed = std::mem::size_of::<PartitionWindow>()
        + window.buckets.capacity() * std::mem::size_of::<Bucket>();
    // 1000 ids in a table of 2048 slots of 13 bytes, and a group of control bytes.
    assert_eq!(window.memory_bytes() - fixed, 2048 * 13 + 16);
    window.expire(T + BUCKET);
    // Sealed: 11-byte tails behind a table of 256 slots.
    assert_eq!(window.memory_bytes() - fixed, 1000 * 11 + 257 * 4);
}
