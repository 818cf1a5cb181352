//! The request path's own costs, without sockets or Kafka:
//! - event-id extraction from JSON bodies of growing size (the streaming
//!   pointer lookup that skips what it does not need);
//! - a dedup claim and commit, on one thread and contended by several;
//! - the whole request path in process (verify, id, dedup, a publisher that
//!   keeps nothing, response), for a new event and for a duplicate.
//!
//! `cargo bench --bench pipeline`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hookgate::config::DedupConfig;
use hookgate::dedup::{Claimed, Dedup};
use hookgate::pipeline::locate::{EventId, Locator};
use hookgate::pipeline::source::SourceName;
use http::HeaderMap;

fn json_body(size: usize) -> Vec<u8> {
    // The id comes last, after `size` bytes of nested data to skip.
    let mut body = String::from("{\"data\":{\"items\":[");
    let mut n = 0;
    while body.len() < size {
        body.push_str(&format!(
            "{{\"n\":{n},\"text\":\"lorem ipsum dolor sit amet\"}},"
        ));
        n += 1;
    }
    body.push_str("{}]},\"id\":\"evt_1234567890\"}");
    body.into_bytes()
}

fn event_id(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_id/json");
    let pointer = Locator::parse("json:/id").expect("pointer");
    let headers = HeaderMap::new();
    for size in [256, 1024, 16 * 1024, 1024 * 1024] {
        let body = json_body(size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &body, |b, body| {
            b.iter(|| pointer.extract(&headers, black_box(body)).expect("id"));
        });
    }
    group.finish();
}

fn dedup(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let config = DedupConfig {
        max_entries: 50_000_000,
        ..DedupConfig::default()
    };
    let source = SourceName::new("bench");
    let mut group = c.benchmark_group("dedup");

    let single = Dedup::in_memory(&config, Duration::from_secs(5));
    let next = AtomicU64::new(0);
    group.bench_function("claim_commit/one_thread", |b| {
        b.iter(|| {
            let id =
                EventId::new(&format!("evt_{}", next.fetch_add(1, Ordering::Relaxed))).expect("id");
            runtime.block_on(async {
                if let Ok(Claimed::Fresh(claim)) = single.claim(&source, &id).await {
                    claim.commit(SystemTime::now());
                }
            });
        });
    });

    let duplicate = EventId::new("evt_seen").expect("id");
    runtime.block_on(async {
        if let Ok(Claimed::Fresh(claim)) = single.claim(&source, &duplicate).await {
            claim.commit(SystemTime::now());
        }
    });
    group.bench_function("claim/duplicate", |b| {
        b.iter(|| runtime.block_on(single.claim(&source, black_box(&duplicate))));
    });

    // Eight tasks on the two workers claim and commit distinct ids at once.
    let shared = Arc::new(Dedup::in_memory(&config, Duration::from_secs(5)));
    let counter = Arc::new(AtomicU64::new(0));
    group.throughput(Throughput::Elements(8 * 256));
    group.bench_function("claim_commit/contended_8x256", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let tasks: Vec<_> = (0..8)
                    .map(|_| {
                        let (dedup, counter, source) =
                            (Arc::clone(&shared), Arc::clone(&counter), source.clone());
                        tokio::spawn(async move {
                            for _ in 0..256 {
                                let n = counter.fetch_add(1, Ordering::Relaxed);
                                let id = EventId::new(&format!("c_{n}")).expect("id");
                                if let Ok(Claimed::Fresh(claim)) = dedup.claim(&source, &id).await {
                                    claim.commit(SystemTime::now());
                                }
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("task");
                }
            });
        });
    });
    group.finish();
}

fn request(c: &mut Criterion) {
    use bytes::Bytes;
    use hookgate::verify::VerifierKind;
    use hookgate_testbed::GatewayBuilder;
    use hookgate_testbed::signing::{signed, source};
    use http_body_util::Full;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let gateway = runtime.block_on(
        GatewayBuilder::new("null")
            .sources(&source(dir.path(), "bench", VerifierKind::Github, "bench"))
            .without_logs()
            .start(),
    );
    let request = |id: &str| {
        let body = format!("{{\"id\":\"{id}\",\"pad\":\"{}\"}}", "x".repeat(1000));
        let mut request = http::Request::post("/webhooks/bench");
        for (name, value) in signed(VerifierKind::Github, id, body.as_bytes()) {
            request = request.header(name, value);
        }
        request.body(Full::new(Bytes::from(body))).expect("request")
    };
    let mut group = c.benchmark_group("request/null_publisher");
    let handler = std::sync::Arc::clone(gateway.app().gateway());
    let next = std::sync::Arc::new(AtomicU64::new(0));
    // The loop runs inside the runtime, as the server's connection tasks do;
    // each iteration also signs its request (about 1.5 µs, see the verify bench).
    let mut timed = |name: &str, duplicate: bool| {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (handler, next) = (
                    std::sync::Arc::clone(&handler),
                    std::sync::Arc::clone(&next),
                );
                let task = runtime.spawn(async move {
                    let started = std::time::Instant::now();
                    for _ in 0..iters {
                        let id = if duplicate {
                            "evt_0".to_owned()
                        } else {
                            format!("evt_{}", next.fetch_add(1, Ordering::Relaxed))
                        };
                        let response = handler.handle(request(&id)).await;
                        assert_eq!(response.status(), 200);
                    }
                    started.elapsed()
                });
                runtime.block_on(task).expect("join")
            });
        });
    };
    timed("new_event_1KiB", false);
    timed("duplicate_1KiB", true);
    group.finish();
}

criterion_group!(benches, event_id, dedup, request);
criterion_main!(benches);
