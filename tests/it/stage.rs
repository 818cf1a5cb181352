//! The dedup stage on Apache Kafka, fed intake records as edges on several
//! replicas write them: the same id arriving through two or three edges is
//! published once, whichever stage owns its partition, with transactions and
//! without, and across a stage that stops while the other takes over.

use std::collections::HashMap;
use std::time::Duration;

use hookgate::config::Transactions;
use hookgate::dedup::IdHash;
use hookgate::dedup::intake::{self, DedupKeys};
use hookgate::dedup::stage::{self, StageHandle, StageSettings};
use hookgate_testbed::{Broker, consume, create_topic, shared_kafka, topic};
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

const PARTITIONS: i32 = 4;

/// The broker and topics of one test: intake, changelog and events.
struct Topics {
    bootstrap: String,
    intake: String,
    changelog: String,
    events: String,
}

/// On the shared Apache Kafka.
async fn topics(test: &str) -> Topics {
    topics_on(&shared_kafka!().bootstrap(), test).await
}

async fn topics_on(bootstrap: &str, test: &str) -> Topics {
    let topics = Topics {
        bootstrap: bootstrap.to_owned(),
        intake: topic(&format!("{test}-intake")),
        changelog: topic(&format!("{test}-changelog")),
        events: topic(&format!("{test}-events")),
    };
    create_topic(bootstrap, &topics.intake, PARTITIONS, &[]).await;
    create_topic(
        bootstrap,
        &topics.changelog,
        PARTITIONS,
        &[("cleanup.policy", "compact,delete")],
    )
    .await;
    create_topic(bootstrap, &topics.events, 1, &[]).await;
    topics
}

fn start(topics: &Topics, name: &str, transactions: Transactions) -> StageHandle {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &topics.bootstrap);
    stage::spawn(
        &client,
        StageSettings {
            intake_topic: topics.intake.clone(),
            changelog_topic: topics.changelog.clone(),
            group: format!("{}.stage", topics.intake),
            instance_id: Some(format!("{}.{name}", topics.intake)),
            window: Duration::from_secs(3600),
            session_timeout: Duration::from_secs(6),
            batch_max: 200,
            transactions,
        },
        tokio::runtime::Handle::current(),
    )
    .expect("the stage starts")
}

/// Writes `copies` intake records of each of `ids`, as that many edges would.
async fn write_intake(topics: &Topics, ids: &[String], copies: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &topics.bootstrap)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let mut sends = Vec::new();
    for copy in 0..copies {
        for id in ids {
            let keys = DedupKeys {
                id: IdHash::of_key(format!("github/{id}").as_bytes()),
                replay: None,
            };
            let headers = intake::with_intake_headers(
                OwnedHeaders::new()
                    .insert(Header {
                        key: "hookgate-source",
                        value: Some(b"github"),
                    })
                    .insert(Header {
                        key: "hookgate-event-id",
                        value: Some(id.as_bytes()),
                    }),
                "github",
                &topics.events,
                &keys,
            );
            let body = format!("{{\"id\":\"{id}\",\"copy\":{copy}}}");
            let producer = producer.clone();
            let intake = topics.intake.clone();
            let id = id.clone();
            sends.push(tokio::spawn(async move {
                producer
                    .send(
                        FutureRecord::to(&intake)
                            .partition(keys.partition(PARTITIONS))
                            .key(id.as_bytes())
                            .payload(body.as_bytes())
                            .headers(headers),
                        Duration::from_secs(10),
                    )
                    .await
                    .map(|_| ())
                    .map_err(|(err, _)| err)
            }));
        }
    }
    for send in sends {
        send.await.expect("task").expect("intake record written");
    }
}

/// How many times each key is in the events topic.
async fn copies(topics: &Topics, expected: usize) -> HashMap<Vec<u8>, usize> {
    let records = consume(
        &topics.bootstrap,
        &topics.events,
        expected,
        Duration::from_millis(1500),
    )
    .await;
    let mut copies = HashMap::new();
    for record in records {
        *copies.entry(record.key.unwrap_or_default()).or_default() += 1;
    }
    copies
}

async fn each_id_published_once(topics: Topics, transactions: Transactions) {
    let ids: Vec<String> = (0..1000).map(|n| format!("evt-{n}")).collect();
    let stages = [
        start(&topics, "a", transactions),
        start(&topics, "b", transactions),
    ];
    write_intake(&topics, &ids, 3).await;
    // Every id out, then both stopped: each drains what it owns first, so
    // every copy has been decided by the time the topic is read again.
    copies(&topics, ids.len()).await;
    let counts: Vec<_> = stages
        .iter()
        .map(|s| std::sync::Arc::clone(&s.counts))
        .collect();
    for stage in stages {
        tokio::task::spawn_blocking(move || stage.stop())
            .await
            .expect("stopped");
    }
    let copies = copies(&topics, ids.len()).await;
    assert_eq!(copies.len(), ids.len(), "every id published");
    assert!(
        copies.values().all(|&n| n == 1),
        "published more than once: {:?}",
        copies
            .iter()
            .filter(|(_, n)| **n > 1)
            .take(5)
            .collect::<Vec<_>>()
    );
    let dropped: u64 = counts
        .iter()
        .map(|c| c.dropped.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert_eq!(dropped, 2 * ids.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_through_several_edges_are_published_once_in_transactions() {
    each_id_published_once(topics("stage-tx").await, Transactions::On).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_through_several_edges_are_published_once_without_transactions() {
    each_id_published_once(topics("stage-plain").await, Transactions::Off).await;
}

/// tansu has no transactions and gets the cooperative assignor and static
/// membership wrong: `auto` finds that out and uses neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_are_published_once_on_a_broker_without_transactions() {
    let broker = Broker::start().await;
    let topics = topics_on(&broker.bootstrap(), "stage-tansu").await;
    each_id_published_once(topics, Transactions::Auto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_that_takes_over_rebuilds_the_window_from_the_changelog() {
    let topics = topics("stage-takeover").await;
    let first: Vec<String> = (0..300).map(|n| format!("evt-first-{n}")).collect();
    let a = start(&topics, "a", Transactions::On);
    write_intake(&topics, &first, 1).await;
    assert_eq!(copies(&topics, first.len()).await.len(), first.len());
    tokio::task::spawn_blocking(move || a.stop())
        .await
        .expect("stopped");
    // Another member owns every partition now, and learns the first ids
    // from the changelog: their retries are dropped.
    let b = start(&topics, "b", Transactions::On);
    write_intake(&topics, &first, 1).await;
    let later: Vec<String> = (0..100).map(|n| format!("evt-later-{n}")).collect();
    write_intake(&topics, &later, 1).await;
    let copies = copies(&topics, first.len() + later.len()).await;
    assert_eq!(copies.len(), first.len() + later.len());
    assert!(copies.values().all(|&n| n == 1), "{copies:?}");
    tokio::task::spawn_blocking(move || b.stop())
        .await
        .expect("stopped");
}
