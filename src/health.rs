//! Health: `/healthz` says the process is alive; `/readyz` says whether it can
//! take webhooks now, which needs a reachable Kafka cluster.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::publish::Publisher;

/// Whether hookgate can accept webhooks, updated by [`Health::watch`].
#[derive(Debug, Default)]
pub struct Health {
    broker_reachable: AtomicBool,
}

impl Health {
    /// `Ok` when ready, otherwise why not.
    pub fn readiness(&self) -> Result<(), &'static str> {
        if self.broker_reachable.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("no Kafka broker is reachable")
        }
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
                if was != reachable {
                    if reachable {
                        tracing::info!("Kafka is reachable: ready");
                    } else {
                        tracing::warn!("Kafka is not reachable: not ready");
                    }
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}
