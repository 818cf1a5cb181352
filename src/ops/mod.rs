//! What operators read and what every layer reports to: metrics, health
//! and readiness, the metrics port, the clock, and the throttle for warnings
//! that repeat. Imports nothing of the pipeline but the closed lists of
//! reasons it counts by.

pub mod admin;
pub mod clock;
pub mod health;
pub mod metrics;
pub(crate) mod throttle;
