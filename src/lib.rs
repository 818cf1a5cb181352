//! hookgate: a webhook ingestion gateway. Providers POST signed events; hookgate
//! verifies them, hands them to Kafka's intake topic and answers 2xx once Kafka
//! has acknowledged them; the dedup stage that owns each id's partition
//! publishes every event once, with the body untouched.
//!
//! # Layout
//!
//! The folders are the data flow, from the socket down to Kafka, with what
//! the operator reads beside it. Above them all, the `hookgate` binary
//! (`src/main.rs`, `src/cli/`) parses the command line and gives each
//! command its module: `serve` runs [`app::launch`], `check-config` runs
//! [`app::check`], the tools run from [`tools`].
//!
//! | folder | owns |
//! |---|---|
//! | [`tools`] | the commands beside the gateway: `send`, `tail`, `forward`, `redrive` |
//! | [`app`] | the one start-up: checks the configuration as `check-config` does, opens the metrics port, chooses the broker, builds the sources, assembles the layers below and what runs beside them (with or without a webhook port), reloads what may change live, stops it all |
//! | [`edge`] | connections and their limits, HTTP/2 protections, timeouts, graceful shutdown, TLS |
//! | [`pipeline`] | one request from its path to its typed answer: who sent it and what its body may hold, reading the body, the source, the event id and type, the route, storing the event, the quarantine, recording the outcome, the answer as HTTP, trace context |
//! | [`verify`] | signature schemes: one file per provider in `providers/` and one line in the `providers!` table; beside them the `Scheme` trait and the shapes several providers share, the runtime `Verifier`, handshakes, signing for `send`; only it makes [`verify::Verified`] |
//! | [`dedup`] | the edge's recent ids; the intake record; the stage that owns intake partitions, their windows and the compacted topic they are rebuilt from |
//! | [`kafka`] | settings every client shares, the idempotent producer, reading a topic from a point, the embedded cluster |
//! | [`config`] | the file, one module per section (its settings, defaults, checks and which a reload applies), and the checks between sections; [`config::secret`], the only reader of the environment and of secret files |
//! | [`ops`] | metrics and the closed lists of reasons they count by, health and readiness, the metrics port, span export over OTLP, the outbound HTTPS client and PEM reader, the clock, the throttle for repeated warnings |
//!
//! Files never import each other in a circle. Between folders, the arrows
//! that still run up this table (a layer reaching for a type that lives
//! above it) are listed, each with the names it uses, in `tests/layout.rs`,
//! which fails on any new one and on any that has gone, so the list only
//! shrinks.

pub mod app;
pub mod config;
pub mod dedup;
pub mod edge;
pub mod kafka;
pub mod ops;
pub mod pipeline;
pub mod tools;
pub mod verify;
