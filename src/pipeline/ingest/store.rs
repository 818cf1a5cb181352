//! Storing one event: its deadline, the claim of its id (and, for sources
//! with the replay guard, of its signed content), the source's rate, the
//! hand-off to Kafka in a task of its own, and the commit or release of the
//! claims when Kafka answers.

use std::sync::Arc;

use http::HeaderMap;

use super::{Arrival, Failure, Gateway, Located, Stored, Timings};
use crate::config::{KeyMissing, KeyMode};
use crate::dedup::intake::DedupKeys;
use crate::dedup::{ClaimError, Claimed, IdHash};
use crate::kafka::publish::{Destination, PublishError};
use crate::ops::reason::Reason;
use crate::pipeline::answer::Rejection;
use crate::pipeline::event::Event;
use crate::pipeline::locate::EventId;
use crate::pipeline::source::Source;
use crate::verify::Verified;

impl Gateway {
    /// When Kafka's part of the answer must be over: it is bounded as a
    /// whole (waiting for an earlier delivery of the event, its
    /// acknowledgement). Refused until the intake and dedup topics exist:
    /// the provider retries once hookgate is ready.
    pub(super) fn deadline(&self, id: Option<&EventId>) -> Result<tokio::time::Instant, Failure> {
        if !self.health.is_dedup_loaded() {
            return Err(Failure {
                id: id.cloned(),
                ..Rejection::new(
                    Reason::NotReady,
                    "hookgate is starting and has not made or checked its dedup topics yet; retry later",
                )
                .into()
            });
        }
        Ok(tokio::time::Instant::now() + self.produce_timeout)
    }

    /// Claims one event's id, publishes it and commits the claim, all within
    /// `deadline`; a fresh event spends the delivery's `rate`.
    pub(super) async fn store(
        &self,
        source: &Arc<Source>,
        event: Located,
        headers: HeaderMap,
        arrival: &Arrival,
        deadline: tokio::time::Instant,
        rate: &RateSpend,
    ) -> Result<Stored, Failure> {
        let Located {
            verified,
            id,
            routed,
            entity,
        } = event;
        let with_id = |failure: Failure| Failure {
            id: Some(id.clone()),
            ..failure
        };
        let topic = Arc::clone(&routed.topic);
        let id_key = IdHash::of(&source.name, &id);
        // A claim that cannot be settled before the deadline is answered as
        // one still in flight: the provider retries.
        let claim_by = |key| async move {
            tokio::time::timeout_at(deadline, self.dedup.claim_key(key))
                .await
                .unwrap_or(Err(ClaimError::StillInFlight))
        };
        let claim = match claim_by(id_key).await.map_err(|e| with_id(e.into()))? {
            Claimed::Duplicate => return Ok(Stored::Duplicate { id }),
            Claimed::Fresh(claim) => claim,
        };
        // The same signed content under another id is a captured delivery
        // sent again (for schemes that do not sign their id): not published.
        let replay_key = source
            .replay_guard
            .then(|| IdHash::of_replay(&source.name, verified.replay_material()));
        let replay_claim = if let Some(key) = replay_key {
            match claim_by(key).await.map_err(|e| with_id(e.into()))? {
                Claimed::Duplicate => {
                    tracing::warn!(
                        source = %source.name, event_id = %id,
                        "a delivery repeats the signed content of one already accepted under another event id: answered duplicate, not published"
                    );
                    return Ok(Stored::Duplicate { id });
                }
                Claimed::Fresh(replay_claim) => Some(replay_claim),
            }
        } else {
            None
        };
        // Only now, with the event known to be fresh: a replayed delivery is
        // answered duplicate above without spending the provider's rate, so
        // replays cannot make its real deliveries wait. Both claims are
        // released as they drop.
        rate.spend(source)
            .map_err(|rejection| with_id(rejection.into()))?;
        let event = Event::new(
            Arc::clone(source),
            verified,
            id.clone(),
            routed,
            headers,
            arrival.received_at,
            arrival.trace,
        )
        .keyed_by(entity);
        // Publish in a task of its own: if the provider hangs up, a record already
        // handed to Kafka still ends in a commit or a release, never in limbo.
        let publisher = Arc::clone(&self.publisher);
        let intake = self.intake.clone();
        let keys = DedupKeys {
            id: id_key,
            replay: replay_key,
        };
        let publishing = tokio::spawn(async move {
            let destination = match &intake {
                Some(intake) => Destination::Intake {
                    topic: &intake.topic,
                    partitions: intake.partitions,
                    keys,
                },
                None => Destination::Events,
            };
            let delivery = match publisher.publish(&event, &destination).await {
                Ok(delivery) => delivery,
                Err(err) => {
                    // Both claims are released as they drop.
                    let detail = err.to_string();
                    return Err((Rejection::from(err), detail));
                }
            };
            claim.commit(event.received_at);
            if let Some(replay_claim) = replay_claim {
                replay_claim.commit(event.received_at);
            }
            Ok(delivery)
        });
        // At the deadline the provider is told to retry; the task goes on and
        // still commits or releases the claim when Kafka answers.
        let began = Timings::begin();
        let published = tokio::time::timeout_at(deadline, publishing).await;
        Timings::end(&arrival.timings.produce, began);
        let Ok(published) = published else {
            return Err(Failure {
                rejection: PublishError::TimedOut.into(),
                id: Some(id),
                detail: Some("Kafka did not acknowledge within kafka.produce_timeout".into()),
                held: None,
            });
        };
        match published {
            Ok(Ok(delivery)) => Ok(Stored::Accepted {
                id,
                topic,
                delivery,
            }),
            Ok(Err((rejection, detail))) => Err(Failure {
                rejection,
                id: Some(id),
                detail: Some(detail),
                held: None,
            }),
            Err(join) => Err(Failure {
                rejection: Rejection::new(
                    Reason::KafkaUnavailable,
                    "the event could not be stored in Kafka; retry later",
                ),
                id: Some(id),
                detail: Some(format!("publish task failed: {join}")),
                held: None,
            }),
        }
    }
}

/// A delivery's spending of its source's rate limit: once, by its first
/// fresh event, whose verdict the other events of a batch share.
#[derive(Debug, Default)]
pub(super) struct RateSpend(std::sync::OnceLock<Option<u32>>);

impl RateSpend {
    /// Takes the delivery's place in the source's rate, or says how many
    /// seconds to wait.
    fn spend(&self, source: &Source) -> Result<(), Rejection> {
        let wait = self.0.get_or_init(|| {
            let limit = source.rate_limit.as_ref()?;
            let wait = limit.check().err()?;
            Some(u32::try_from(wait.as_secs()).unwrap_or(u32::MAX).max(1))
        });
        match *wait {
            None => Ok(()),
            Some(secs) => Err(Rejection::new(
                Reason::RateLimited,
                format!("this source takes at most its configured rate; retry in {secs}s"),
            )
            .retry_after(secs)),
        }
    }
}

/// An event's id and route, read from the delivery's headers and its body.
pub(super) fn locate(
    source: &Source,
    headers: &HeaderMap,
    verified: Verified,
) -> Result<Located, Failure> {
    let id = source.event_id.extract(headers, verified.body())?;
    let with_id = |rejection: Rejection| Failure {
        id: Some(id.clone()),
        ..rejection.into()
    };
    let entity = match &source.key {
        KeyMode::Entity(place) => match place.extract(headers, verified.body()) {
            Ok(entity) => Some(entity),
            Err(err) if source.key_missing == KeyMissing::Refuse => {
                return Err(with_id(Rejection::new(
                    Reason::MissingKey,
                    format!("this source keys its events by what the delivery lacks: {err}"),
                )));
            }
            Err(_) => {
                // Keyed by the event id instead: published all the same,
                // and counted, for a source whose key names the wrong place.
                source.metrics.key_fell_back();
                None
            }
        },
        KeyMode::EventId | KeyMode::None => None,
    };
    let routed = source
        .route
        .route(headers, verified.body())
        .map_err(|err| with_id(err.into()))?;
    Ok(Located {
        verified,
        id,
        routed,
        entity,
    })
}
