//! End-to-end tests: real sockets, real brokers (Apache Kafka shared by the
//! run, tansu started per test where a test kills or freezes its broker), and
//! a consumer that reads what downstream teams would read. What they run
//! against is the `hookgate-testbed` crate; each module covers one area.

mod certificates;
mod cli;
mod connections;
mod dedup;
mod edge;
mod hostile;
mod http2;
mod interop;
mod kafka;
mod observability;
mod outages;
mod publishing;
mod quarantine;
mod readiness;
mod refusals;
mod replays;
mod sasl;
mod stage;
mod tls;
