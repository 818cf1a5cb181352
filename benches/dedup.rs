//! Dedup's figures, against a real broker started here (Apache Kafka with
//! `BROKER=kafka`, tansu otherwise):
//!
//! - `memory`: resident bytes per id the edge remembers, at 10 million ids;
//! - `load`: ids per second a dedup stage loads from the dedup topic when it
//!   takes partitions;
//! - `delay`: how long after the 2xx an event is on its topic, published by
//!   the dedup stage of the same process.
//!
//! `cargo bench --bench dedup` runs all three; name some to run only those, and
//! set `LOAD_IDS` (default 2,000,000) or `MEMORY_IDS` (default 10,000,000);
//! `TRANSACTIONS=off` runs `delay` without Kafka transactions.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookgate::config::{DedupConfig, Transactions};
use hookgate::dedup::stage::{self, StageSettings};
use hookgate::dedup::{Claimed, Dedup, IdHash, record};
use hookgate::pipeline::locate::EventId;
use hookgate::pipeline::source::SourceName;
use hookgate::verify::VerifierKind;
use hookgate_testbed::figures::{env_count, rss_bytes};
use hookgate_testbed::signing::{signed, source};
use hookgate_testbed::{Broker, GatewayBuilder, shared_kafka};
use http_body_util::Full;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
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
    if runs("load") || runs("delay") {
        let on_kafka = std::env::var("BROKER").is_ok_and(|b| b == "kafka");
        let tansu = (!on_kafka).then(|| runtime.block_on(Broker::start()));
        let bootstrap = match &tansu {
            Some(tansu) => tansu.bootstrap(),
            None => shared_kafka!().bootstrap(),
        };
        if runs("load") {
            runtime.block_on(load(&bootstrap, env_count("LOAD_IDS", 2_000_000)));
        }
        if runs("delay") {
            runtime.block_on(delay(&bootstrap, 300));
        }
    }
}

/// Claims and commits `ids` distinct ids through the edge's own calls.
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
            Ok(Claimed::Fresh(claim)) => claim.commit(SystemTime::now()),
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

/// A name no earlier run used, for this run's topics.
fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    format!("bench.{name}.{}.{nanos}", std::process::id())
}

/// Fills six partitions of a dedup topic with `ids` ids, then times a dedup
/// stage that takes all six until its windows hold them all.
async fn load(bootstrap: &str, ids: usize) {
    let config = DedupConfig {
        topic: unique("dedup"),
        intake_topic: unique("intake"),
        partitions: 6,
        ..DedupConfig::default()
    };
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", bootstrap);
    hookgate::dedup::topic::ensure(&client, &config)
        .await
        .expect("dedup topic");
    hookgate::dedup::topic::ensure_intake(&client, &config)
        .await
        .expect("intake topic");

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
    // Records as a stage writes them under load: a batch's ids of one
    // partition to a record.
    let ids_per_record = env_count("IDS_PER_RECORD", 500);
    let writer = record::WriterId::random();
    let mut by_partition: Vec<Vec<(IdHash, u32)>> = vec![Vec::new(); 6];
    let mut bytes = 0usize;
    let mut sequence = 0u64;
    for n in 0..ids {
        let id = EventId::new(&format!("evt_{n:012}")).expect("id");
        let hash = IdHash::of(&source, &id);
        let partition = hash.partition(6);
        let batch = &mut by_partition[partition as usize];
        batch.push((hash, now));
        if batch.len() < ids_per_record && n + 1 < ids {
            continue;
        }
        for (partition, batch) in by_partition.iter_mut().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let key = writer.ids_key(sequence);
            sequence += 1;
            let value = record::encode_ids(batch);
            batch.clear();
            bytes += key.len() + value.len();
            let mut record = BaseRecord::<str, [u8]>::to(&config.topic)
                .partition(partition as i32)
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
    }
    producer
        .flush(Timeout::After(Duration::from_secs(120)))
        .expect("flush");
    println!(
        "load: {ids} ids, up to {ids_per_record} to a record: {:.1} bytes per id of key and value, written in {:.1} s",
        bytes as f64 / ids as f64,
        started.elapsed().as_secs_f64()
    );

    let before = rss_bytes();
    let started = Instant::now();
    let settings = StageSettings {
        intake_topic: config.intake_topic.clone(),
        changelog_topic: config.topic.clone(),
        group: unique("group"),
        instance_id: None,
        window: config.window,
        session_timeout: Duration::from_secs(10),
        batch_max: 500,
        transactions: Transactions::Auto,
    };
    let runtime = tokio::runtime::Handle::current();
    let stage = tokio::task::spawn_blocking(move || stage::spawn(&client, settings, runtime))
        .await
        .expect("join")
        .expect("stage");
    while stage
        .counts
        .entries
        .load(std::sync::atomic::Ordering::Relaxed)
        < ids
    {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the stage never loaded {ids} ids"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    println!(
        "load: a stage joined the group and loaded {ids} ids in {:.2} s: {:.0} ids per second \
         (resident memory grew {:.1} MiB: {:.1} bytes per id)",
        elapsed.as_secs_f64(),
        ids as f64 / elapsed.as_secs_f64(),
        rss_bytes().saturating_sub(before) as f64 / (1 << 20) as f64,
        rss_bytes().saturating_sub(before) as f64 / ids as f64,
    );
    let _ = tokio::task::spawn_blocking(move || stage.stop()).await;
}

/// One gateway (edge and stage): `rounds` events, one at a time, each timed
/// from its 2xx until a consumer of its topic reads it.
async fn delay(bootstrap: &str, rounds: usize) {
    let events = unique("events");
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", bootstrap);
    let dir = tempfile::tempdir().expect("dir");
    // The dedup stage's topics and group are named after the event topic.
    let gateway = GatewayBuilder::new(bootstrap)
        .dedup(&format!(
            "transactions = \"{}\"",
            std::env::var("TRANSACTIONS").unwrap_or_else(|_| "auto".into())
        ))
        .sources(&source(dir.path(), "bench", VerifierKind::Github, &events))
        .without_logs()
        .start()
        .await;
    let consumer: BaseConsumer = client
        .clone()
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "1")
        .set(
            "isolation.level",
            std::env::var("ISOLATION").unwrap_or_else(|_| "read_committed".into()),
        )
        .create()
        .expect("consumer");
    // The topic exists once the gateway made it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    consumer.subscribe(&[&events]).expect("subscribe");
    let mut delays = Vec::with_capacity(rounds);
    for n in 0..rounds {
        let id = format!("delay-{n}");
        let response = gateway.app().gateway().handle(signed_request(&id)).await;
        assert_eq!(response.status(), 200, "{id} accepted");
        let answered = Instant::now();
        loop {
            assert!(
                answered.elapsed() < Duration::from_secs(60),
                "{id} never reached its topic"
            );
            match consumer.poll(Duration::from_millis(1)) {
                Some(Ok(message)) if message.key() == Some(id.as_bytes()) => break,
                _ => {}
            }
        }
        delays.push(answered.elapsed());
    }
    delays.sort();
    let at = |q: f64| delays[((delays.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "delay: {rounds} events one at a time, from the 2xx until a consumer reads it: \
         p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    gateway.stop().await;
}

/// A GitHub delivery of event `id` to the bench source, signed.
fn signed_request(id: &str) -> http::Request<Full<Bytes>> {
    let body = format!("{{\"id\":\"{id}\"}}");
    let mut request = http::Request::builder()
        .method("POST")
        .uri("/webhooks/bench");
    for (name, value) in signed(VerifierKind::Github, id, body.as_bytes()) {
        request = request.header(name, value);
    }
    request.body(Full::new(Bytes::from(body))).expect("request")
}
