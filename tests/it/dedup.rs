//! Dedup across a fleet: copies of one event reaching several replicas at
//! once, restarts, crashes, frozen and new replicas, the window, the
//! topics' settings, compaction, damaged records and an unreachable broker.
//! Against Apache Kafka (each test with its own event, intake and dedup
//! topics and its own group), except the load past a lagging high
//! watermark, which only tansu's reporting shows.
//!
//! Published means on the event topic, read as a consumer team reads it
//! (`read_committed`). A 2xx means the event is in the intake topic; the
//! dedup stage publishes it shortly after, so tests read the topic (or wait
//! for the stage's counters) rather than the answer's `status` word.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hookgate::config::DedupConfig;
use hookgate::dedup::{IdHash, record};
use hookgate::pipeline::locate::EventId;
use hookgate::pipeline::source::SourceName;
use hookgate::verify::VerifierKind;
use hookgate_testbed::http::{client, send, try_get, try_send};
use hookgate_testbed::signing::signed;
use hookgate_testbed::{Process, Record, Testbed, create_topic, free_port, shared_kafka, topic};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

const KIND: VerifierKind = VerifierKind::Github;
const PATH: &str = "/webhooks/github";
const DROPPED: &str = "hookgate_dedup_dropped_total{source=\"github\"}";

/// The body of every delivery of event `id`: a provider's retries send the
/// same bytes (for GitHub, the replay guard's material, which also decides
/// the intake partition).
fn body_with_id(id: &str) -> Vec<u8> {
    format!("{{\"id\":\"{id}\",\"action\":\"opened\"}}").into_bytes()
}

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

/// Fails, naming them, on any answer that is not a 2xx.
fn assert_all_stored(answers: &HashMap<String, String>, what: &str) {
    let refused: Vec<_> = answers
        .iter()
        .filter(|(_, answer)| !matches!(answer.as_str(), "accepted" | "duplicate"))
        .collect();
    assert!(refused.is_empty(), "{what}: refused {refused:?}");
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

/// Fails unless each of `ids` is on the topic exactly once, and nothing
/// else is: `records` is what a consumer read.
fn assert_each_once(records: &[Record], ids: &[String], what: &str) {
    let copies = copies_by_key(records);
    let missing: Vec<_> = ids.iter().filter(|id| !copies.contains_key(*id)).collect();
    let repeated: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        missing.is_empty() && repeated.is_empty() && copies.len() == ids.len(),
        "{what}: {} ids, {} records; missing {missing:?}; published more than once {repeated:?}",
        ids.len(),
        records.len()
    );
}

/// Fails unless each of `acknowledged` is on the topic, and nothing is on
/// it twice. Deliveries no copy of which got a 2xx may be there or not (the
/// provider retries them).
fn assert_none_lost_none_twice(records: &[Record], acknowledged: &[String], what: &str) {
    let copies = copies_by_key(records);
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !copies.contains_key(*id))
        .collect();
    let repeated: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        lost.is_empty() && repeated.is_empty(),
        "{what}: {} acknowledged; lost {lost:?}; published more than once {repeated:?}",
        acknowledged.len()
    );
}

/// Waits until the replicas' stages own and have loaded all `partitions`,
/// each its even share (as Kafka's assignor gives them), for two looks in a
/// row.
async fn await_shares(replicas: &[&Process], partitions: usize) {
    let share = partitions / replicas.len();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut steady = 0;
    while steady < 2 {
        let mut owned = Vec::new();
        for replica in replicas {
            owned.push(replica.metric("hookgate_dedup_partitions_owned").await as usize);
        }
        if owned.iter().sum::<usize>() == partitions && owned.iter().all(|&n| n >= share) {
            steady += 1;
        } else {
            steady = 0;
        }
        assert!(
            Instant::now() < deadline,
            "the stages never shared {partitions} partitions: {owned:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_sent_to_several_replicas_within_20_ms_are_published_once() {
    let bed = Testbed::shared_kafka(shared_kafka!(), "fleet").await;
    const PARTITIONS: usize = 12;
    let dedup = format!("partitions = {PARTITIONS}\n");
    let mut replicas = Vec::new();
    for _ in 0..4 {
        replicas.push(
            bed.gateway_for("github", KIND)
                .dedup(&dedup)
                .start_process()
                .await,
        );
    }
    let all: Vec<&Process> = replicas.iter().collect();
    await_shares(&all, PARTITIONS).await;
    let urls: Vec<String> = replicas.iter().map(|r| r.url(PATH)).collect();

    // Each id sent to 2, 3 or 4 replicas, the copies 0, 5 or 20 ms apart,
    // 48 ids at a time.
    const COPIED: usize = 1200;
    let ids: Vec<String> = (0..COPIED).map(|n| format!("evt-fleet-{n}")).collect();
    let mut refused = Vec::new();
    for (chunk_at, chunk) in ids.chunks(48).enumerate() {
        let mut sent = Vec::new();
        for (i, id) in chunk.iter().enumerate() {
            let n = chunk_at * 48 + i;
            let copies = 2 + n % 3;
            let gap = Duration::from_millis([0, 5, 20][(n / 3) % 3]);
            for copy in 0..copies {
                let url = urls[(n + copy) % urls.len()].clone();
                let id = id.clone();
                sent.push(tokio::spawn(async move {
                    tokio::time::sleep(gap * copy as u32).await;
                    (id.clone(), deliver(&url, &id).await)
                }));
            }
        }
        for task in sent {
            let (id, answer) = task.await.expect("delivery task");
            if !matches!(answer.as_str(), "accepted" | "duplicate") {
                refused.push((id, answer));
            }
        }
    }
    assert!(refused.is_empty(), "refused: {refused:?}");
    let records = bed.published(COPIED, Duration::from_secs(2)).await;
    assert_each_once(&records, &ids, "copies through 2 to 4 replicas");

    // Memory: each replica's stage holds the ids of the partitions it owns,
    // about a quarter of them (each GitHub id twice: its id and its body).
    let single: Vec<String> = (0..2800).map(|n| format!("evt-share-{n}")).collect();
    for (n, chunk) in single.chunks(700).enumerate() {
        assert_all_stored(&deliver_all(&urls[n], chunk, 32).await, "single copies");
    }
    let total = 2 * (COPIED + single.len());
    let deadline = Instant::now() + Duration::from_secs(30);
    let held = loop {
        let mut held = Vec::new();
        for replica in &replicas {
            held.push(replica.metric("hookgate_dedup_entries").await);
        }
        if held.iter().sum::<f64>() >= total as f64 || Instant::now() > deadline {
            break held;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(held.iter().sum::<f64>(), total as f64, "{held:?}");
    let quarter = total as f64 / 4.0;
    assert!(
        held.iter().all(|&n| (n - quarter).abs() <= quarter * 0.1),
        "each replica should hold a quarter of {total} ids (±10 %): {held:?}"
    );
    for replica in replicas {
        replica.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_that_crash_freeze_join_and_leave_under_load_lose_and_repeat_nothing() {
    let bed = Testbed::shared_kafka(shared_kafka!(), "churn").await;
    const PARTITIONS: usize = 6;
    // Kafka's shortest session: a frozen replica's partitions move soon.
    let dedup = format!("partitions = {PARTITIONS}\nsession_timeout = \"6s\"\n");
    let a = bed
        .gateway_for("github", KIND)
        .dedup(&dedup)
        .start_process()
        .await;
    let b = bed
        .gateway_for("github", KIND)
        .dedup(&dedup)
        .start_process()
        .await;
    let c = bed
        .gateway_for("github", KIND)
        .dedup(&dedup)
        .start_process()
        .await;
    await_shares(&[&a, &b, &c], PARTITIONS).await;

    // Senders deliver new ids, each to two of the replicas taking traffic,
    // the second copy at once; an id is acknowledged once a copy got a 2xx.
    let edges = Arc::new(Mutex::new(vec![a.url(PATH), c.url(PATH)]));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let sending = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let senders: Vec<_> = (0..6)
        .map(|sender| {
            let (edges, acknowledged, sending) = (
                Arc::clone(&edges),
                Arc::clone(&acknowledged),
                Arc::clone(&sending),
            );
            tokio::spawn(async move {
                let client = client();
                let mut n = 0usize;
                while sending.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let id = format!("evt-churn-{sender}-{n}");
                    let body = body_with_id(&id);
                    let headers = signed(KIND, &id, &body);
                    let targets: Vec<String> = {
                        let edges = edges.lock().expect("lock");
                        (0..2)
                            .map(|k| edges[(n + k) % edges.len()].clone())
                            .collect()
                    };
                    let copies = targets
                        .iter()
                        .map(|url| try_send(&client, "POST", url, &headers, body.clone()));
                    let answers = futures_util::future::join_all(copies).await;
                    if answers
                        .iter()
                        .any(|reply| matches!(reply, Ok(reply) if reply.status == 200))
                    {
                        acknowledged.lock().expect("lock").push(id);
                    }
                }
            })
        })
        .collect();
    let acked = || acknowledged.lock().expect("lock").len();
    let await_acks = |at_least: usize| async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked() < at_least {
            assert!(
                Instant::now() < deadline,
                "stuck at {} acknowledged ids",
                acked()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    await_acks(150).await;
    // B frozen past its session timeout: Kafka gives its partitions away;
    // resumed, it must publish nothing of what it held.
    b.signal("-STOP");
    tokio::time::sleep(Duration::from_secs(9)).await;
    b.signal("-CONT");
    let at = acked();
    await_acks(at + 150).await;
    // C crashes; a new replica D joins and takes traffic; A leaves cleanly.
    c.kill();
    let d = bed
        .gateway_for("github", KIND)
        .dedup(&dedup)
        .start_process()
        .await;
    *edges.lock().expect("lock") = vec![a.url(PATH), d.url(PATH)];
    let at = acked();
    await_acks(at + 150).await;
    *edges.lock().expect("lock") = vec![d.url(PATH), b.url(PATH)];
    a.stop();
    let at = acked();
    await_acks(at + 150).await;
    sending.store(false, std::sync::atomic::Ordering::Relaxed);
    for sender in senders {
        sender.await.expect("sender");
    }

    let acknowledged = acknowledged.lock().expect("lock").clone();
    let records = bed
        .published(acknowledged.len(), Duration::from_secs(3))
        .await;
    assert_none_lost_none_twice(&records, &acknowledged, "churn");
    b.stop();
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_replica_and_a_dedup_replica_split_the_work() {
    let bed = Testbed::shared_kafka(shared_kafka!(), "roles").await;
    let stage = bed
        .gateway_for("github", KIND)
        .dedup("role = \"dedup\"\n")
        .start_process()
        .await;
    // A replica that only publishes takes no webhooks.
    let refused = deliver(&stage.url(PATH), "evt-role-refused").await;
    assert!(
        refused.starts_with("404") && refused.contains("dedup stage only"),
        "{refused}"
    );
    let edge = bed
        .gateway_for("github", KIND)
        .dedup("role = \"edge\"\n")
        .start_process()
        .await;
    let ids: Vec<String> = (0..20).map(|n| format!("evt-role-{n}")).collect();
    let answers = deliver_all(&edge.url(PATH), &ids, 10).await;
    assert!(answers.values().all(|a| a == "accepted"), "{answers:?}");
    let again = deliver_all(&edge.url(PATH), &ids, 10).await;
    assert!(again.values().all(|a| a == "duplicate"), "{again:?}");
    let records = bed.published(ids.len(), Duration::from_millis(500)).await;
    assert_each_once(&records, &ids, "edge and dedup replicas");
    assert_eq!(edge.metric("hookgate_dedup_partitions_owned").await, 0.0);
    assert_eq!(stage.metric("hookgate_dedup_partitions_owned").await, 6.0);
    edge.stop();
    stage.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_restart_is_not_published_again() {
    let bed = Testbed::shared_kafka(shared_kafka!(), "restart").await;
    let first = bed.gateway_for("github", KIND).start_process().await;
    assert_eq!(deliver(&first.url(PATH), "evt-before").await, "accepted");
    // What the replica saw itself is answered `duplicate` at once.
    assert_eq!(deliver(&first.url(PATH), "evt-before").await, "duplicate");
    first.stop();

    let second = bed.gateway_for("github", KIND).start_process().await;
    assert_eq!(deliver(&second.url(PATH), "evt-before").await, "accepted");
    second.await_metric(DROPPED, 1.0).await;
    assert_eq!(deliver(&second.url(PATH), "evt-after").await, "accepted");
    let log = second.stop();
    assert!(log.contains("dedup stage: partition loaded"), "{log}");

    let records = bed.published(2, Duration::from_millis(500)).await;
    let keys: Vec<_> = records
        .iter()
        .map(|r| r.key.clone().unwrap_or_default())
        .collect();
    assert_eq!(keys, [b"evt-before".to_vec(), b"evt-after".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_older_than_the_window_are_published_again() {
    let bed = Testbed::shared_kafka(shared_kafka!(), "window").await;
    // Ids are kept in whole seconds: a window of 4 s holds an id for at
    // least 3 s, time enough for the first two deliveries on a loaded machine.
    let window = "window = \"4s\"\n";
    let gateway = bed.gateway_for("github", KIND).dedup(window).start().await;
    let url = gateway.url(PATH);
    assert_eq!(deliver(&url, "evt-aging").await, "accepted");
    assert_eq!(deliver(&url, "evt-aging").await, "duplicate");
    bed.published(1, Duration::ZERO).await;
    tokio::time::sleep(Duration::from_millis(4100)).await;
    assert_eq!(deliver(&url, "evt-aging").await, "accepted");
    bed.published(2, Duration::ZERO).await;
    gateway.stop().await;

    // A replica started once that window passed too loads nothing for it.
    tokio::time::sleep(Duration::from_millis(4100)).await;
    let replica = bed.gateway_for("github", KIND).dedup(window).start().await;
    assert_eq!(deliver(&replica.url(PATH), "evt-aging").await, "accepted");
    let records = bed.published(3, Duration::from_millis(500)).await;
    replica.stop().await;
    assert_eq!(records.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dedup_and_intake_topics_are_created_with_the_settings_they_need() {
    let bed = Testbed::shared_kafka(shared_kafka!(), "topic").await;
    let gateway = bed
        .gateway_for("github", KIND)
        .dedup("window = \"90m\"\npartitions = 3\n")
        .start()
        .await;
    let dedup_topic = format!("{}.dedup", bed.events);

    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", bed.bootstrap());
    let admin: AdminClient<DefaultClientContext> = client.create().expect("admin");
    let intake = format!("{}.intake", bed.events);
    let described = admin
        .describe_configs(
            [
                &ResourceSpecifier::Topic(&dedup_topic),
                &ResourceSpecifier::Topic(&intake),
            ],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(5))),
        )
        .await
        .expect("describe");
    let mut described = described.into_iter();
    let dedup_configs = described.next().expect("dedup").expect("configs");
    let intake_configs = described.next().expect("intake").expect("configs");
    let value = |resource: &rdkafka::admin::ConfigResource, name: &str| {
        resource.get(name).and_then(|e| e.value.clone())
    };
    let mut policy: Vec<String> = value(&dedup_configs, "cleanup.policy")
        .unwrap_or_default()
        .split(',')
        .map(|p| p.trim().to_owned())
        .collect();
    policy.sort();
    assert_eq!(policy, ["compact", "delete"]);
    assert_eq!(
        value(&dedup_configs, "retention.ms").as_deref(),
        Some("5400000")
    );
    // The intake keeps events a week: a stage down over a weekend loses none.
    assert_eq!(
        value(&intake_configs, "cleanup.policy").as_deref(),
        Some("delete")
    );
    assert_eq!(
        value(&intake_configs, "retention.ms").as_deref(),
        Some("604800000")
    );

    let consumer: BaseConsumer = client.create().expect("consumer");
    for topic in [&dedup_topic, &intake] {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .expect("metadata");
        assert_eq!(metadata.topics()[0].partitions().len(), 3, "{topic}");
    }
    gateway.stop().await;

    // A topic that exists with other settings is used, with a warning that
    // says what differs.
    let plain = topic("dedup-plain");
    bed.kafka().create_topic(&plain).await;
    let process = bed
        .gateway_for("github", KIND)
        .dedup(&format!("topic = \"{plain}\"\npartitions = 1\n"))
        .start_process()
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
    let bed = Testbed::shared_kafka(shared_kafka!(), "compacted").await;
    let dedup_topic = format!("{}.dedup", bed.events);
    // The topic as hookgate makes it, with the window as its retention, and
    // segments and a cleaner quick enough for a test: Kafka deletes and
    // compacts for real here.
    create_topic(
        &bed.bootstrap(),
        &dedup_topic,
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
    let dedup = "window = \"20s\"\npartitions = 1\n";
    let first = bed
        .gateway_for("github", KIND)
        .dedup(dedup)
        .start_process()
        .await;
    let old: Vec<String> = (0..20).map(|n| format!("evt-old-{n}")).collect();
    assert_all_stored(&deliver_all(&first.url(PATH), &old, 10).await, "old");
    // Past the window, new ids: their records roll the segment that holds
    // the old ones, which Kafka then deletes.
    tokio::time::sleep(Duration::from_secs(21)).await;
    let new: Vec<String> = (0..20).map(|n| format!("evt-new-{n}")).collect();
    assert_all_stored(&deliver_all(&first.url(PATH), &new, 10).await, "new");
    first.stop();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bed.bootstrap())
        .create()
        .expect("consumer");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (low, _high) = consumer
            .fetch_watermarks(&dedup_topic, 0, Duration::from_secs(5))
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
    let second = bed
        .gateway_for("github", KIND)
        .dedup(dedup)
        .start_process()
        .await;
    assert_all_stored(&deliver_all(&second.url(PATH), &new, 10).await, "again");
    second.await_metric(DROPPED, new.len() as f64).await;
    assert_eq!(deliver(&second.url(PATH), "evt-old-0").await, "accepted");
    let records = bed.published(41, Duration::from_millis(500)).await;
    second.stop();
    let copies = copies_by_key(&records);
    assert_eq!(copies.get("evt-old-0"), Some(&2), "published again");
    assert!(
        new.iter().all(|id| copies.get(id) == Some(&1)),
        "{copies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_dedup_record_is_skipped_with_a_warning() {
    let bed = Testbed::shared_kafka(shared_kafka!(), "damaged").await;
    let dedup_topic = format!("{}.dedup", bed.events);
    let dedup = "partitions = 1\n";
    let first = bed
        .gateway_for("github", KIND)
        .dedup(dedup)
        .start_process()
        .await;
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
                FutureRecord::to(&dedup_topic).key(key).payload(value),
                Duration::from_secs(5),
            )
            .await
            .expect("damaged record written");
    }

    let second = bed
        .gateway_for("github", KIND)
        .dedup(dedup)
        .start_process()
        .await;
    assert_eq!(deliver(&second.url(PATH), "evt-kept").await, "accepted");
    second.await_metric(DROPPED, 1.0).await;
    assert_eq!(
        second.metric("hookgate_dedup_corrupt_records_total").await,
        4.0
    );
    let log = second.stop();
    assert!(log.contains("skipped a damaged changelog record"), "{log}");
    let records = bed.published(1, Duration::from_millis(500)).await;
    assert_eq!(records.len(), 1, "evt-kept published once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_not_ready_and_says_why() {
    let bed = Testbed::unreachable(&format!("127.0.0.1:{}", free_port()), "nowhere").await;
    let process = bed
        .gateway_for("github", KIND)
        .dedup("topic = \"hookgate.dedup\"")
        .spawn_process();
    let client = client();

    // The reasons are on the metrics port, which is never exposed.
    let details = process.metrics_url("/readyz");
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
async fn a_crash_under_load_loses_no_acknowledged_event_and_publishes_none_twice() {
    let bed = Testbed::shared_kafka(shared_kafka!(), "crash").await;
    let first = bed.gateway_for("github", KIND).start_process().await;
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
    // Killed once 300 are acknowledged, while the senders are still sending
    // and the stage is publishing (a slow machine takes longer to get there,
    // not fewer).
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().expect("lock").len() < 300 {
        // A sender that stopped before the kill panicked: its await says why.
        if senders.iter().any(tokio::task::JoinHandle::is_finished) {
            break;
        }
        assert!(Instant::now() < deadline, "300 deliveries within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    for sender in senders {
        sender.await.expect("sender");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() >= 300,
        "only {} deliveries were acknowledged before the kill",
        acknowledged.len()
    );

    // The next replica publishes what the crashed one left, and every retry
    // of an acknowledged event is dropped: once Kafka gave up on the crashed
    // member (its session timeout, 10 s) and the partitions were loaded.
    let second = bed.gateway_for("github", KIND).start_process().await;
    assert_all_stored(
        &deliver_all(&second.url(PATH), &acknowledged, 16).await,
        "retries after kill -9",
    );
    second
        .await_metric_within(DROPPED, acknowledged.len() as f64, Duration::from_secs(40))
        .await;
    let records = bed
        .published(acknowledged.len(), Duration::from_secs(1))
        .await;
    second.stop();
    assert_none_lost_none_twice(&records, &acknowledged, "after kill -9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_and_new_replicas_publish_each_event_once() {
    let bed = Testbed::shared_kafka(shared_kafka!(), "rounds").await;
    let mut running = bed.gateway_for("github", KIND).start_process().await;
    // `scripts/dedup-rounds.sh` runs more rounds than CI does.
    let rounds: usize = std::env::var("HOOKGATE_DEDUP_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6);
    const PER_ROUND: usize = 60;
    let mut all = Vec::new();
    for round in 0..rounds {
        // 12 at a time, so the ids of a round span several batches.
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
            bed.gateway_for("github", KIND).start_process().await
        } else {
            let replica = bed.gateway_for("github", KIND).start_process().await;
            running.stop();
            replica
        };
        assert_all_stored(
            &deliver_all(&next.url(PATH), &ids, 12).await,
            &format!("round {round} again"),
        );
        all.extend(ids);
        running = next;
    }
    running.stop();
    let records = bed.published(all.len(), Duration::from_secs(1)).await;
    assert_each_once(&records, &all, "restarts and new replicas");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_reads_past_a_lagging_high_watermark() {
    let bed = Testbed::own_tansu("lagging").await;
    let config = DedupConfig::default();
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", bed.bootstrap());
    hookgate::dedup::topic::ensure(&client, &config)
        .await
        .expect("dedup topic");

    // Ids an earlier stage published, one to a record, each in the
    // partition its delivery goes to (GitHub's: its body's), written by a
    // producer that batches them: the broker then reports a high watermark
    // short of the partitions' end.
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
            let partition =
                IdHash::of_replay(&source, &body_with_id(id)).partition(config.partitions);
            let (key, value) = (writer.ids_key(n as u64), record::encode_ids(&[(hash, now)]));
            let producer = producer.clone();
            let topic = config.topic.clone();
            tokio::spawn(async move {
                producer
                    .send(
                        FutureRecord::to(&topic)
                            .partition(partition)
                            .key(&key)
                            .payload(&value),
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
         longer lags, so this test no longer exercises the load's rule"
    );

    let dedup = "[dedup]\ntopic = \"hookgate.dedup\"\nintake_topic = \"hookgate.intake\"\ngroup = \"hookgate.dedup\"\n";
    let gateway = bed
        .gateway_for("github", KIND)
        .tables(dedup)
        .start_process()
        .await;
    assert_all_stored(
        &deliver_all(&gateway.url(PATH), &ids, 16).await,
        "ids past the reported high watermark",
    );
    gateway.await_metric(DROPPED, IDS as f64).await;
    assert_eq!(gateway.metric(DROPPED).await, IDS as f64);
    gateway.stop();
}
