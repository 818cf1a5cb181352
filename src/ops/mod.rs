//! What operators read and what every layer reports to: metrics and the
//! closed lists of reasons they count by, health and readiness, the metrics
//! port, span export, the clock, the container's limits, and the throttle for
//! warnings that repeat.

pub mod admin;
pub mod clock;
pub mod container;
pub mod health;
pub mod https;
pub mod metrics;
pub mod reason;
pub mod spans;
pub(crate) mod throttle;
