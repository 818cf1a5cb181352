//! What hookgate's integration tests, benches and load generator run
//! against: real brokers ([`Kafka`], shared by the run, and [`Broker`],
//! tansu of a test's own), a [`Testbed`] of broker, event topic and folder,
//! gateways built from it in this process or as processes of their own,
//! deliveries signed as providers sign them, an HTTP client, a Kafka reader,
//! the `hookgate` CLI, and the figures benches measure with.

mod bed;
mod broker;
pub mod cli;
pub mod figures;
mod gateway;
pub mod http;
mod kafka;
mod names;
mod ports;
mod records;
pub mod signing;
mod tools;

pub use bed::{Brokers, Testbed};
pub use broker::{Broker, create_topic};
pub use gateway::{GatewayBuilder, InProcess, Process, with_own_dedup_topics};
pub use kafka::{KAFKA_PASSWORD, KAFKA_USER, Kafka};
pub use names::topic;
pub use ports::free_port;
pub use records::{Record, consume};
pub use tools::{installed, send_signal, tools_dir};
