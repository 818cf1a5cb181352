//! The durable dedup: restarts, replicas, the window, the topic's settings,
//! compaction, damaged records and an unreachable broker. Against Apache
//! Kafka (each test with its own event and dedup topics), except the replay
//! past a lagging high watermark, which only tansu's reporting shows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hookgate::config::DedupConfig;
use hookgate::dedup::{IdHash, record};
use hookgate::locate::EventId;
use hookgate::source::SourceName;
use hookgate::verify::VerifierKind;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::{body_with_id, signed, source};
use crate::broker::{Kafka, create_topic};
use crate::harness::{
    Broker, Hookgate, Process, Record, client, consume, free_port, send, topic, try_get, try_send,
};

const KIND: VerifierKind = VerifierKind::Github;

/// Sends a signed delivery of event `id` and returns hookgate's `status` word
/// (`accepted`, `duplicate`) or the HTTP status of a refusal.
async fn deliver(url: &str, id: &str) -> String {
    let body = body_with_id(id);
    let reply = send(&client(), "POST", url, &signed(KIND, id, &body), body).await;
    match reply.body["status"].as_str() {
        Some(word) if reply.status == 200 => word.to_owned(),
        _ => format!("{} {}", reply.status, reply.body),
    }
}

/// Delivers every id of `ids`, `at_once` at a time, and returns each answer's
/// `status` word, by id.
async fn deliver_all(url: &str, ids: &[String], at_once: usize) -> HashMap<String, String> {
    let mut answers = HashMap::new();
    for chunk in ids.chunks(at_once) {
        let sent: Vec<_> = chunk
            .iter()
            .map(|id| {
                let (url, id) = (url.to_owned(), id.clone());
                tokio::spawn(async move {
                    let answer = deliver(&url, &id).await;
                    (id, answer)
                })
            })
            .collect();
        for task in sent {
            let (id, answer) = task.await.expect("delivery task");
            answers.insert(id, answer);
        }
    }
    answers
}

/// Delivers every id again through `url` and fails, naming them, on any that
/// is not answered `duplicate`.
async fn assert_remembered(url: &str, ids: &[String], what: &str) {
    let answers = deliver_all(url, ids, 16).await;
    let forgotten: Vec<_> = answers
        .iter()
        .filter(|(_, answer)| *answer != "duplicate")
        .collect();
    assert!(
        forgotten.is_empty(),
        "{what}: {} of {} ids were forgotten: {forgotten:?}",
        forgotten.len(),
        ids.len()
    );
}

/// How many records of `records` carry each key.
fn copies_by_key(records: &[Record]) -> HashMap<String, usize> {
    let mut copies = HashMap::new();
    for record in records {
        let key = String::from_utf8_lossy(record.key.as_deref().unwrap_or_default()).into_owned();
        *copies.entry(key).or_default() += 1;
    }
    copies
}

/// Where a dedup test runs: the shared Apache Kafka broker, an event topic
/// and a dedup topic of its own, and a GitHub source on them.
struct Bed {
    kafka: &'static Kafka,
    events: String,
    dedup_topic: String,
    sources: String,
    _dir: tempfile::TempDir,
}

impl Bed {
    async fn new(test: &str) -> Self {
        let kafka = Kafka::shared();
        let events = topic(test);
        kafka.create_topic(&events).await;
        let dir = tempfile::tempdir().expect("tempdir");
        Self {
            kafka,
            sources: source(dir.path(), "github", KIND, &events),
            events,
            dedup_topic: topic(&format!("{test}-dedup")),
            _dir: dir,
        }
    }

    fn bootstrap(&self) -> String {
        self.kafka.bootstrap()
    }

    /// The `[dedup]` table: the test's own topic, and `more` settings.
    fn dedup(&self, more: &str) -> String {
        format!("[dedup]\ntopic = \"{}\"\n{more}", self.dedup_topic)
    }

    async fn gateway(&self) -> Process {
        Process::start(&self.bootstrap(), &self.dedup(""), &self.sources).await
    }
}

/// A tansu broker with one event topic, and the `[[sources]]` TOML of a
/// GitHub source on it.
async fn tansu_with_source(test: &str) -> (Broker, String, tempfile::TempDir) {
    let broker = Broker::start().await;
    let events = topic(test);
    broker.create_topic(&events).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sources = source(dir.path(), "github", KIND, &events);
    (broker, sources, dir)
}

const PATH: &str = "/webhooks/github";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_restart_is_a_duplicate() {
    let bed = Bed::new("restart").await;
    let first = bed.gateway().await;
    assert_eq!(deliver(&first.url(PATH), "evt-before").await, "accepted");
    first.stop();

    let second = bed.gateway().await;
    assert_eq!(deliver(&second.url(PATH), "evt-before").await, "duplicate");
    assert_eq!(deliver(&second.url(PATH), "evt-after").await, "accepted");
    let log = second.stop();
    assert!(log.contains("dedup index loaded: ready"), "{log}");

    let records = consume(&bed.bootstrap(), &bed.events, 2, Duration::from_millis(500)).await;
    let keys: Vec<_> = records
        .iter()
        .map(|r| r.key.clone().unwrap_or_default())
        .collect();
    assert_eq!(keys, [b"evt-before".to_vec(), b"evt-after".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_dedup_each_others_retries() {
    let bed = Bed::new("replicas").await;
    let a = bed.gateway().await;
    let b = bed.gateway().await;

    assert_eq!(deliver(&a.url(PATH), "evt-via-a").await, "accepted");
    b.await_metric("hookgate_dedup_learned_total", 1.0).await;
    assert_eq!(deliver(&b.url(PATH), "evt-via-a").await, "duplicate");

    assert_eq!(deliver(&b.url(PATH), "evt-via-b").await, "accepted");
    a.await_metric("hookgate_dedup_learned_total", 1.0).await;
    assert_eq!(deliver(&a.url(PATH), "evt-via-b").await, "duplicate");

    a.stop();
    b.stop();
    let records = consume(&bed.bootstrap(), &bed.events, 2, Duration::from_millis(500)).await;
    assert_eq!(records.len(), 2, "each event published once: {records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_older_than_the_window_are_accepted_again() {
    let bed = Bed::new("window").await;
    // The index keeps whole seconds: a window of 4 s holds an id for at least
    // 3 s, time enough for the first two deliveries on a loaded machine.
    let window = bed.dedup("window = \"4s\"\n");
    let gateway = Hookgate::start_with(&bed.bootstrap(), 5000, &window, &bed.sources).await;
    let url = gateway.url(PATH);
    assert_eq!(deliver(&url, "evt-aging").await, "accepted");
    assert_eq!(deliver(&url, "evt-aging").await, "duplicate");
    tokio::time::sleep(Duration::from_millis(4100)).await;
    assert_eq!(deliver(&url, "evt-aging").await, "accepted");
    gateway.stop().await;

    // A replica started once that window passed too loads nothing for it.
    tokio::time::sleep(Duration::from_millis(4100)).await;
    let replica = Hookgate::start_with(&bed.bootstrap(), 5000, &window, &bed.sources).await;
    assert_eq!(deliver(&replica.url(PATH), "evt-aging").await, "accepted");
    replica.stop().await;
    let records = consume(&bed.bootstrap(), &bed.events, 3, Duration::from_millis(500)).await;
    assert_eq!(records.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dedup_topic_is_created_compacted_with_the_window_as_retention() {
    let bed = Bed::new("topic").await;
    let dedup = bed.dedup("window = \"90m\"\npartitions = 3\n");
    let gateway = Hookgate::start_with(&bed.bootstrap(), 5000, &dedup, &bed.sources).await;

    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", bed.bootstrap());
    let admin: AdminClient<DefaultClientContext> = client.create().expect("admin");
    let described = admin
        .describe_configs(
            [&ResourceSpecifier::Topic(&bed.dedup_topic)],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(5))),
        )
        .await
        .expect("describe");
    let resource = described.into_iter().next().expect("one").expect("configs");
    let value = |name: &str| resource.get(name).and_then(|e| e.value.clone());
    let mut policy: Vec<String> = value("cleanup.policy")
        .unwrap_or_default()
        .split(',')
        .map(|p| p.trim().to_owned())
        .collect();
    policy.sort();
    assert_eq!(policy, ["compact", "delete"]);
    assert_eq!(value("retention.ms").as_deref(), Some("5400000"));

    let consumer: BaseConsumer = client.create().expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(&bed.dedup_topic), Duration::from_secs(5))
        .expect("metadata");
    assert_eq!(metadata.topics()[0].partitions().len(), 3);
    gateway.stop().await;

    // A topic that exists with other settings is used, with a warning that
    // says what differs.
    let plain = topic("dedup-plain");
    bed.kafka.create_topic(&plain).await;
    let process = Process::start(
        &bed.bootstrap(),
        &format!("[dedup]\ntopic = \"{plain}\"\n"),
        &bed.sources,
    )
    .await;
    let log = process.stop();
    assert!(
        log.contains("exists with settings other than hookgate's")
            && log.contains("not compact,delete")
            && log.contains("not 259200000"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_dedup_topic_keeps_every_id_in_the_window_and_nothing_older() {
    let bed = Bed::new("compacted").await;
    // The topic as hookgate makes it, with the window as its retention, and
    // segments and a cleaner quick enough for a test: Kafka deletes and
    // compacts for real here.
    create_topic(
        &bed.bootstrap(),
        &bed.dedup_topic,
        1,
        &[
            ("cleanup.policy", "compact,delete"),
            ("retention.ms", "20000"),
            ("segment.ms", "1000"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("min.compaction.lag.ms", "0"),
        ],
    )
    .await;
    let dedup = bed.dedup("window = \"20s\"\npartitions = 1\n");
    let first = Process::start(&bed.bootstrap(), &dedup, &bed.sources).await;
    let old: Vec<String> = (0..20).map(|n| format!("evt-old-{n}")).collect();
    let answers = deliver_all(&first.url(PATH), &old, 10).await;
    assert!(answers.values().all(|a| a == "accepted"), "{answers:?}");
    // Past the window, new ids: their records roll the segment that holds
    // the old ones, which Kafka then deletes.
    tokio::time::sleep(Duration::from_secs(21)).await;
    let new: Vec<String> = (0..20).map(|n| format!("evt-new-{n}")).collect();
    let answers = deliver_all(&first.url(PATH), &new, 10).await;
    assert!(answers.values().all(|a| a == "accepted"), "{answers:?}");
    first.stop();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bed.bootstrap())
        .create()
        .expect("consumer");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (low, _high) = consumer
            .fetch_watermarks(&bed.dedup_topic, 0, Duration::from_secs(5))
            .expect("watermarks");
        if low > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Kafka kept the dedup records past their retention"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // A new replica loads what is left: every id in the window, nothing older.
    let second = Process::start(&bed.bootstrap(), &dedup, &bed.sources).await;
    assert_remembered(&second.url(PATH), &new, "ids within the window").await;
    assert_eq!(deliver(&second.url(PATH), "evt-old-0").await, "accepted");
    second.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_dedup_record_is_skipped_with_a_warning() {
    let bed = Bed::new("damaged").await;
    let first = bed.gateway().await;
    assert_eq!(deliver(&first.url(PATH), "evt-kept").await, "accepted");
    first.stop();

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bed.bootstrap())
        .create()
        .expect("producer");
    let damaged: [(&[u8], &[u8]); 4] = [
        (b"github/evt-v9", b"\x09 from a future version"),
        (b"github/evt-short", b"\x01\x00\x00"),
        (b"no-slash-in-this-key", &[1u8; 38]),
        (b"github/evt-empty", b""),
    ];
    for (key, value) in damaged {
        producer
            .send(
                FutureRecord::to(&bed.dedup_topic).key(key).payload(value),
                Duration::from_secs(5),
            )
            .await
            .expect("damaged record written");
    }

    let second = bed.gateway().await;
    assert_eq!(deliver(&second.url(PATH), "evt-kept").await, "duplicate");
    second
        .await_metric("hookgate_dedup_corrupt_records_total", 4.0)
        .await;
    assert_eq!(
        second.metric("hookgate_dedup_corrupt_records_total").await,
        4.0
    );
    let log = second.stop();
    assert!(log.contains("skipped a damaged dedup record"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_not_ready_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sources = source(dir.path(), "github", KIND, "it.nowhere");
    let nowhere = format!("127.0.0.1:{}", free_port());
    let process = Process::spawn(&nowhere, "", &sources);
    let client = client();

    // The reasons are on the metrics port, which is never exposed.
    let details = format!("http://{}/readyz", process.metrics);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (status, body) = loop {
        match try_get(&client, &details).await {
            Ok((status, body)) if body.contains("cannot reach Kafka") => break (status, body),
            _ if std::time::Instant::now() > deadline => {
                panic!("no reason given; log:\n{}", process.log())
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert_eq!(status, 503, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(reply["status"], "not_ready");
    assert_eq!(reply["kafka_reachable"], false);
    assert_eq!(reply["dedup_loaded"], false);
    let problems = reply["problems"].to_string();
    assert!(
        problems.contains("no Kafka broker is reachable")
            && problems.contains("dedup index not loaded yet")
            && problems.contains("hookgate.dedup"),
        "{problems}"
    );
    // The webhook port says not ready, and nothing more.
    let (status, body) = try_get(&client, &process.url("/readyz"))
        .await
        .expect("readyz");
    assert_eq!((status, body.as_str()), (503, r#"{"status":"not_ready"}"#));

    // Webhooks are verified, then refused with a retry hint, not lost.
    let body = body_with_id("evt-early");
    let reply = send(
        &client,
        "POST",
        &process.url(PATH),
        &signed(KIND, "evt-early", &body),
        body,
    )
    .await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.body["reason"], "not_ready");
    assert_eq!(reply.headers["retry-after"], "3");
    let log = process.stop();
    assert!(
        log.contains("cannot reach Kafka to create or check dedup topic"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_under_load_forgets_no_acknowledged_id() {
    let bed = Bed::new("crash").await;
    let first = bed.gateway().await;
    let url = first.url(PATH);

    // 16 senders deliver new events back to back until hookgate is killed.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..16)
        .map(|sender| {
            let (url, acknowledged) = (url.clone(), Arc::clone(&acknowledged));
            tokio::spawn(async move {
                let client = client();
                for n in 0.. {
                    let id = format!("evt-crash-{sender}-{n}");
                    let body = body_with_id(&id);
                    let headers = signed(KIND, &id, &body);
                    match try_send(&client, "POST", &url, &headers, body).await {
                        Ok(reply) if reply.status == 200 => {
                            assert_eq!(reply.body["status"], "accepted", "{id}");
                            acknowledged.lock().expect("lock").push(id);
                        }
                        Ok(reply) => panic!("{id}: {} {}", reply.status, reply.body),
                        Err(_gone) => return,
                    }
                }
            })
        })
        .collect();
    // Killed once 100 are acknowledged, while the senders are still sending
    // (a slow machine takes longer to get there, not fewer).
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().expect("lock").len() < 100 {
        // A sender that stopped before the kill panicked: its await says why.
        if senders.iter().any(tokio::task::JoinHandle::is_finished) {
            break;
        }
        assert!(Instant::now() < deadline, "100 deliveries within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    for sender in senders {
        sender.await.expect("sender");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() >= 100,
        "only {} deliveries were acknowledged before the kill",
        acknowledged.len()
    );

    // Every event answered 2xx before the crash is a duplicate now.
    let second = bed.gateway().await;
    assert_remembered(&second.url(PATH), &acknowledged, "after kill -9").await;
    second.stop();

    // And each is in Kafka exactly once.
    let records = consume(
        &bed.bootstrap(),
        &bed.events,
        acknowledged.len(),
        Duration::from_secs(1),
    )
    .await;
    let copies = copies_by_key(&records);
    for id in &acknowledged {
        assert_eq!(copies.get(id), Some(&1), "{id} in Kafka once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_and_new_replicas_forget_no_id() {
    let bed = Bed::new("rounds").await;
    let mut running = bed.gateway().await;
    // `scripts/dedup-rounds.sh` runs more rounds than CI does.
    let rounds: usize = std::env::var("HOOKGATE_DEDUP_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    const PER_ROUND: usize = 60;
    for round in 0..rounds {
        // 12 at a time, so the ids of a round span several dedup records.
        let ids: Vec<String> = (0..PER_ROUND)
            .map(|n| format!("evt-round-{round}-{n}"))
            .collect();
        let answers = deliver_all(&running.url(PATH), &ids, 12).await;
        assert!(
            answers.values().all(|answer| answer == "accepted"),
            "round {round}: {answers:?}"
        );
        // Even rounds restart the gateway; odd ones start a replica beside it.
        let next = if round % 2 == 0 {
            running.stop();
            bed.gateway().await
        } else {
            let replica = bed.gateway().await;
            running.stop();
            replica
        };
        assert_remembered(&next.url(PATH), &ids, &format!("round {round}")).await;
        running = next;
    }
    running.stop();
    let records = consume(
        &bed.bootstrap(),
        &bed.events,
        rounds * PER_ROUND,
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(records.len(), rounds * PER_ROUND);
    assert!(copies_by_key(&records).values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_reads_past_a_lagging_high_watermark() {
    let (broker, sources, _dir) = tansu_with_source("lagging").await;
    let config = DedupConfig::default();
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", broker.bootstrap());
    hookgate::dedup::topic::ensure(&client, &config)
        .await
        .expect("dedup topic");

    // Ids an earlier replica accepted, one to a record, written by a producer
    // that batches them: the broker then reports a high watermark short of
    // the partitions' end.
    const IDS: usize = 200;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as u32;
    let source = SourceName::new("github");
    let writer = record::WriterId::random();
    let ids: Vec<String> = (0..IDS).map(|n| format!("evt-lag-{n}")).collect();
    let producer: FutureProducer = client
        .clone()
        .set("linger.ms", "100")
        .create()
        .expect("producer");
    let written: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let hash = IdHash::of(&source, &EventId::new(id).expect("id"));
            let (key, value) = (writer.ids_key(n as u64), record::encode_ids(&[(hash, now)]));
            let producer = producer.clone();
            let topic = config.topic.clone();
            tokio::spawn(async move {
                producer
                    .send(
                        FutureRecord::to(&topic).key(&key).payload(&value),
                        Duration::from_secs(5),
                    )
                    .await
                    .map(|_| ())
                    .map_err(|(err, _)| err)
            })
        })
        .collect();
    for write in written {
        write.await.expect("task").expect("dedup record written");
    }
    let consumer: BaseConsumer = client.create().expect("consumer");
    let reported: i64 = (0..config.partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(&config.topic, p, Duration::from_secs(5))
                .expect("watermarks")
                .1
        })
        .sum();
    assert!(
        reported < IDS as i64,
        "the broker reports high watermarks summing to {reported} for {IDS} records: it no \
         longer lags, so this test no longer exercises the replay's rule"
    );

    let gateway = Process::start(&broker.bootstrap(), "", &sources).await;
    assert_remembered(
        &gateway.url(PATH),
        &ids,
        "ids past the reported high watermark",
    )
    .await;
    gateway.stop();
}
