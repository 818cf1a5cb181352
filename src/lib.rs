//! hookgate: a webhook ingestion gateway. Providers POST signed events; hookgate
//! verifies them, drops duplicates, publishes them to Kafka with the body
//! untouched, and answers 2xx only once Kafka has acknowledged them.
//!
//! # Layout
//!
//! A request flows down this list:
//!
//! | module | owns |
//! |---|---|
//! | [`server`] | connections: accept loop, limits per client and in all, timeouts, HTTP/2 protections, graceful shutdown |
//! | [`ingest`] | the pipeline as one function, from request to response |
//! | [`source`] | what a URL path stands for: verifier, event id, topic, rate limit |
//! | [`rate_limit`] | per-source rates of correctly signed deliveries |
//! | [`verify`] | signature schemes, one file per provider (shared shapes in `header`, `list`, `v0`); provider handshakes; only it makes [`verify::Verified`] |
//! | [`event`] | the event id and the [`event::Event`] that publishing accepts |
//! | [`route`] | which topic: the source's one, or one per event type from a closed list |
//! | [`dedup`] | claim before publishing, commit after Kafka acked, release on failure; the compacted topic that shares ids across restarts and replicas |
//! | [`publish`] | the idempotent `acks=all` Kafka producer and its error classes |
//! | [`error`] | the one mapping from outcome to status code and JSON body |
//!
//! Around them: [`gateway`] (assembles the above and what runs beside it),
//! [`clock`] (Unix time as providers and Kafka count it),
//! [`config`] and [`secret`] (the only readers of files and the environment),
//! [`kafka`] (settings all Kafka clients share), [`metrics`], [`health`],
//! [`admin`] (the metrics port: `/metrics`, `/readyz` with its reasons),
//! [`throttle`] (for warnings that repeat), and [`embedded`] (an in-memory Kafka
//! for trying hookgate out).
//!
//! Tools beside the gateway: [`send`] (`hookgate send`, a signed delivery for
//! any provider) and [`tail`] (`hookgate tail`, what landed in a topic).

pub mod admin;
pub mod clock;
pub mod config;
pub mod dedup;
pub mod embedded;
pub mod error;
pub mod event;
pub mod gateway;
pub mod health;
pub mod ingest;
pub mod kafka;
pub mod metrics;
pub mod publish;
pub mod rate_limit;
pub mod route;
pub mod secret;
pub mod send;
pub mod server;
pub mod source;
pub mod tail;
pub mod throttle;
pub mod verify;
