//! The durable dedup's three figures, against a real tansu broker started here:
//!
//! - `memory`: resident bytes per remembered id, at 10 million ids;
//! - `replay`: ids loaded per second by the start-up replay of the dedup topic;
//! - `propagation`: how long after replica A answered 2xx replica B knows the id.
//!
//! `cargo bench --bench dedup` runs all three; name some to run only those, and
//! set `REPLAY_IDS` (default 2,000,000) or `MEMORY_IDS` (default 10,000,000).

#[path = "../tests/it/broker.rs"]
#[allow(dead_code)]
mod broker;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookgate::app::{self, App};
use hookgate::config::{Config, DedupConfig};
use hookgate::dedup::journal::Journal;
use hookgate::dedup::{Claimed, Dedup, IdHash, reader, record};
use hookgate::health::Health;
use hookgate::locate::EventId;
use hookgate::publish::KafkaPublisher;
use hookgate::source::SourceName;
use hookgate::verify::{self, VerifierKind};
use http_body_util::Full;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::util::Timeout;

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runs = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if runs("memory") {
        runtime.block_on(memory(env_count("MEMORY_IDS", 10_000_000)));
    }
    if runs("replay") {
        runtime.block_on(replay(env_count("REPLAY_IDS", 2_000_000)));
    }
    if runs("propagation") {
        runtime.block_on(propagation(200));
    }
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// Claims and commits `ids` distinct ids through the request path's own calls.
async fn memory(ids: usize) {
    let config = DedupConfig {
        max_entries: ids * 2,
        ..DedupConfig::default()
    };
    let dedup = Dedup::in_memory(&config, Duration::from_secs(5));
    let source = SourceName::new("bench");
    let before = rss_bytes();
    let started = Instant::now();
    for n in 0..ids {
        let id = EventId::new(&format!("evt_{n:012}")).expect("id");
        match dedup.claim(&source, &id).await {
            Ok(Claimed::Fresh(claim)) => claim.commit(SystemTime::now()).await.expect("commit"),
            other => panic!("id {n} not fresh: {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    let grown = rss_bytes().saturating_sub(before);
    println!(
        "memory: {ids} ids remembered, resident memory grew {:.1} MiB: {:.1} bytes per id \
         ({:.0} claim+commit per second, one task)",
        grown as f64 / (1 << 20) as f64,
        grown as f64 / ids as f64,
        ids as f64 / elapsed.as_secs_f64()
    );
}

/// Fills a dedup topic with `ids` records, then times a fresh replica's replay.
async fn replay(ids: usize) {
    let broker = broker::Broker::start().await;
    let config = DedupConfig {
        topic: "bench.dedup".into(),
        partitions: 6,
        ..DedupConfig::default()
    };
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", broker.bootstrap());
    hookgate::dedup::topic::ensure(&client, &config)
        .await
        .expect("dedup topic");

    let started = Instant::now();
    let producer: ThreadedProducer<DefaultProducerContext> = client
        .clone()
        .set("linger.ms", "50")
        .set("batch.num.messages", "100000")
        .set("batch.size", "4000000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "2000000")
        .create()
        .expect("producer");
    let source = SourceName::new("bench");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as u32;
    // Records as the journal writes them under load: many ids to a record.
    let ids_per_record = env_count("IDS_PER_RECORD", 512);
    let writer = record::WriterId::random();
    let mut batch = Vec::with_capacity(ids_per_record);
    let mut bytes = 0usize;
    for n in 0..ids {
        let id = EventId::new(&format!("evt_{n:012}")).expect("id");
        batch.push((IdHash::of(&source, &id), now));
        if batch.len() < ids_per_record && n + 1 < ids {
            continue;
        }
        let key = writer.ids_key(n as u64);
        let value = record::encode_ids(&batch);
        batch.clear();
        bytes += key.len() + value.len();
        let mut record = BaseRecord::<str, [u8]>::to(&config.topic)
            .key(&key)
            .payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, again)) => {
                    record = again;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    producer
        .flush(Timeout::After(Duration::from_secs(120)))
        .expect("flush");
    println!(
        "replay: {ids} ids, {ids_per_record} to a record: {:.1} bytes per id of key and value",
        bytes as f64 / ids as f64
    );
    println!(
        "replay: wrote {ids} dedup records in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let kafka = Config::parse(&format!("[kafka]\nbrokers = \"{}\"", broker.bootstrap()))
        .expect("config")
        .kafka;
    let publisher = KafkaPublisher::new(&kafka, &broker.bootstrap()).expect("producer");
    let journal = Journal::start(
        publisher.shared_producer(),
        &config.topic,
        kafka.produce_timeout(),
    );
    let dedup = Dedup::on_topic(
        &DedupConfig {
            max_entries: ids * 2,
            ..config.clone()
        },
        Duration::from_secs(5),
        journal,
    );
    let health = Arc::new(Health::default());
    let before = rss_bytes();
    let started = Instant::now();
    let handle =
        reader::spawn(client, &config, false, dedup.clone(), Arc::clone(&health)).expect("reader");
    while !health.is_dedup_loaded() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    handle.stop();
    let last = EventId::new(&format!("evt_{:012}", ids - 1)).expect("id");
    assert!(dedup.knows(&source, &last), "the last id was loaded");
    println!(
        "replay: loaded {ids} ids in {:.2} s: {:.0} ids per second (resident memory grew {:.1} MiB)",
        elapsed.as_secs_f64(),
        ids as f64 / elapsed.as_secs_f64(),
        rss_bytes().saturating_sub(before) as f64 / (1 << 20) as f64
    );
}

/// Two replicas on one broker: each id accepted by A, then the time until B
/// knows it, sampled `rounds` times.
async fn propagation(rounds: usize) {
    let broker = broker::Broker::start().await;
    broker.create_topic("bench.events").await;
    let dir = std::env::temp_dir().join(format!("hookgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("bench.secret"), "bench-secret").expect("secret");
    let text = format!(
        "[kafka]\nbrokers = \"{}\"\n[metrics]\nenabled = false\n\
         [[sources]]\nname = \"bench\"\npath = \"/bench\"\nverifier = \"github\"\n\
         secrets = [\"file:bench.secret\"]\ntopic = \"bench.events\"\n",
        broker.bootstrap()
    );
    let mut config = Config::parse(&text).expect("config");
    config.base_dir = dir.clone();
    let start = |config: Config| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        app::start(&config, listener).await.expect("start")
    };
    let a: App = start(config.clone()).await;
    let b: App = start(config.clone()).await;
    while !(a.health().is_dedup_loaded() && b.health().is_dedup_loaded()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let source = SourceName::new("bench");
    let mut delays = Vec::with_capacity(rounds);
    for n in 0..rounds {
        let id = format!("prop-{n}");
        let request = signed_request(&id);
        let response = a.gateway().handle(request).await;
        assert_eq!(response.status(), 200, "A accepts {id}");
        let answered = Instant::now();
        let event_id = EventId::new(&id).expect("id");
        while !b.dedup().knows(&source, &event_id) {
            assert!(
                answered.elapsed() < Duration::from_secs(10),
                "B never learned {id}"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        delays.push(answered.elapsed());
        // Spread the samples over the writer's and the reader's cycles.
        tokio::time::sleep(Duration::from_millis(7)).await;
    }
    delays.sort();
    let at = |q: f64| delays[((delays.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "propagation: {rounds} ids, from A's 2xx until B knows the id: \
         p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

fn signed_request(id: &str) -> http::Request<Full<Bytes>> {
    let body = format!("{{\"id\":\"{id}\"}}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let headers = verify::sign(
        VerifierKind::Github,
        b"bench-secret",
        body.as_bytes(),
        id,
        now,
        verify::SchemeOptions::default(),
    )
    .expect("sign")
    .headers;
    let mut request = http::Request::builder().method("POST").uri("/bench");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.body(Full::new(Bytes::from(body))).expect("request")
}
