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
use self::record::record_stored;
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
                record_stored(&source, std::slice::from_ref(&event), &arrival);
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
                let (accepted, duplicates) = record_stored(&source, &events, &arrival);
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
}

#[cfg(test)]
mod tests {
    //! The pipeline's outcomes, called without a socket: the null publisher
    //! and an in-memory index stand in for Kafka.

    use http_body_util::BodyExt;

    use super::*;
    use crate::verify::{self, SchemeOptions, VerifierKind};
    use http::HeaderMap;

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
