//! Keeps this replica's part of dedup running: makes the dedup topic (the
//! changelog) and the intake topic, says on `/readyz` why while it cannot,
//! then keeps a [`stage`](super::stage) in the group, starting a new one
//! whenever the last lost every broker or the intake topic (a restarted
//! broker may have lost its topics, which are made again first).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::stage::{self, StageHandle, StageSettings};
use super::topic;
use crate::config::{DedupConfig, Transactions};
use crate::ops::health::Health;

/// What the keeper needs to know of the cluster.
#[derive(Debug, Clone, Copy)]
pub struct Cluster {
    /// Whether hookgate makes the topics (not on the embedded cluster, whose
    /// admin API does not answer: its topics are made there).
    pub creates_topics: bool,
    /// The embedded cluster takes transactional calls and keeps none of
    /// their promises: its stage runs without.
    pub embedded: bool,
}

/// The running keeper; [`Keeper::stop`] ends it and its stage.
#[derive(Debug)]
pub struct Keeper {
    stopping: CancellationToken,
    task: JoinHandle<()>,
}

impl Keeper {
    /// Starts keeping dedup for `config` against `client`'s cluster.
    pub fn start(
        client: ClientConfig,
        config: DedupConfig,
        cluster: Cluster,
        health: Arc<Health>,
    ) -> Self {
        let stopping = CancellationToken::new();
        let task = tokio::spawn(keep(client, config, cluster, health, stopping.clone()));
        Self { stopping, task }
    }

    /// Stops the stage (it publishes what its partitions still hold, for at
    /// most its drain limit) and waits for it.
    pub async fn stop(self) {
        self.stopping.cancel();
        let _ = self.task.await;
    }
}

/// Between two stages: long enough not to spin while the cluster is away.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

async fn keep(
    client: ClientConfig,
    config: DedupConfig,
    cluster: Cluster,
    health: Arc<Health>,
    stopping: CancellationToken,
) {
    let mut ready = false;
    loop {
        if cluster.creates_topics && !ensure_topics(&client, &config, &health, &stopping).await {
            return;
        }
        if !ready {
            health.dedup_loaded();
            ready = true;
        }
        if !config.role.runs_stage() {
            return;
        }
        let Some(handle) = start_stage(&client, &config, cluster).await else {
            // Said already; try again after a pause.
            if pause_or_stop(&stopping).await {
                return;
            }
            continue;
        };
        loop {
            tokio::select! {
                () = stopping.cancelled() => {
                    let _ = tokio::task::spawn_blocking(move || handle.stop()).await;
                    return;
                }
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            if handle.ended() {
                break;
            }
        }
        drop(handle);
        if pause_or_stop(&stopping).await {
            return;
        }
    }
}

/// Sleeps [`RESTART_PAUSE`]; true if told to stop meanwhile.
async fn pause_or_stop(stopping: &CancellationToken) -> bool {
    tokio::select! {
        () = stopping.cancelled() => true,
        () = tokio::time::sleep(RESTART_PAUSE) => false,
    }
}

/// Creates or checks both topics until Kafka answers; false if told to stop
/// first.
async fn ensure_topics(
    client: &ClientConfig,
    config: &DedupConfig,
    health: &Health,
    stopping: &CancellationToken,
) -> bool {
    let mut backoff = Duration::from_millis(250);
    loop {
        let ensured = async {
            report(&config.topic, topic::ensure(client, config).await?);
            report(
                &config.intake_topic,
                topic::ensure_intake(client, config).await?,
            );
            Ok::<(), topic::TopicError>(())
        }
        .await;
        let Err(err) = ensured else {
            return true;
        };
        health.dedup_progress(err.to_string());
        tracing::warn!("{err}; retrying");
        tokio::select! {
            () = stopping.cancelled() => return false,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn report(name: &str, ensured: topic::Ensured) {
    match ensured {
        topic::Ensured::Created => tracing::info!(topic = name, "created a dedup topic"),
        topic::Ensured::Existed { differences } if !differences.is_empty() => tracing::warn!(
            topic = name,
            differences = %differences.join("; "),
            "a dedup topic exists with settings other than hookgate's"
        ),
        topic::Ensured::Existed { .. } => {}
    }
}

/// A stage for `config`; `None` (said in the log) if it cannot start.
async fn start_stage(
    client: &ClientConfig,
    config: &DedupConfig,
    cluster: Cluster,
) -> Option<StageHandle> {
    let settings = StageSettings {
        intake_topic: config.intake_topic.clone(),
        changelog_topic: config.topic.clone(),
        group: config.group.clone(),
        instance_id: config.instance_id.clone(),
        window: config.window,
        session_timeout: config.session_timeout,
        batch_max: config.batch_max,
        transactions: if cluster.embedded {
            Transactions::Off
        } else {
            config.transactions
        },
    };
    let client = client.clone();
    let runtime = tokio::runtime::Handle::current();
    match tokio::task::spawn_blocking(move || stage::spawn(&client, settings, runtime)).await {
        Ok(Ok(handle)) => Some(handle),
        Ok(Err(err)) => {
            tracing::error!("the dedup stage did not start: {err}");
            None
        }
        Err(join) => {
            tracing::error!("the dedup stage did not start: {join}");
            None
        }
    }
}
