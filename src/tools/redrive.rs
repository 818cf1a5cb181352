//! `hookgate redrive`: once what made a source refuse deliveries is fixed (a
//! secret, a tolerance, a route), its quarantined requests go through the
//! pipeline again with the source's configuration as it is now. Each is
//! verified again (timestamps against when it first arrived), deduplicated
//! against the dedup topic every replica shares, and published: a request
//! re-driven twice is published once. Its record and dedup entry are dated
//! when it is re-driven (the record's `hookgate-received-at` too), so a
//! request older than the dedup window is still remembered for a window.
//!
//! The pipeline is hookgate's own, assembled here in-process from the config
//! file against the same Kafka cluster, with no port open and quarantining
//! off (a request still refused is reported, not quarantined again); each
//! request's typed answer is what is reported.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::Full;

use crate::app::{self, StartError};
use crate::config::Config;
use crate::kafka::consume::{ReadError, Start, TopicReader};
use crate::pipeline::answer::Answer;
use crate::pipeline::client_addr::Peer;
use crate::pipeline::ingest::FirstArrival;
use crate::pipeline::quarantine::Quarantined;

/// One `hookgate redrive` run.
#[derive(Debug)]
pub struct RedriveRequest {
    pub config: Config,
    /// The source's name.
    pub source: String,
    /// The quarantine topic; the source's `quarantine_topic` when `None`.
    pub topic: Option<String>,
    pub start: Start,
    /// Only requests refused for one of these reasons; all when empty.
    pub reasons: Vec<String>,
}

/// What became of the records read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records of the source (and reasons) read from the topic.
    pub considered: u64,
    pub accepted: u64,
    pub duplicates: u64,
    /// Refused again, by reason.
    pub still_refused: BTreeMap<String, u64>,
    /// Kept with a cut body: they cannot verify.
    pub truncated: u64,
    /// Of other sources or reasons, or not quarantine records.
    pub skipped: u64,
}

/// Why nothing could be re-driven.
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("--source {0}: no source of that name in the config file")]
    NoSource(String),
    #[error("source {0} has no quarantine_topic: name the topic with --from-topic")]
    NoTopic(String),
    #[error("kafka.brokers = {0:?}: re-driving needs the Kafka cluster the quarantine is in")]
    NoCluster(String),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("cannot start the pipeline: {0}")]
    Start(#[from] StartError),
    #[error("the dedup index did not load within {0:?}: is Kafka reachable?")]
    NotReady(Duration),
    #[error("cannot write: {0}")]
    Output(#[from] std::io::Error),
    #[error("{0}")]
    Io(String),
}

/// How long the in-process pipeline may take to load the dedup index.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// Re-drives the quarantined requests `request` selects, one line each to `out`.
pub async fn redrive(
    request: RedriveRequest,
    out: &mut impl Write,
) -> Result<Summary, RedriveError> {
    let RedriveRequest {
        mut config,
        source,
        topic,
        start,
        reasons,
    } = request;
    if config.kafka.is_embedded() || config.kafka.is_null() {
        return Err(RedriveError::NoCluster(config.kafka.brokers.clone()));
    }
    let configured = config
        .sources
        .iter()
        .find(|configured| configured.name == source)
        .ok_or_else(|| RedriveError::NoSource(source.clone()))?;
    let path = configured.path.clone();
    let topic = topic
        .or_else(|| configured.quarantine_topic.clone())
        .ok_or_else(|| RedriveError::NoTopic(source.clone()))?;
    // What is refused again is reported here, not quarantined again.
    for configured in &mut config.sources {
        configured.quarantine_topic = None;
    }

    let client = crate::kafka::client_config(&config.kafka, &config.kafka.brokers);
    let records = {
        let topic = topic.clone();
        tokio::task::spawn_blocking(move || -> Result<Vec<_>, ReadError> {
            let mut reader = TopicReader::open(client, &topic, start, false)?;
            Ok(std::iter::from_fn(|| reader.next_record()).collect())
        })
        .await
        .map_err(|err| RedriveError::Io(err.to_string()))??
    };

    // An edge only: the running fleet's dedup stages decide, and a stage
    // here would only take their partitions away for a moment.
    config.dedup.role = crate::config::Role::Edge;
    let pipeline = app::assemble(&config).await?;
    let waiting = Instant::now();
    while !pipeline.health().is_dedup_loaded() {
        if waiting.elapsed() > READY_WITHIN {
            pipeline.shutdown().await;
            return Err(RedriveError::NotReady(READY_WITHIN));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut summary = Summary::default();
    for record in &records {
        let Ok(quarantined) = Quarantined::read(record) else {
            summary.skipped += 1;
            continue;
        };
        if quarantined.source != source
            || (!reasons.is_empty() && !reasons.contains(&quarantined.reason))
        {
            summary.skipped += 1;
            continue;
        }
        summary.considered += 1;
        let at = humantime::format_rfc3339_millis(quarantined.received_at);
        let place = format!(
            "{topic} {}/{} {at} {}",
            rdkafka::Message::partition(record),
            rdkafka::Message::offset(record),
            quarantined.reason
        );
        if quarantined.truncated {
            summary.truncated += 1;
            writeln!(
                out,
                "{place} -> skipped: its body was cut at quarantine.max_body_bytes and cannot verify"
            )?;
            continue;
        }
        let answer = replay(&pipeline, &path, &quarantined).await;
        let status = answer.as_ref().map_or(0, |answer| answer.status().as_u16());
        let (word, id) = match &answer {
            Some(Answer::Stored {
                id,
                duplicate: true,
            }) => {
                summary.duplicates += 1;
                ("duplicate", id.as_str())
            }
            Some(Answer::Stored { id, .. }) => {
                summary.accepted += 1;
                ("accepted", id.as_str())
            }
            // A batch (Mandrill's): every event is in Kafka.
            Some(Answer::Batch { .. } | Answer::Handshake(_) | Answer::Health { .. }) => {
                summary.accepted += 1;
                ("accepted", "")
            }
            Some(Answer::Refused(rejection)) => {
                let word = rejection.reason.as_str();
                *summary.still_refused.entry(word.to_owned()).or_default() += 1;
                (word, "")
            }
            None => {
                *summary
                    .still_refused
                    .entry("unreadable_record".to_owned())
                    .or_default() += 1;
                ("unreadable_record", "")
            }
        };
        writeln!(out, "{place} -> {status} {word} {id}")?;
        out.flush()?;
    }
    pipeline.shutdown().await;
    let refused: u64 = summary.still_refused.values().sum();
    let reasons = summary
        .still_refused
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(
        out,
        "{source}: {} quarantined request(s) re-driven from {topic}: {} accepted, {} duplicate(s), {refused} still refused{}{}; {} other record(s) skipped",
        summary.considered,
        summary.accepted,
        summary.duplicates,
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({reasons})")
        },
        if summary.truncated > 0 {
            format!(", {} cut short", summary.truncated)
        } else {
            String::new()
        },
        summary.skipped,
    )?;
    Ok(summary)
}

/// Hands one quarantined request to the pipeline as it first arrived; the
/// status, the answer's `status` or `reason`, and the event id.
async fn replay(pipeline: &app::App, path: &str, quarantined: &Quarantined) -> Option<Answer> {
    let uri = match &quarantined.query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut request = http::Request::builder()
        .method(quarantined.method.clone())
        .uri(uri)
        .extension(FirstArrival(quarantined.received_at));
    if let Some(client) = quarantined.client {
        request = request.extension(Peer(SocketAddr::new(client, 0)));
    }
    if let Some(headers) = request.headers_mut() {
        headers.extend(quarantined.headers.clone());
        // The record continues the trace of the first attempt.
        if let Some(trace) = &quarantined.traceparent
            && !headers.contains_key("traceparent")
            && let Ok(trace) = http::HeaderValue::from_str(trace)
        {
            headers.insert("traceparent", trace);
        }
    }
    let request = request.body(Full::new(quarantined.body.clone())).ok()?;
    Some(pipeline.gateway().process(request).await)
}
