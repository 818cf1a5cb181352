//! hookgate: a webhook ingestion gateway. Providers POST signed events; hookgate
//! verifies them, hands them to Kafka's intake topic and answers 2xx once Kafka
//! has acknowledged them; the dedup stage that owns each id's partition
//! publishes every event once, with the body untouched.
//!
//! # Layout
//!
//! A request flows down this list; a module imports only those below it:
//!
//! | module | owns |
//! |---|---|
//! | `server` | connections: accept loop, limits per client and in all, timeouts (idle ones too), HTTP/2 protections, graceful shutdown |
//! | [`tls`] | HTTPS termination: the certificate and key, swapped on reload; each connection's handshake under its deadline |
//! | [`ingest`] | the pipeline as one function, from request to response |
//! | `budget` | what requests hold, in all and per client: places among the requests in flight, body bytes as they arrive |
//! | [`quarantine`] | requests refused after their body was read, kept (secrets redacted, within a budget) for `redrive` |
//! | [`source`] | what a URL path stands for: verifier, event id, topic, rate limit |
//! | `rate_limit` | per-source rates of correctly signed deliveries |
//! | [`verify`] | signature schemes: one file per provider and one line in its `providers!` table (shared shapes in `header`, `list`, `v0`, `token`); provider handshakes and batch splitting; only it makes [`verify::Verified`] |
//! | [`locate`] | where a source finds an event's id and type ([`locate::Locator`]): a header, a JSON pointer, the body's digest |
//! | `event` | the `Event` that publishing accepts |
//! | `route` | which topic: the source's one, or one per event type from a closed list |
//! | [`dedup`] | at the edge, claim before handing on, commit after Kafka acked, release on failure (its own recent ids); the intake record; the stage that owns intake partitions (a consumer-group member), their windows and the compacted topic they are rebuilt from; the keeper that keeps a stage running |
//! | [`publish`] | the idempotent `acks=all` Kafka producer (to the intake topic, or to the event topic with the null broker) and its error classes |
//! | `error` | the one mapping from outcome to status code and JSON body |
//! | [`trace`] | W3C Trace Context: the sender's `traceparent` continued, or a trace started |
//! | [`client_addr`] | who sent a request: the socket's address or a trusted proxy's forwarding header; allowlist ranges |
//! | [`reason`] | the closed lists behind labels: why a request or connection was turned away (each with its status), how a TLS handshake ended, how a reload went |
//!
//! Around them: [`app`] (the one start-up: chooses the broker, builds the
//! sources, assembles the above and what runs beside it, reloads what may
//! change live, and stops it all), [`reload`] (which settings a reload
//! applies and which need a restart),
//! [`clock`] (Unix time as providers and Kafka count it),
//! [`config`] and [`secret`] (the only readers of files and the environment),
//! [`kafka`] (settings all Kafka clients share), [`metrics`], [`health`],
//! [`admin`] (the metrics port: `/metrics`, `/readyz` with its reasons),
//! [`printable`] (request bytes made safe for logs and terminals),
//! `throttle` (for warnings that repeat), and `embedded` (an in-memory Kafka
//! for trying hookgate out).
//!
//! Tools beside the gateway: [`send`] (`hookgate send`, a signed delivery for
//! any provider), [`tail`] (`hookgate tail`, what landed in a topic),
//! [`forward`] (`hookgate forward`, a topic's records POSTed to a URL),
//! [`redrive`] (`hookgate redrive`, quarantined requests through the pipeline
//! again), and what they share: [`consume`] (reading a topic from a point)
//! and [`outbound`] (their HTTP and HTTPS client).

pub mod admin;
pub mod app;
pub(crate) mod budget;
pub mod client_addr;
pub mod clock;
pub mod config;
pub mod consume;
pub mod dedup;
pub(crate) mod embedded;
pub(crate) mod error;
pub(crate) mod event;
pub mod forward;
pub mod health;
pub mod ingest;
pub mod kafka;
pub mod locate;
pub mod metrics;
pub mod outbound;
pub mod printable;
pub mod publish;
pub mod quarantine;
pub(crate) mod rate_limit;
pub mod reason;
pub mod redrive;
pub mod reload;
pub(crate) mod route;
pub mod secret;
pub mod send;
pub(crate) mod server;
pub mod source;
pub mod tail;
pub(crate) mod throttle;
pub mod tls;
pub mod trace;
pub mod verify;
