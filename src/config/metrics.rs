//! `[metrics]`: the operator's port (Prometheus `/metrics`, `/readyz` with
//! its reasons, `/healthz`). Bound at start-up; a reload leaves it.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` here; a separate port from webhooks so it is never exposed with them.
    pub listen: SocketAddr,
    /// Set false to serve no metrics.
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            enabled: true,
        }
    }
}
