//! The pipeline as one readable function: route → read body → verify → event id
//! → claim → publish → commit or release → answer. Every request ends here in
//! exactly one typed [`Answer`], which is counted and logged once. Reading
//! the body, storing an event, and recording how a request ended are the
//! jobs of the modules below.

mod body;
mod record;
mod store;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Method, Request};

use self::body::{log_body, over_budget, read_body};
use self::record::{StoredLog, record_stored};
use self::store::{RateSpend, locate};
use crate::config::Config;
use crate::dedup::Dedup;
use crate::kafka::publish::{Delivery, Publisher};
use crate::ops::clock::unix_seconds;
use crate::ops::health::{self, Health};
use crate::ops::metrics::InFlight;
use crate::ops::reason::Reason;
use crate::pipeline::answer::{Answer, Rejection};
use crate::pipeline::budget::{Budget, Ticket};
use crate::pipeline::client_addr::{ClientAddr, Peer, TrustedProxies};
use crate::pipeline::locate::EventId;
use crate::pipeline::quarantine::Held;
use crate::pipeline::route::Routed;
use crate::pipeline::source::{Source, Sources};
use crate::pipeline::trace::TraceParent;
use crate::verify::{Handshake, Verified};

pub use crate::pipeline::answer::HttpResponse;

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
    /// Which stored deliveries get a log line (`[log] accepted`).
    stored_log: StoredLog,
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
    /// The entity the source keys records by, where it does and the
    /// delivery names one.
    entity: Option<EventId>,
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
#[derive(Debug)]
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
    /// The parts an exported trace shows, as they happen.
    timings: Timings,
}

/// When the signature check and the Kafka acknowledgement began and how long
/// they took, for the request's exported span (kept only while spans are
/// exported).
#[derive(Debug, Default)]
struct Timings {
    verify: std::sync::OnceLock<(SystemTime, Duration)>,
    produce: std::sync::OnceLock<(SystemTime, Duration)>,
}

impl Timings {
    /// Runs `work`, noting when it began and how long it took in `slot`
    /// when spans are exported.
    fn measure<T>(
        slot: &std::sync::OnceLock<(SystemTime, Duration)>,
        work: impl FnOnce() -> T,
    ) -> T {
        let began = Self::begin();
        let done = work();
        Self::end(slot, began);
        done
    }

    /// When a part begins, if spans are exported: no clock is read
    /// otherwise.
    fn begin() -> Option<(SystemTime, Instant)> {
        crate::ops::spans::enabled().then(|| (SystemTime::now(), Instant::now()))
    }

    /// Notes in `slot` a part that [`Timings::begin`] saw begin.
    fn end(
        slot: &std::sync::OnceLock<(SystemTime, Duration)>,
        began: Option<(SystemTime, Instant)>,
    ) {
        if let Some((at, started)) = began {
            let _ = slot.set((at, started.elapsed()));
        }
    }
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
            stored_log: StoredLog::new(config.log.accepted),
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

    /// Answers one request. Callable without a socket.
    pub async fn handle<B>(&self, request: Request<B>) -> HttpResponse
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.process(request)
            .await
            .into_response(self.retry_after_secs)
    }

    /// Takes one request through the pipeline to its typed answer, counted
    /// and logged, before it is written as HTTP: what `hookgate redrive`
    /// reads.
    pub async fn process<B>(&self, request: Request<B>) -> Answer
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
            timings: Timings::default(),
        };
        let client = arrival.client;
        let source = live
            .sources
            .by_path(path)
            .filter(|_| self.receives_webhooks)
            .cloned();
        let Some(source) = source else {
            if let Some((status, body)) = health::answer(Some(&self.health), path, false) {
                return Answer::Health { status, body };
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
                record_stored(
                    &source,
                    std::slice::from_ref(&event),
                    &arrival,
                    &self.stored_log,
                );
                match event {
                    Stored::Accepted { id, .. } => Answer::Stored {
                        id,
                        duplicate: false,
                    },
                    Stored::Duplicate { id } => Answer::Stored {
                        id,
                        duplicate: true,
                    },
                }
            }
            Ok(Outcome::Batch(events)) => {
                let (accepted, duplicates) =
                    record_stored(&source, &events, &arrival, &self.stored_log);
                Answer::Batch {
                    events: events.len(),
                    accepted,
                    duplicates,
                }
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
                Answer::Handshake(handshake)
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
        let verified = Timings::measure(&arrival.timings.verify, || {
            source
                .verifier
                .verify_with_query(&parts.headers, parts.uri.query(), body, now)
        })?;
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
}

#[cfg(test)]
mod tests;
