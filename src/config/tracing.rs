//! `[tracing]`: where each request's spans are exported (OpenTelemetry,
//! OTLP over HTTP). Off unless an endpoint is given; set at start-up.

use serde::{Deserialize, Serialize};

use super::Problems;

/// `[tracing]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// An OTLP/HTTP traces endpoint (`http://collector:4318/v1/traces`);
    /// nothing is exported without one.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of the exported spans.
    pub service_name: String,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "hookgate".into(),
        }
    }
}

impl TracingConfig {
    /// Every problem with `[tracing]`, each naming its field.
    pub(super) fn check(&self, problems: &mut Problems<'_>) {
        if let Some(endpoint) = &self.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            problems.add(
                "otlp_endpoint",
                format!("{endpoint:?}: give the collector's OTLP/HTTP URL, such as http://collector:4318/v1/traces"),
            );
        }
        if self.service_name.trim().is_empty() {
            problems.add("service_name", "must not be empty");
        }
    }
}
