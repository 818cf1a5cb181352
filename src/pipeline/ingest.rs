//! The pipeline as one readable function: route → read body → verify → event id
//! → claim → publish → commit or release → respond. Every request ends here in
//! exactly one outcome, which is counted, logged once and answered.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::Config;
use crate::dedup::intake::DedupKeys;
use crate::dedup::{ClaimError, Claimed, Dedup, IdHash};
use crate::kafka::publish::{Delivery, Destination, PublishError, Publisher};
use crate::ops::clock::unix_seconds;
use crate::ops::health::Health;
use crate::ops::metrics::{InFlight, SourceMetrics};
use crate::ops::reason::Reason;
use crate::pipeline::answer::{AcceptedBody, Rejection, handshake_response, json};
use crate::pipeline::budget::{Budget, OverBudget, Ticket};
use crate::pipeline::client_addr::{ClientAddr, Peer, TrustedProxies};
use crate::pipeline::event::Event;
use crate::pipeline::locate::EventId;
use crate::pipeline::quarantine::{self, Held, Refused};
use crate::pipeline::route::Routed;
use crate::pipeline::source::{Source, Sources};
use crate::pipeline::trace::TraceParent;
use crate::verify::{Handshake, Verified};
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};

/// The response every request gets.
pub type HttpResponse = Response<Full<Bytes>>;

/// Everything a request needs, shared by all connections.
#[derive(Debug)]
pub struct Gateway {
    live: ArcSwap<Live>,
    dedup: Dedup,
    publisher: Arc<Publisher>,
    health: Arc<Health>,
    body_timeout: Duration,
    produce_timeout: Duration,
    retry_after_secs: u32,
    /// Requests in flight and body bytes held, in all and per client.
    budget: Budget,
    /// Where events go for the dedup stage to publish them once; `None`:
    /// straight to their topics (the null broker, which keeps nothing).
    intake: Option<Arc<Intake>>,
    /// False where `dedup.role = "dedup"`: every path but the health checks
    /// is answered 404.
    receives_webhooks: bool,
}

/// The intake topic and its partition count, which the edge routes by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intake {
    pub topic: String,
    pub partitions: i32,
}

/// What a configuration reload replaces: requests in flight finish with
/// the one they began with.
#[derive(Debug)]
pub struct Live {
    pub sources: Sources,
    pub proxies: TrustedProxies,
}

/// How a request that reached a source ended.
enum Outcome {
    /// Its event is in Kafka.
    One(Stored),
    /// Every event of a batch (Mandrill's) of several is in Kafka.
    Batch(Vec<Stored>),
    /// The provider checking the endpoint: answered here, never published.
    Handshake(Handshake),
}

/// How one event ended.
enum Stored {
    Accepted {
        id: EventId,
        topic: Arc<str>,
        delivery: Delivery,
    },
    Duplicate {
        id: EventId,
    },
}

/// An event with its id and route: everything storing it needs.
struct Located {
    verified: Verified,
    id: EventId,
    routed: Routed,
}

/// A rejection with what the log needs beyond the response.
struct Failure {
    rejection: Rejection,
    id: Option<EventId>,
    /// For the log only: never sent to the provider.
    detail: Option<String>,
    /// The request as it arrived, for a source that quarantines: set once
    /// its body was read.
    held: Option<Box<Held>>,
}

impl<E: Into<Rejection>> From<E> for Failure {
    fn from(err: E) -> Self {
        Self {
            rejection: err.into(),
            id: None,
            detail: None,
            held: None,
        }
    }
}

/// When a request arrived, from whom, and in which trace.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    started: Instant,
    received_at: SystemTime,
    /// What signed timestamps are checked against: `received_at`, or the
    /// first arrival of a re-driven request.
    checked_at: SystemTime,
    client: ClientAddr,
    /// Whether the connection is a trusted proxy's.
    from_trusted_proxy: bool,
    trace: TraceParent,
}

/// When a request handed back to the pipeline later (`hookgate redrive`)
/// first arrived: its signed timestamps are checked against it. Its record
/// and dedup entry are dated now, so that neither is older than the dedup
/// window or the topic's retention on arrival. Only a request made
/// in-process can carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstArrival(pub SystemTime);

impl Gateway {
    /// The pipeline from its parts; [`crate::app::start`] makes them from
    /// the configuration.
    pub fn new(
        config: &Config,
        sources: Sources,
        dedup: Dedup,
        publisher: Arc<Publisher>,
        health: Arc<Health>,
    ) -> Self {
        Self {
            live: ArcSwap::from_pointee(Live {
                sources,
                proxies: config.server.trusted_proxies(),
            }),
            dedup,
            publisher,
            health,
            body_timeout: config.server.body_timeout,
            produce_timeout: config.kafka.produce_timeout(),
            retry_after_secs: config.kafka.retry_after_secs(),
            budget: Budget::new(&config.server),
            receives_webhooks: config.dedup.role.receives_webhooks(),
            intake: (!config.kafka.is_null()).then(|| {
                Arc::new(Intake {
                    topic: config.dedup.intake_topic.clone(),
                    partitions: config.dedup.partitions,
                })
            }),
        }
    }

    /// The sources and proxies requests are served with now.
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// Serves new requests with `live`; those in flight finish with the old.
    pub fn replace(&self, live: Live) {
        self.live.store(Arc::new(live));
    }

    /// Seconds a provider is told to wait in `Retry-After`.
    pub fn retry_after_secs(&self) -> u32 {
        self.retry_after_secs
    }

    pub fn publisher(&self) -> &Arc<Publisher> {
        &self.publisher
    }

    /// Answers one request. Callable without a socket.
    pub async fn handle<B>(&self, request: Request<B>) -> HttpResponse
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let _in_flight = InFlight::enter();
        let started = Instant::now();
        let path = request.uri().path();
        let live = self.live.load();
        let received_at = SystemTime::now();
        let arrival = Arrival {
            started,
            received_at,
            checked_at: request
                .extensions()
                .get::<FirstArrival>()
                .map_or(received_at, |first| first.0),
            client: live.proxies.client(
                request.extensions().get::<Peer>().copied(),
                request.headers(),
            ),
            from_trusted_proxy: live
                .proxies
                .trusts(request.extensions().get::<Peer>().copied()),
            trace: TraceParent::continue_or_start(request.headers()),
        };
        let client = arrival.client;
        let source = live
            .sources
            .by_path(path)
            .filter(|_| self.receives_webhooks)
            .cloned();
        let Some(source) = source else {
            if let Some(response) = self.health_check(path) {
                return response;
            }
            let failure = Failure::from(Rejection::new(
                Reason::UnknownPath,
                if self.receives_webhooks {
                    "no webhook source is configured at this path"
                } else {
                    "this replica runs the dedup stage only (dedup.role = \"dedup\"): send webhooks to an edge"
                },
            ));
            return self.reject(None, live.sources.unrouted(), failure, &arrival);
        };
        drop(live);
        // Before anything else of the request is looked at.
        if let Some(allow) = &source.allow
            && !client.ip().is_some_and(|ip| allow.contains(ip))
        {
            let failure = Failure::from(Rejection::new(
                Reason::IpNotAllowed,
                format!(
                    "this source takes requests only from the addresses on its allowlist, and {client} is not one of them"
                ),
            ));
            return self.reject(Some(&source), &source.metrics, failure, &arrival);
        }
        // Beyond a limit, a fast 503 is the back-pressure providers understand.
        let mut ticket = match self.budget.admit(self.budget.key(client)) {
            Ok(ticket) => ticket,
            Err(over) => {
                let failure = Failure::from(over_budget(over));
                return self.reject(Some(&source), &source.metrics, failure, &arrival);
            }
        };
        match self.ingest(&source, request, &mut ticket, &arrival).await {
            Ok(Outcome::One(event)) => {
                record_stored(&source, std::slice::from_ref(&event), &arrival);
                let (status, id) = match &event {
                    Stored::Accepted { id, .. } => ("accepted", id),
                    Stored::Duplicate { id } => ("duplicate", id),
                };
                json(
                    StatusCode::OK,
                    &AcceptedBody {
                        status,
                        id: id.as_str(),
                    },
                )
            }
            Ok(Outcome::Batch(events)) => {
                let (accepted, duplicates) = record_stored(&source, &events, &arrival);
                json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "status": "accepted",
                        "events": events.len(),
                        "accepted": accepted,
                        "duplicates": duplicates,
                    }),
                )
            }
            Ok(Outcome::Handshake(handshake)) => {
                source.metrics.handshake(started.elapsed());
                tracing::info!(
                    source = %source.name, %client, trace_id = %arrival.trace.trace_id(),
                    status = 200, handshake = handshake.kind,
                    // What a provider handed over, from its unverified request.
                    note = handshake.note.as_deref().map(|note| tracing::field::display(crate::pipeline::printable::Escaped(note.as_bytes()))),
                    latency_ms = started.elapsed().as_secs_f64() * 1e3, "handshake answered"
                );
                handshake_response(handshake)
            }
            Err(failure) => self.reject(Some(&source), &source.metrics, failure, &arrival),
        }
    }

    async fn ingest<B>(
        &self,
        source: &Arc<Source>,
        request: Request<B>,
        ticket: &mut Ticket<'_>,
        arrival: &Arrival,
    ) -> Result<Outcome, Failure>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let now = unix_seconds(arrival.checked_at);
        let (parts, body) = request.into_parts();
        if parts.method != Method::POST {
            // Some providers check an endpoint with GET or HEAD (Dropbox,
            // Okta, Mandrill); nothing else but POST is a delivery.
            return match (parts.method == Method::GET || parts.method == Method::HEAD)
                .then(|| {
                    source.verifier.challenge(
                        &parts.method,
                        &parts.headers,
                        parts.uri.query(),
                        &[],
                        now,
                    )
                })
                .flatten()
            {
                Some(handshake) => Ok(Outcome::Handshake(handshake)),
                None => Err(Rejection::new(
                    Reason::MethodNotAllowed,
                    "webhooks are delivered with POST",
                )
                .into()),
            };
        }
        // The body's bytes are charged to the request's ticket as they arrive.
        let body = read_body(
            body,
            &parts.headers,
            source.max_body_bytes,
            self.body_timeout,
            ticket,
        )
        .await?;
        if source.log_bodies {
            log_body(source, &body);
        }
        // A source that quarantines keeps the request as it arrived, should
        // what follows refuse it (a copy of the headers; the body is shared).
        let held = source.quarantine.as_ref().map(|_| Held {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
            body: body.clone(),
        });
        self.after_body(source, parts, body, now, arrival)
            .await
            .map_err(|failure| Failure {
                held: held.map(Box::new),
                ..failure
            })
    }

    /// Everything after the body was read: check, verify, limit, locate, store.
    async fn after_body(
        &self,
        source: &Arc<Source>,
        parts: http::request::Parts,
        body: Bytes,
        now: i64,
        arrival: &Arrival,
    ) -> Result<Outcome, Failure> {
        if let Some(handshake) =
            source
                .verifier
                .challenge(&parts.method, &parts.headers, parts.uri.query(), &body, now)
        {
            return Ok(Outcome::Handshake(handshake));
        }
        let verified =
            source
                .verifier
                .verify_with_query(&parts.headers, parts.uri.query(), body, now)?;
        if let Some(handshake) = source.verifier.handshake(&verified) {
            return Ok(Outcome::Handshake(handshake));
        }
        match source.verifier.split(&verified) {
            None => {
                let event = locate(source, &parts.headers, verified)?;
                let deadline = self.deadline(Some(&event.id))?;
                let rate = RateSpend::default();
                let stored = self
                    .store(source, event, parts.headers, arrival, deadline, &rate)
                    .await?;
                Ok(Outcome::One(stored))
            }
            Some(events) => {
                // Every event's id and route first: a batch with one the
                // source cannot read is refused whole, before anything is
                // published.
                let events = events?
                    .into_iter()
                    .map(|verified| locate(source, &parts.headers, verified))
                    .collect::<Result<Vec<_>, _>>()?;
                let deadline = self.deadline(events.first().map(|event| &event.id))?;
                let rate = RateSpend::default();
                // Stored side by side, and answered 2xx only when every one
                // is in Kafka. The first failure is the answer; the
                // provider's retry finds the others duplicates.
                let stored = futures_util::future::join_all(events.into_iter().map(|event| {
                    self.store(
                        source,
                        event,
                        parts.headers.clone(),
                        arrival,
                        deadline,
                        &rate,
                    )
                }))
                .await;
                let mut stored = stored.into_iter().collect::<Result<Vec<_>, _>>()?;
                // A batch of one is answered as one event, with its id.
                Ok(if stored.len() == 1 {
                    Outcome::One(stored.remove(0))
                } else {
                    Outcome::Batch(stored)
                })
            }
        }
    }

    /// When Kafka's part of the answer must be over: it is bounded as a
    /// whole (waiting for an earlier delivery of the event, its
    /// acknowledgement). Refused until the intake and dedup topics exist:
    /// the provider retries once hookgate is ready.
    fn deadline(&self, id: Option<&EventId>) -> Result<tokio::time::Instant, Failure> {
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
    async fn store(
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
        } = event;
        let with_id = |failure: Failure| Failure {
            id: Some(id.clone()),
            ..failure
        };
        let topic = Arc::clone(&routed.topic);
        let id_key = IdHash::of(&source.name, &id);
        let claim = match tokio::time::timeout_at(deadline, self.dedup.claim_key(id_key))
            .await
            .unwrap_or(Err(ClaimError::StillInFlight))
            .map_err(|e| with_id(e.into()))?
        {
            Claimed::Duplicate => return Ok(Stored::Duplicate { id }),
            Claimed::Fresh(claim) => claim,
        };
        // The same signed content under another id is a captured delivery
        // sent again (for schemes that do not sign their id): not published.
        let replay_key = source
            .replay_guard
            .then(|| IdHash::of_replay(&source.name, verified.replay_material()));
        let replay_claim = if let Some(key) = replay_key {
            match tokio::time::timeout_at(deadline, self.dedup.claim_key(key))
                .await
                .unwrap_or(Err(ClaimError::StillInFlight))
                .map_err(|e| with_id(e.into()))?
            {
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
        );
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
        let Ok(published) = tokio::time::timeout_at(deadline, publishing).await else {
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

    fn reject(
        &self,
        source: Option<&Source>,
        metrics: &SourceMetrics,
        failure: Failure,
        arrival: &Arrival,
    ) -> HttpResponse {
        let Failure {
            rejection,
            id,
            detail,
            held,
        } = failure;
        metrics.rejected(rejection.reason, arrival.started.elapsed());
        let status = rejection.reason.status().as_u16();
        let name = source.map_or(crate::ops::metrics::UNROUTED, |s| s.name.as_str());
        let id = id.as_ref().map(EventId::as_str);
        let latency_ms = arrival.started.elapsed().as_secs_f64() * 1e3;
        let Arrival { client, trace, .. } = *arrival;
        let trace_id = trace.trace_id();
        if let (Some(source), Some(held)) = (source, held)
            && let Some(quarantine) = &source.quarantine
            && quarantine::keeps(rejection.reason)
        {
            quarantine.offer(
                source.name.as_str(),
                &held,
                Refused {
                    reason: rejection.reason,
                    message: &rejection.message,
                    event_id: id,
                    client,
                    from_trusted_proxy: arrival.from_trusted_proxy,
                    trace,
                    received_at: arrival.received_at,
                },
                |record| self.publisher.enqueue(record),
            );
        }
        if status >= 500 {
            tracing::error!(
                source = name,
                %client,
                %trace_id,
                event_id = id,
                status,
                reason = rejection.reason.as_str(),
                detail,
                latency_ms,
                "rejected: {}",
                rejection.message
            );
        } else {
            tracing::warn!(
                source = name,
                %client,
                %trace_id,
                event_id = id,
                status,
                reason = rejection.reason.as_str(),
                detail,
                latency_ms,
                "rejected: {}",
                rejection.message
            );
        }
        rejection.to_response(self.retry_after_secs)
    }

    fn health_check(&self, path: &str) -> Option<HttpResponse> {
        #[derive(serde::Serialize)]
        struct HealthBody {
            status: &'static str,
        }
        let (code, status) = match path {
            crate::ops::health::HEALTHZ => (StatusCode::OK, "ok"),
            // The webhook port says ready or not; the reasons, which name
            // topics and brokers, are on the metrics port only.
            crate::ops::health::READYZ if self.health.is_ready() => (StatusCode::OK, "ready"),
            crate::ops::health::READYZ => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            _ => return None,
        };
        Some(json(code, &HealthBody { status }))
    }
}

/// A delivery's spending of its source's rate limit: once, by its first
/// fresh event, whose verdict the other events of a batch share.
#[derive(Debug, Default)]
struct RateSpend(std::sync::OnceLock<Option<u32>>);

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

/// Counts and logs a delivery whose events are all in Kafka; its counts of
/// events newly published and already held.
fn record_stored(source: &Source, events: &[Stored], arrival: &Arrival) -> (usize, usize) {
    let Arrival {
        started,
        client,
        trace,
        ..
    } = *arrival;
    let trace_id = trace.trace_id();
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut accepted = 0;
    for event in events {
        match event {
            Stored::Accepted {
                id,
                topic,
                delivery,
            } => {
                accepted += 1;
                // Where the edge stored it: the intake topic, from which the
                // dedup stage publishes it to `topic`.
                tracing::info!(
                    source = %source.name, %client, %trace_id, event_id = %id, status = 200, topic = %topic,
                    intake_partition = delivery.partition, intake_offset = delivery.offset,
                    latency_ms, "accepted"
                );
            }
            Stored::Duplicate { id } => {
                tracing::info!(
                    source = %source.name, %client, %trace_id, event_id = %id, status = 200, latency_ms, "duplicate"
                );
            }
        }
    }
    let duplicates = events.len() - accepted;
    source
        .metrics
        .stored(accepted as u64, duplicates as u64, started.elapsed());
    (accepted, duplicates)
}

/// An event's id and route, read from the delivery's headers and its body.
fn locate(source: &Source, headers: &HeaderMap, verified: Verified) -> Result<Located, Failure> {
    let id = source.event_id.extract(headers, verified.body())?;
    match source.route.route(headers, verified.body()) {
        Ok(routed) => Ok(Located {
            verified,
            id,
            routed,
        }),
        Err(err) => Err(Failure {
            id: Some(id),
            ..err.into()
        }),
    }
}

/// Reads the whole body into one `Bytes`, refusing more than `limit` bytes: at
/// once when `Content-Length` says so, and while streaming when it lied or was absent.
async fn read_body<B>(
    body: B,
    headers: &HeaderMap,
    limit: usize,
    timeout: Duration,
    ticket: &mut Ticket<'_>,
) -> Result<Bytes, Rejection>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        Rejection::new(
            Reason::BodyTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    };
    if let Some(declared) = declared_length(headers).filter(|len| *len > limit as u64) {
        // Answering while the sender is still sending, then closing, makes the
        // kernel reset the connection and the 413 is lost: the provider would
        // retry forever. A body of moderate size is read and dropped first.
        if declared <= limit as u64 + DRAIN_BUDGET {
            let _ = tokio::time::timeout(timeout, discard(body)).await;
        }
        return Err(too_large());
    }
    let collect = async {
        let mut body = std::pin::pin!(body);
        let mut collected = Collected::default();
        while let Some(frame) = body.as_mut().frame().await {
            let frame = frame.map_err(|err| {
                let err: Box<dyn std::error::Error + Send + Sync> = err.into();
                Rejection::new(
                    Reason::BodyUnreadable,
                    format!("the body could not be read: {err}"),
                )
            })?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            if collected.len + data.len() > limit {
                return Err(too_large());
            }
            // Charged as it arrives: what a body declares costs nothing.
            ticket.charge(data.len()).map_err(over_budget)?;
            collected.push(data);
        }
        Ok(collected.into_bytes())
    };
    tokio::time::timeout(timeout, collect)
        .await
        .unwrap_or_else(|_elapsed| {
            Err(Rejection::new(
                Reason::BodyTimeout,
                format!("the body did not arrive within {}s", timeout.as_secs()),
            ))
        })
}

/// A body's frames as they arrive: one frame is kept as it came (no copy),
/// several are joined.
#[derive(Default)]
struct Collected {
    first: Option<Bytes>,
    rest: Option<bytes::BytesMut>,
    len: usize,
}

impl Collected {
    fn push(&mut self, data: Bytes) {
        self.len += data.len();
        match (&self.first, &mut self.rest) {
            (None, _) => self.first = Some(data),
            (Some(first), None) => {
                let mut joined = bytes::BytesMut::with_capacity(first.len() + data.len());
                joined.extend_from_slice(first);
                joined.extend_from_slice(&data);
                self.rest = Some(joined);
            }
            (Some(_), Some(joined)) => joined.extend_from_slice(&data),
        }
    }

    fn into_bytes(self) -> Bytes {
        match (self.first, self.rest) {
            (_, Some(joined)) => joined.freeze(),
            (Some(first), None) => first,
            (None, None) => Bytes::new(),
        }
    }
}

/// The body's length as `Content-Length` declares it.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok())
}

/// A fast 503 for a gateway, or a client, at one of its limits.
fn over_budget(over: OverBudget) -> Rejection {
    let reason = if over.is_the_clients() {
        Reason::ClientLimit
    } else {
        Reason::Overloaded
    };
    Rejection::new(reason, over.message())
}

/// Bytes beyond the limit that are read and dropped so a 413 reaches the sender.
const DRAIN_BUDGET: u64 = 1024 * 1024;

/// Reads a body to its end without keeping it.
async fn discard<B: http_body::Body>(body: B) {
    let mut body = std::pin::pin!(body);
    while let Some(Ok(_frame)) = body.as_mut().frame().await {}
}

/// The debug switch's log line: the body as text, up to 4 KiB, before it is
/// verified, so a sender's signature problems can be seen.
fn log_body(source: &Source, body: &Bytes) {
    const SHOWN: usize = 4096;
    let shown = &body[..body.len().min(SHOWN)];
    tracing::info!(
        source = %source.name,
        bytes = body.len(),
        truncated = body.len() > SHOWN,
        // Escaped: an unverified body must not start a log line of its own.
        body = %crate::pipeline::printable::Escaped(shown),
        "request body (sources.log_bodies is on)"
    );
}

#[cfg(test)]
mod tests {
    //! The pipeline's outcomes, called without a socket: the null publisher
    //! and an in-memory index stand in for Kafka.

    use http_body_util::BodyExt;

    use super::*;
    use crate::verify::{self, SchemeOptions, VerifierKind};

    const SECRET: &str = "ingest-test-secret";

    struct Pipeline {
        gateway: Gateway,
        _dir: tempfile::TempDir,
    }

    fn pipeline(loaded: bool) -> Pipeline {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("test.secret"), SECRET).expect("secret");
        let text = "[kafka]\nbrokers = \"null\"\n[server]\nmax_body_bytes = 1024\n\
                    [[sources]]\nname = \"github\"\npath = \"/github\"\nverifier = \"github\"\n\
                    secrets = [\"file:test.secret\"]\ntopic = \"t.github\"\n\
                    [[sources]]\nname = \"slack\"\npath = \"/slack\"\nverifier = \"slack\"\n\
                    secrets = [\"file:test.secret\"]\ntopic = \"t.slack\"\n\
                    [[sources]]\nname = \"mailchimp\"\npath = \"/mailchimp\"\nverifier = \"mailchimp\"\n\
                    secrets = [\"file:test.secret\"]\ntopic = \"t.mailchimp\"\n\
                    [[sources]]\nname = \"mandrill\"\npath = \"/mandrill\"\nverifier = \"mandrill\"\n\
                    secrets = [\"file:test.secret\"]\ntopic = \"t.mandrill\"\npublic_url = \"https://h.example/mandrill\"\n\
                    event_id = \"json:/_id\"\n";
        let mut config = Config::parse(text).expect("config");
        config.base_dir = dir.path().to_owned();
        let sources = Sources::build(&config).expect("sources");
        let health = Arc::new(Health::new(false));
        if loaded {
            health.dedup_loaded();
        }
        let gateway = Gateway::new(
            &config,
            sources,
            Dedup::in_memory(&config.dedup, Duration::from_secs(1)),
            Arc::new(Publisher::null()),
            health,
        );
        Pipeline { gateway, _dir: dir }
    }

    fn request(
        kind: VerifierKind,
        path: &str,
        id: &str,
        body: &str,
        signed_body: &str,
    ) -> Request<http_body_util::Full<Bytes>> {
        let now = crate::ops::clock::now_seconds();
        let signed = verify::sign(
            kind,
            SECRET.as_bytes(),
            signed_body.as_bytes(),
            id,
            now,
            SchemeOptions {
                public_url: Some("https://h.example/mandrill"),
                ..SchemeOptions::default()
            },
        )
        .expect("signs");
        let mut request = Request::post(path);
        for (name, value) in signed.headers {
            request = request.header(name, value);
        }
        // Schemes that sign inside the body (Mandrill's form) send their own.
        let body = if body == signed_body {
            Bytes::from(signed.body)
        } else {
            Bytes::from(body.to_owned())
        };
        request
            .body(http_body_util::Full::new(body))
            .expect("request")
    }

    /// The status and the JSON body.
    async fn answer(
        pipeline: &Pipeline,
        request: Request<http_body_util::Full<Bytes>>,
    ) -> (u16, serde_json::Value) {
        let response = pipeline.gateway.handle(request).await;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, serde_json::from_slice(&bytes).expect("JSON"))
    }

    /// The status, the headers and the body as text.
    async fn raw(pipeline: &Pipeline, method: Method, uri: &str) -> (u16, HeaderMap, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(http_body_util::Full::new(Bytes::new()))
            .expect("request");
        let response = pipeline.gateway.handle(request).await;
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        (
            parts.status.as_u16(),
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    /// The status and the JSON body's `status` or `reason`.
    async fn outcome(
        pipeline: &Pipeline,
        request: Request<http_body_util::Full<Bytes>>,
    ) -> (u16, String) {
        let (status, body) = answer(pipeline, request).await;
        let word = body["status"].as_str().or(body["reason"].as_str());
        (status, word.unwrap_or_default().to_owned())
    }

    #[tokio::test]
    async fn a_signed_event_is_accepted_once_then_a_duplicate() {
        let pipeline = pipeline(true);
        let body = r#"{"id":"evt-1"}"#;
        let first = request(VerifierKind::Github, "/github", "evt-1", body, body);
        assert_eq!(outcome(&pipeline, first).await, (200, "accepted".into()));
        let again = request(VerifierKind::Github, "/github", "evt-1", body, body);
        assert_eq!(outcome(&pipeline, again).await, (200, "duplicate".into()));
    }

    #[tokio::test]
    async fn each_refusal_has_its_status_and_reason() {
        let pipeline = pipeline(true);
        let body = r#"{"id":"evt-2"}"#;
        let cases = [
            (
                request(VerifierKind::Github, "/github", "evt-2", body, "{}"),
                (401, "signature_mismatch"),
            ),
            (
                request(VerifierKind::Github, "/nowhere", "evt-2", body, body),
                (404, "unknown_path"),
            ),
            // An empty X-GitHub-Delivery.
            (
                request(VerifierKind::Github, "/github", "", body, body),
                (400, "invalid_event_id"),
            ),
            (
                {
                    let big = format!(r#"{{"id":"evt-3","pad":"{}"}}"#, "x".repeat(2048));
                    request(VerifierKind::Github, "/github", "evt-3", &big, &big)
                },
                (413, "body_too_large"),
            ),
        ];
        for (request, expected) in cases {
            let (status, word) = outcome(&pipeline, request).await;
            assert_eq!((status, word.as_str()), expected);
        }
        let get = Request::get("/github")
            .body(http_body_util::Full::new(Bytes::new()))
            .expect("request");
        assert_eq!(
            outcome(&pipeline, get).await,
            (405, "method_not_allowed".into())
        );
    }

    #[tokio::test]
    async fn a_handshake_is_answered_while_the_index_is_still_loading() {
        let pipeline = pipeline(false);
        let body = r#"{"type":"url_verification","challenge":"c-0","token":"t"}"#;
        let (status, reply) = answer(
            &pipeline,
            request(VerifierKind::Slack, "/slack", "", body, body),
        )
        .await;
        assert_eq!(
            (status, &reply["challenge"]),
            (200, &serde_json::json!("c-0"))
        );
        let (status, _, _) = raw(&pipeline, Method::HEAD, "/mandrill").await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn nothing_is_accepted_before_the_index_is_loaded() {
        let pipeline = pipeline(false);
        let body = r#"{"id":"evt-4"}"#;
        let early = request(VerifierKind::Github, "/github", "evt-4", body, body);
        assert_eq!(outcome(&pipeline, early).await, (503, "not_ready".into()));
        let health = Request::get("/readyz")
            .body(http_body_util::Full::new(Bytes::new()))
            .expect("request");
        assert_eq!(outcome(&pipeline, health).await, (503, "not_ready".into()));
    }

    #[tokio::test]
    async fn a_handshake_is_answered_and_never_published() {
        let pipeline = pipeline(true);
        let body = r#"{"type":"url_verification","challenge":"c-1","token":"t"}"#;
        let handshake = request(VerifierKind::Slack, "/slack", "", body, body);
        let (status, reply) = answer(&pipeline, handshake).await;
        assert_eq!(
            (status, &reply["challenge"]),
            (200, &serde_json::json!("c-1"))
        );
    }

    #[tokio::test]
    async fn a_batch_is_stored_event_by_event_and_answered_once_all_are_in() {
        let pipeline = pipeline(true);
        let batch = r#"[{"_id":"m1","event":"send","ts":1},{"_id":"m2","event":"open","ts":2},{"_id":"m3","event":"send","ts":3}]"#;
        let post = || request(VerifierKind::Mandrill, "/mandrill", "", batch, batch);
        let (status, reply) = answer(&pipeline, post()).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(
            reply,
            serde_json::json!({ "status": "accepted", "events": 3, "accepted": 3, "duplicates": 0 })
        );
        // Mandrill's retry of the same batch publishes nothing again.
        let (status, reply) = answer(&pipeline, post()).await;
        assert_eq!((status, &reply["duplicates"]), (200, &serde_json::json!(3)));
        // An empty batch is Mandrill's check of a new webhook.
        let (status, _, body) = {
            let response = pipeline
                .gateway
                .handle(request(VerifierKind::Mandrill, "/mandrill", "", "[]", "[]"))
                .await;
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.expect("body").to_bytes();
            (parts.status.as_u16(), parts.headers, bytes)
        };
        assert_eq!((status, body.len()), (200, 0));
        // A batch one event of which has no id is refused whole.
        let broken = r#"[{"_id":"m4","event":"send"},{"event":"open"}]"#;
        let (status, _) = outcome(
            &pipeline,
            request(VerifierKind::Mandrill, "/mandrill", "", broken, broken),
        )
        .await;
        assert_eq!(status, 400);
        let (_, reply) = answer(
            &pipeline,
            request(
                VerifierKind::Mandrill,
                "/mandrill",
                "",
                r#"[{"_id":"m4","event":"send"}]"#,
                r#"[{"_id":"m4","event":"send"}]"#,
            ),
        )
        .await;
        assert_eq!(
            reply["status"], "accepted",
            "m4 was not published by the refused batch"
        );
        let (status, _, _) = raw(&pipeline, Method::HEAD, "/mandrill").await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn a_check_by_get_is_answered_only_as_its_provider_allows() {
        let pipeline = pipeline(true);
        let (status, _, body) = raw(
            &pipeline,
            Method::GET,
            &format!("/mailchimp?token={SECRET}"),
        )
        .await;
        assert_eq!((status, body.as_str()), (200, ""));
        for (method, uri) in [
            (Method::GET, "/mailchimp?token=wrong"),
            (Method::GET, "/mailchimp"),
            (Method::HEAD, "/github"),
            (Method::PUT, &format!("/mailchimp?token={SECRET}") as &str),
        ] {
            let (status, _, _) = raw(&pipeline, method.clone(), uri).await;
            assert_eq!(status, 405, "{method} {uri}");
        }
    }
}
