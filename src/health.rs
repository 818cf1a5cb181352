//! Health: `/healthz` says the process is alive; `/readyz` says whether it can
//! take webhooks now, which needs a reachable Kafka cluster and a loaded dedup
//! index.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::publish::Publisher;

/// Whether hookgate can accept webhooks: the broker probe of [`Health::watch`]
/// and the dedup topic's reader keep it up to date.
#[derive(Debug, Default)]
pub struct Health {
    broker_reachable: AtomicBool,
    dedup_loaded: AtomicBool,
    /// What the dedup reader is doing until the index is loaded.
    dedup_progress: Mutex<String>,
}

impl Health {
    /// `Ok` when ready, otherwise every reason why not.
    pub fn readiness(&self) -> Result<(), String> {
        let mut reasons = Vec::new();
        if !self.broker_reachable.load(Ordering::Relaxed) {
            reasons.push("no Kafka broker is reachable".to_owned());
        }
        if !self.is_dedup_loaded() {
            let progress = self
                .dedup_progress
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            reasons.push(format!("dedup index not loaded yet: {progress}"));
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons.join("; "))
        }
    }

    /// Whether the dedup index holds every id the dedup topic had at start-up;
    /// until then a duplicate could not be recognised, so nothing is accepted.
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
        crate::metrics::dedup_loaded();
    }

    /// Asks the cluster for metadata every `every`, off the async threads (the
    /// call blocks), and records whether it answered.
    pub fn watch(
        self: &Arc<Self>,
        publisher: Arc<Publisher>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let health = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let probe = Arc::clone(&publisher);
                let reachable = tokio::task::spawn_blocking(move || probe.probe(every).is_ok())
                    .await
                    .unwrap_or(false);
                let was = health.broker_reachable.swap(reachable, Ordering::Relaxed);
                crate::metrics::broker_reachable(reachable);
                if was != reachable {
                    if reachable {
                        tracing::info!("Kafka is reachable");
                    } else {
                        tracing::warn!("Kafka is not reachable: not ready");
                    }
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}
