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
    use hookgate::config::Config;
    use hookgate::verify::{self, SchemeOptions, VerifierKind};
    use http_body_util::Full;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("hookgate-bench-request-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("bench.secret"), "bench-secret").expect("secret");
    let text = "[kafka]\nbrokers = \"null\"\n[metrics]\nenabled = false\n\
                [[sources]]\nname = \"bench\"\npath = \"/bench\"\nverifier = \"github\"\n\
                secrets = [\"file:bench.secret\"]\ntopic = \"bench\"\n";
    let mut config = Config::parse(text).expect("config");
    config.base_dir = dir.clone();
    let app = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        hookgate::app::start(&config, listener)
            .await
            .expect("start")
    });
    let request = |id: &str| {
        let body = format!("{{\"id\":\"{id}\",\"pad\":\"{}\"}}", "x".repeat(1000));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        let signed = verify::sign(
            VerifierKind::Github,
            b"bench-secret",
            body.as_bytes(),
            id,
            now,
            SchemeOptions::default(),
        )
        .expect("sign");
        let mut request = http::Request::post("/bench");
        for (name, value) in signed.headers {
            request = request.header(name, value);
        }
        request
            .body(Full::new(Bytes::from(signed.body)))
            .expect("request")
    };
    let mut group = c.benchmark_group("request/null_publisher");
    let gateway = std::sync::Arc::clone(app.gateway());
    let next = std::sync::Arc::new(AtomicU64::new(0));
    // The loop runs inside the runtime, as the server's connection tasks do;
    // each iteration also signs its request (about 1.5 µs, see the verify bench).
    let mut timed = |name: &str, duplicate: bool| {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (gateway, next) = (
                    std::sync::Arc::clone(&gateway),
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
                        let response = gateway.handle(request(&id)).await;
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
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, event_id, dedup, request);
criterion_main!(benches);
