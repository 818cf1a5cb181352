//! What Apache Kafka does that partition-owned deduplication relies on,
//! shown against the real broker: a consumer group gives each partition to
//! exactly one member through joins, leaves, a `kill -9` and a member frozen
//! past its session timeout (with the cooperative-sticky assignor and static
//! membership that hookgate's dedup stage uses); and transactions hide
//! aborted records from `read_committed` consumers, fence a second producer
//! with the same `transactional.id`, and commit a group's offsets with the
//! records. tansu 0.6 fails the first (one partition to several members) and
//! has no transactions (docs/kafka-broker.md).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookgate_testbed::{Kafka, create_topic, send_signal, shared_kafka, tools_dir, topic};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const PARTITIONS: i32 = 8;
/// The broker's smallest (`group.min.session.timeout.ms`).
const SESSION_MS: u64 = 6000;

/// A group member in a process of its own (`tests/kafka/member.py`).
struct Member {
    name: String,
    child: Option<Child>,
    /// The partitions it last said it owns.
    owned: Arc<Mutex<Vec<i32>>>,
}

impl Member {
    fn join(kafka: &Kafka, group: &str, topic: &str, name: &str) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka/member.py");
        let mut child = Command::new(tools_dir().join("bin/python"))
            .arg(script)
            .args([&kafka.bootstrap(), group, topic, name, "cooperative-sticky"])
            .arg(SESSION_MS.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("a group member starts (run scripts/setup.sh)");
        let owned = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stdout.take().expect("stdout"));
        let seen = Arc::clone(&owned);
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if let Ok(partitions) = serde_json::from_str::<Vec<i32>>(&line) {
                    *seen.lock().expect("lock") = partitions;
                }
            }
        });
        Self {
            name: name.to_owned(),
            child: Some(child),
            owned,
        }
    }

    fn owned(&self) -> Vec<i32> {
        self.owned.lock().expect("lock").clone()
    }

    fn signal(&self, signal: &str) {
        send_signal(self.child.as_ref().expect("running"), signal);
    }

    /// Closes it as a member closes: a static member stays in the group
    /// until its session times out.
    fn leave(mut self) {
        self.signal("-TERM");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// `kill -9`: gone without a word.
    fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `members` between them own every partition exactly once,
/// each at least one; fails with who owns what.
fn await_one_owner_each(members: &[&Member], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut owners: BTreeMap<i32, Vec<&str>> = BTreeMap::new();
        for member in members {
            for partition in member.owned() {
                owners.entry(partition).or_default().push(&member.name);
            }
        }
        let every_one_once = (0..PARTITIONS)
            .all(|partition| owners.get(&partition).is_some_and(|who| who.len() == 1))
            && owners.len() == PARTITIONS as usize;
        let everyone_has_some = members.iter().all(|member| !member.owned().is_empty());
        if every_one_once && everyone_has_some {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: owners {owners:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_group_gives_each_partition_to_exactly_one_member_through_joins_leaves_crashes_and_pauses() {
    let kafka = shared_kafka!();
    let topic = topic("group");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(create_topic(&kafka.bootstrap(), &topic, PARTITIONS, &[]));
    let group = format!("{topic}.members");
    let join = |name: &str| Member::join(kafka, &group, &topic, name);

    let a = join("a");
    await_one_owner_each(&[&a], "one member");
    let (b, c) = (join("b"), join("c"));
    await_one_owner_each(&[&a, &b, &c], "three members joined");
    // A static member's partitions wait for its session to time out, then
    // go to the others.
    c.leave();
    await_one_owner_each(&[&a, &b], "c left");
    b.kill();
    await_one_owner_each(&[&a], "b killed");
    let (d, e) = (join("d"), join("e"));
    await_one_owner_each(&[&a, &d, &e], "d and e joined");

    // Frozen past its session timeout, d is dropped from the group: a and e
    // own everything while d, frozen, still believes it owns its share...
    d.signal("-STOP");
    await_one_owner_each(&[&a, &e], "d frozen past its session");
    // ... and once it runs again it learns it lost them, and rejoins.
    d.signal("-CONT");
    await_one_owner_each(&[&a, &d, &e], "d thawed");
}

/// A transactional producer of `id` on the shared broker.
fn transactional(kafka: &Kafka, id: &str) -> ThreadedProducer<DefaultProducerContext> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap())
        .set("transactional.id", id)
        .create()
        .expect("producer");
    producer
        .init_transactions(Duration::from_secs(30))
        .expect("init_transactions");
    producer
}

fn send(producer: &ThreadedProducer<DefaultProducerContext>, topic: &str, value: &str) {
    producer
        .send(BaseRecord::<(), str>::to(topic).payload(value))
        .map_err(|(err, _)| err)
        .expect("send");
}

/// Every value of `topic` (one partition) a consumer with `isolation` reads.
fn read_all(kafka: &Kafka, topic: &str, isolation: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap())
        .set("group.id", format!("{topic}.reader"))
        .set("isolation.level", isolation)
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&partitions).expect("assign");
    let mut values = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => values
                .push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned()),
            Some(Err(KafkaError::PartitionEOF(_))) => return values,
            Some(Err(err)) => panic!("{err}"),
            None => {}
        }
    }
    panic!("{topic}: no end of partition within 20 s; read {values:?}")
}

#[test]
fn transactions_hide_aborted_records_fence_a_second_producer_and_commit_offsets_with_records() {
    let kafka = shared_kafka!();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (input, output) = (topic("tx-in"), topic("tx-out"));
    runtime.block_on(create_topic(&kafka.bootstrap(), &input, 1, &[]));
    runtime.block_on(create_topic(&kafka.bootstrap(), &output, 1, &[]));
    let id = format!("{output}.producer");

    // Aborted records are never read by a `read_committed` consumer.
    let first = transactional(kafka, &id);
    first.begin_transaction().expect("begin");
    send(&first, &output, "aborted-1");
    send(&first, &output, "aborted-2");
    // Written to the log first: an abort would otherwise drop them unsent.
    first.flush(Duration::from_secs(30)).expect("flush");
    first
        .abort_transaction(Duration::from_secs(30))
        .expect("abort");
    first.begin_transaction().expect("begin");
    send(&first, &output, "committed-1");
    first
        .commit_transaction(Duration::from_secs(30))
        .expect("commit");
    assert_eq!(read_all(kafka, &output, "read_committed"), ["committed-1"]);
    assert_eq!(
        read_all(kafka, &output, "read_uncommitted"),
        ["aborted-1", "aborted-2", "committed-1"]
    );

    // A second producer with the same transactional.id fences the first:
    // what the first still tries to commit fails and is never read.
    let second = transactional(kafka, &id);
    first.begin_transaction().expect("begin");
    send(&first, &output, "from-a-fenced-producer");
    let _ = first.flush(Duration::from_secs(10));
    let fenced = first.commit_transaction(Duration::from_secs(30));
    assert!(fenced.is_err(), "the fenced producer committed");
    drop(first);
    second.begin_transaction().expect("begin");
    send(&second, &output, "committed-2");
    second
        .commit_transaction(Duration::from_secs(30))
        .expect("commit");
    assert_eq!(
        read_all(kafka, &output, "read_committed"),
        ["committed-1", "committed-2"]
    );

    // A group's offsets sent in a transaction are committed with its records,
    // and not at all when it aborts.
    let group = format!("{input}.stage");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap())
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&input]).expect("subscribe");
    let committed_offset = |consumer: &BaseConsumer| {
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition(&input, 0);
        let committed = consumer
            .committed_offsets(partitions, Timeout::After(Duration::from_secs(10)))
            .expect("committed offsets");
        committed.elements()[0].offset()
    };
    let offsets = |at: i64| {
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(&input, 0, Offset::Offset(at))
            .expect("offset");
        offsets
    };
    // Joined, so that the group's metadata names a generation.
    let deadline = Instant::now() + Duration::from_secs(20);
    while consumer.assignment().expect("assignment").count() == 0 {
        assert!(Instant::now() < deadline, "the consumer joined no group");
        consumer.poll(Duration::from_millis(100));
    }
    let metadata = consumer.group_metadata().expect("group metadata");
    second.begin_transaction().expect("begin");
    send(&second, &output, "aborted-with-offsets");
    second.flush(Duration::from_secs(30)).expect("flush");
    second
        .send_offsets_to_transaction(&offsets(5), &metadata, Duration::from_secs(30))
        .expect("offsets in the transaction");
    second
        .abort_transaction(Duration::from_secs(30))
        .expect("abort");
    assert_eq!(committed_offset(&consumer), Offset::Invalid);
    second.begin_transaction().expect("begin");
    send(&second, &output, "committed-with-offsets");
    second
        .send_offsets_to_transaction(&offsets(7), &metadata, Duration::from_secs(30))
        .expect("offsets in the transaction");
    second
        .commit_transaction(Duration::from_secs(30))
        .expect("commit");
    assert_eq!(committed_offset(&consumer), Offset::Offset(7));
    assert_eq!(
        read_all(kafka, &output, "read_committed"),
        ["committed-1", "committed-2", "committed-with-offsets"]
    );
}
