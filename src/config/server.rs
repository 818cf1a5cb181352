//! `[server]`: the webhook listener, its limits and timeouts, TLS, and who
//! may name the client. Which of its settings a reload applies is
//! [`ServerConfig::LIVE`]; every other one waits for a restart.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Parsed, Problems};
use crate::edge::tls::TlsConfig;
use crate::pipeline::client_addr::{Cidr, ForwardedHeader, IpSet, TrustedProxies};

/// `[server]`: the webhook listener.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the webhook listener binds.
    pub listen: SocketAddr,
    /// Largest request body accepted, unless a source sets its own.
    pub max_body_bytes: usize,
    /// Time allowed to receive a whole body once headers arrived.
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// Time allowed from a connection's opening, or from the end of its
    /// previous response, until a request's headers have arrived; silent and
    /// slow connections are closed.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Open connections at most; beyond, a new one is answered 503 at once.
    pub max_connections: usize,
    /// Open connections from one client address at most (0: no limit, for
    /// hookgate behind a load balancer, whose address every client shares).
    pub max_connections_per_client: usize,
    /// Requests handled at once, at most; beyond, 503 `overloaded` at once.
    pub max_requests_in_flight: usize,
    /// Requests of one client handled at once, at most (0: no limit, as for
    /// `max_connections_per_client`); beyond, 503 `client_limit` for that
    /// client only. HTTP/2 streams count one each.
    pub max_requests_in_flight_per_client: usize,
    /// Request body bytes held at once across all requests, at most, counted
    /// as they arrive; beyond, 503 `overloaded`.
    pub max_buffered_body_bytes: usize,
    /// Request body bytes one client may hold at once (0: no limit); beyond,
    /// 503 `client_limit` for that client only.
    pub max_buffered_body_bytes_per_client: usize,
    /// The IPv6 prefix length that limits per client count as one client
    /// (an IPv6 host usually has a whole /64).
    pub ipv6_client_prefix: u8,
    /// How long a connection with no request open may stay, whatever
    /// keep-alive pings it answers; HTTP/1.1 connections are closed sooner,
    /// by `header_timeout`.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Streams one HTTP/2 connection may have open at once.
    pub http2_max_concurrent_streams: u32,
    /// Bytes of request headers, at most, on HTTP/2 (also the bound on
    /// CONTINUATION frames).
    pub max_header_bytes: u32,
    /// Headers in one HTTP/1.1 request, at most; beyond, 431.
    pub max_headers: usize,
    /// How often an idle HTTP/2 connection is pinged, so that a peer gone
    /// silent does not keep its place.
    #[serde(with = "humantime_serde")]
    pub http2_keep_alive_interval: Duration,
    /// How long the answer to a ping may take before the connection is closed.
    #[serde(with = "humantime_serde")]
    pub http2_keep_alive_timeout: Duration,
    /// Streams an HTTP/2 client may reset before their answers are sent, at
    /// most; beyond, the connection is closed (the "rapid reset" attack,
    /// CVE-2023-44487).
    pub http2_max_pending_resets: usize,
    /// Whether an unreachable Kafka cluster makes `/readyz` say not ready. Off:
    /// a Kafka outage would take every replica out of rotation at once, and
    /// providers would get the load balancer's 502 instead of hookgate's 503
    /// with `Retry-After`.
    pub readiness_requires_kafka: bool,
    /// On SIGTERM, how long requests in flight may take to finish.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Reload when the config file, a source's `file:` secret or the TLS
    /// certificate or key changes, as SIGHUP does.
    pub reload_on_change: bool,
    /// Async worker threads; 0 means one per CPU core. librdkafka runs threads
    /// of its own beside them.
    pub workers: usize,
    /// HTTPS on `listen` with this certificate and key; plain HTTP without it
    /// (behind a load balancer that terminates TLS).
    pub tls: Option<TlsConfig>,
    /// Peers whose forwarding header names the client (load balancers,
    /// reverse proxies): CIDR ranges or addresses. Empty: the socket's
    /// address is the client, whatever the request says.
    pub trusted_proxies: Vec<Parsed<Cidr>>,
    /// The header `trusted_proxies` write the client's address to.
    pub client_address_header: ForwardedHeader,
}

impl ServerConfig {
    /// The settings a reload applies while hookgate serves; the others are
    /// bound into the listener and its connections at start-up.
    pub const LIVE: &[&str] = &["tls", "trusted_proxies", "client_address_header"];

    /// Every problem with `[server]`, each naming its field.
    pub(super) fn check(&self, problems: &mut Problems<'_>) {
        if self.max_body_bytes == 0 {
            problems.add("max_body_bytes", "must be at least 1");
        }
        for (field, value) in [
            ("max_connections", self.max_connections),
            ("max_requests_in_flight", self.max_requests_in_flight),
            (
                "http2_max_concurrent_streams",
                self.http2_max_concurrent_streams as usize,
            ),
            ("max_header_bytes", self.max_header_bytes as usize),
            ("max_headers", self.max_headers),
            ("http2_max_pending_resets", self.http2_max_pending_resets),
        ] {
            if value == 0 {
                problems.add(field, "must be at least 1");
            }
        }
        if self.max_buffered_body_bytes < self.max_body_bytes {
            problems.add(
                "max_buffered_body_bytes",
                format!(
                    "{} is less than server.max_body_bytes ({}): no body of the largest size could be read",
                    self.max_buffered_body_bytes, self.max_body_bytes
                ),
            );
        }
        let per_client_bytes = self.max_buffered_body_bytes_per_client;
        if per_client_bytes != 0 && per_client_bytes < self.max_body_bytes {
            problems.add(
                "max_buffered_body_bytes_per_client",
                format!(
                    "{per_client_bytes} is less than server.max_body_bytes ({}): no client could send a body of the largest size (0 turns the share off)",
                    self.max_body_bytes
                ),
            );
        }
        if self.ipv6_client_prefix == 0 || self.ipv6_client_prefix > 128 {
            problems.add(
                "ipv6_client_prefix",
                format!(
                    "{} is not an IPv6 prefix length: give 1 to 128 (64 counts each /64 as one client)",
                    self.ipv6_client_prefix
                ),
            );
        }
        for (field, value) in [
            ("body_timeout", self.body_timeout),
            ("header_timeout", self.header_timeout),
            ("idle_timeout", self.idle_timeout),
            ("http2_keep_alive_interval", self.http2_keep_alive_interval),
            ("http2_keep_alive_timeout", self.http2_keep_alive_timeout),
        ] {
            if value.is_zero() {
                problems.add(field, "must be longer than 0s");
            }
        }
        for (j, range) in self.trusted_proxies.iter().enumerate() {
            if let Some(message) = range.error() {
                problems.add(&format!("trusted_proxies[{j}]"), message);
            }
        }
        if let Some(tls) = &self.tls
            && tls.handshake_timeout.is_zero()
        {
            problems.add("tls.handshake_timeout", "must be more than 0s");
        }
    }
    /// `trusted_proxies` and `client_address_header`, as the server reads them.
    pub fn trusted_proxies(&self) -> TrustedProxies {
        TrustedProxies::new(
            IpSet::new(
                self.trusted_proxies
                    .iter()
                    .filter_map(|range| range.value().copied()),
            ),
            self.client_address_header,
        )
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            body_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_connections_per_client: 1_000,
            max_requests_in_flight: 8_192,
            max_requests_in_flight_per_client: 1_024,
            max_buffered_body_bytes: 256 * 1024 * 1024,
            max_buffered_body_bytes_per_client: 32 * 1024 * 1024,
            ipv6_client_prefix: crate::pipeline::client_addr::DEFAULT_IPV6_CLIENT_PREFIX,
            idle_timeout: Duration::from_secs(30),
            http2_max_concurrent_streams: 100,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            http2_keep_alive_interval: Duration::from_secs(20),
            http2_keep_alive_timeout: Duration::from_secs(10),
            http2_max_pending_resets: 20,
            readiness_requires_kafka: false,
            shutdown_grace: Duration::from_secs(15),
            reload_on_change: true,
            workers: 0,
            tls: None,
            trusted_proxies: Vec::new(),
            client_address_header: ForwardedHeader::default(),
        }
    }
}
