//! Health: `/healthz` says the process is alive; `/readyz` says whether this
//! replica belongs in the load balancer's rotation.
//!
//! A replica is ready once its intake and dedup topics exist (what the edge
//! hands events to). A Kafka outage does not
//! make it unready (unless `server.readiness_requires_kafka`): every replica
//! would be unready at once, and the load balancer would answer providers with
//! its own 502, without `Retry-After`, instead of hookgate's 503.

/// Liveness: answered while the process runs.
pub const HEALTHZ: &str = "/healthz";
/// Readiness: whether this replica belongs in the load balancer's rotation.
pub const READYZ: &str = "/readyz";
/// The paths hookgate answers itself on both ports; no source may take one.
pub const PATHS: [&str; 2] = [HEALTHZ, READYZ];

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use http::StatusCode;

/// What `path` answers when it is one of [`PATHS`]: `/healthz` always ok,
/// `/readyz` ready or not (not ready while `health` is not known yet). With
/// `details`, the reasons behind readiness, which name topics and brokers:
/// for the metrics port only.
pub fn answer(
    health: Option<&Health>,
    path: &str,
    details: bool,
) -> Option<(StatusCode, serde_json::Value)> {
    match path {
        HEALTHZ => Some((StatusCode::OK, serde_json::json!({ "status": "ok" }))),
        READYZ => {
            let readiness = health.map(Health::readiness);
            let ready = readiness.as_ref().is_some_and(|r| r.ready);
            let status = if ready { "ready" } else { "not_ready" };
            let body = match readiness {
                Some(readiness) if details => serde_json::json!({
                    "status": status,
                    "kafka_reachable": readiness.kafka_reachable,
                    "dedup_loaded": readiness.dedup_loaded,
                    "problems": readiness.problems,
                }),
                None if details => serde_json::json!({
                    "status": status,
                    "problems": ["starting"],
                }),
                _ => serde_json::json!({ "status": status }),
            };
            let code = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            Some((code, body))
        }
        _ => None,
    }
}

/// Whether hookgate can accept webhooks: the broker probe of [`Health::watch`]
/// and the dedup topic's reader keep it up to date.
#[derive(Debug, Default)]
pub struct Health {
    /// `server.readiness_requires_kafka`.
    requires_kafka: bool,
    broker_reachable: AtomicBool,
    /// Why the last probe failed, as the Kafka client put it.
    kafka_problem: Mutex<Option<String>>,
    dedup_loaded: AtomicBool,
    /// What keeps the dedup topics from being ready, until they are.
    dedup_progress: Mutex<String>,
    /// Held while `hookgate_ready` is set, so the broker probe and the dedup
    /// reader, changing readiness at once, cannot leave the gauge at the value
    /// that was true before the other's change.
    ready_gauge: Mutex<()>,
}

/// The state behind `/readyz`; served in full on the metrics port only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub kafka_reachable: bool,
    pub dedup_loaded: bool,
    /// Why not ready, or what is wrong though ready (Kafka unreachable).
    pub problems: Vec<String>,
}

impl Health {
    /// `requires_kafka`: whether an unreachable cluster makes the replica
    /// unready (`server.readiness_requires_kafka`).
    pub fn new(requires_kafka: bool) -> Self {
        Self {
            requires_kafka,
            ..Self::default()
        }
    }

    /// Whether this replica is ready, and what is wrong.
    pub fn readiness(&self) -> Readiness {
        let kafka_reachable = self.broker_reachable.load(Ordering::Relaxed);
        let dedup_loaded = self.is_dedup_loaded();
        let mut problems = Vec::new();
        if !kafka_reachable {
            let why = self
                .kafka_problem
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            problems.push(match why.as_deref() {
                Some(why) => format!("no Kafka broker is reachable: {why}"),
                None => "no Kafka broker is reachable".to_owned(),
            });
        }
        if !dedup_loaded {
            let progress = self
                .dedup_progress
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            problems.push(format!("dedup index not loaded yet: {progress}"));
        }
        Readiness {
            ready: self.is_ready(),
            kafka_reachable,
            dedup_loaded,
            problems,
        }
    }

    /// Whether this replica is ready: two atomic loads, no lock and no
    /// allocation, since the webhook port's `/readyz` faces the internet.
    pub fn is_ready(&self) -> bool {
        self.is_dedup_loaded()
            && (!self.requires_kafka || self.broker_reachable.load(Ordering::Relaxed))
    }

    /// Whether the intake and dedup topics were made or checked; until then
    /// an event has nowhere to go, so nothing is accepted.
    pub fn is_dedup_loaded(&self) -> bool {
        self.dedup_loaded.load(Ordering::Relaxed)
    }

    /// Says what loading the dedup index is waiting for.
    pub fn dedup_progress(&self, progress: String) {
        *self
            .dedup_progress
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = progress;
    }

    /// The dedup index is loaded; it stays so for the life of the process.
    pub fn dedup_loaded(&self) {
        self.dedup_loaded.store(true, Ordering::Relaxed);
        crate::ops::metrics::dedup_loaded();
        self.show_readiness();
    }

    /// Sets `hookgate_ready` to what `/readyz` answers now.
    fn show_readiness(&self) {
        let _one_at_a_time = self
            .ready_gauge
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        crate::ops::metrics::ready(self.is_ready());
    }

    /// Records the outcome of one look at the cluster: whether a broker
    /// answered, and if not, what the client last said. `first` logs the
    /// state even when it did not change.
    pub fn record_probe(&self, reachable: bool, why: Option<String>, first: bool) {
        *self
            .kafka_problem
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            if reachable { None } else { why.clone() };
        let was = self.broker_reachable.swap(reachable, Ordering::Relaxed);
        crate::ops::metrics::broker_reachable(reachable);
        self.show_readiness();
        if was != reachable || first {
            match (reachable, self.requires_kafka) {
                (true, _) => tracing::info!("Kafka is reachable"),
                (false, true) => tracing::warn!(
                    why = why.unwrap_or_default(),
                    "Kafka is not reachable: not ready"
                ),
                (false, false) => tracing::warn!(
                    why = why.unwrap_or_default(),
                    "Kafka is not reachable: webhooks are answered 503 with Retry-After until it is"
                ),
            }
        }
    }
}
