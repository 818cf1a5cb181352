//! The metrics port: `/metrics` for Prometheus (hookgate's own series and the
//! process's CPU, memory, threads and file descriptors), `/readyz` with the
//! reasons behind readiness, and `/healthz`. It is a port of its own so that
//! nothing on it is ever exposed with the webhooks.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::ops::health::{self, Health};
use crate::ops::metrics;

/// How often histograms are compacted between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);
/// A scraper gets this long to send its request.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the metrics port serves from.
#[derive(Clone)]
pub struct Admin {
    prometheus: PrometheusHandle,
    process: Arc<metrics_process::Collector>,
    /// Set once the gateway has started; `/readyz` says not ready before.
    health: Arc<std::sync::OnceLock<Arc<Health>>>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

impl Admin {
    /// Installs the process-wide Prometheus recorder (latency histograms
    /// with [`metrics::LATENCY_BUCKETS`]) and describes every series.
    pub fn install() -> Result<Self, String> {
        let prometheus = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &metrics::LATENCY_BUCKETS,
            )
            .and_then(|builder| builder.install_recorder())
            .map_err(|err| format!("cannot install the Prometheus recorder: {err}"))?;
        metrics::describe();
        Ok(Self::new(prometheus))
    }

    /// Describes the process metrics and starts the histogram upkeep.
    pub fn new(prometheus: PrometheusHandle) -> Self {
        let process = metrics_process::Collector::default();
        process.describe();
        let upkeep = prometheus.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            loop {
                every.tick().await;
                upkeep.run_upkeep();
            }
        });
        Self {
            prometheus,
            process: Arc::new(process),
            health: Arc::default(),
        }
    }

    /// The health `/readyz` reports from now on.
    pub fn watch(&self, health: Arc<Health>) {
        let _ = self.health.set(health);
    }

    /// Serves the metrics port on `listener` for the life of the process.
    pub fn serve(&self, listener: TcpListener) {
        let admin = self.clone();
        tokio::spawn(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let builder = Arc::new(builder);
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let admin = admin.clone();
                let builder = Arc::clone(&builder);
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: http::Request<hyper::body::Incoming>| {
                            let response = admin.answer(request.uri().path());
                            async move { Ok::<_, Infallible>(response) }
                        });
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    }

    fn answer(&self, path: &str) -> Response<Full<Bytes>> {
        if let Some((code, body)) = health::answer(self.health.get().map(Arc::as_ref), path, true) {
            return respond(code, "application/json", body.to_string());
        }
        match path {
            "/metrics" => {
                self.process.collect();
                respond(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    self.prometheus.render(),
                )
            }
            _ => respond(
                StatusCode::NOT_FOUND,
                "application/json",
                r#"{"error":"the metrics port serves /metrics, /readyz and /healthz"}"#.into(),
            ),
        }
    }
}

fn respond(code: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}
