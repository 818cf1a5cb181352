//! Connections: the accept loop, the limits that keep one client from locking
//! out the others, HTTP/1.1 keep-alive and HTTP/2 with their protections, and
//! graceful shutdown that lets requests in flight finish (their events are in
//! Kafka or released, never half-done).
//!
//! A connection must bring a request's headers within `server.header_timeout`
//! of opening (whatever it sends, or does not: silence, half a request line,
//! part of the HTTP/2 preface), and an idle HTTP/1.1 connection is closed after
//! the same time; otherwise it is closed and counted. A connection with no
//! request open is closed after `server.idle_timeout` whatever keep-alive
//! pings it answers (an HTTP/2 connection would otherwise hold its place for
//! ever). Beyond `server.max_connections` in all, or
//! `server.max_connections_per_client` from one client (an address, or an
//! IPv6 network of `server.ipv6_client_prefix` bits), a new connection is
//! answered 503 with `Retry-After` at once and closed, instead of waiting in
//! the kernel's backlog behind the ones that hold their place.
//!
//! With `[server.tls]` each connection is taken through its TLS handshake
//! first, under `server.tls.handshake_timeout`; its place is held meanwhile,
//! so a flood of half-finished handshakes meets the same limits.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::pipeline::client_addr::{ClientKey, Peer};

use crate::config::ServerConfig;
use crate::edge::tls::Tls;
use crate::ops::metrics;
use crate::ops::reason::{ProtocolError, Refusal, TlsHandshake};
use crate::pipeline::ingest::Gateway;

/// Open connections, in all and by client address.
#[derive(Debug)]
struct Admission {
    max: usize,
    /// 0: no limit per address (behind a load balancer every client is it).
    max_per_client: usize,
    ipv6_prefix: u8,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_client: HashMap<ClientKey, usize>,
}

/// A connection's place; given back when dropped.
#[derive(Debug)]
struct Admitted {
    admission: Arc<Admission>,
    client: ClientKey,
}

impl Admission {
    fn admit(self: &Arc<Self>, peer: std::net::IpAddr) -> Result<Admitted, Refusal> {
        let client = ClientKey::of_ip(peer, self.ipv6_prefix);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.total >= self.max {
            return Err(Refusal::ConnectionLimit);
        }
        let from_client = open.by_client.entry(client).or_default();
        if self.max_per_client > 0 && *from_client >= self.max_per_client {
            return Err(Refusal::PerClientLimit);
        }
        *from_client += 1;
        open.total += 1;
        metrics::connections_open(open.total);
        Ok(Admitted {
            admission: Arc::clone(self),
            client,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.by_client.remove(&self.client);
            }
        }
        metrics::connections_open(open.total);
    }
}

/// Serves webhooks on `listener` until `shutdown` resolves, then waits up to
/// `server.shutdown_grace` for open requests. `main` and the tests both run this.
pub(crate) async fn run(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    config: &ServerConfig,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()>,
) {
    let admission = Arc::new(Admission {
        max: config.max_connections,
        max_per_client: config.max_connections_per_client,
        ipv6_prefix: config.ipv6_client_prefix,
        open: Mutex::new(Open::default()),
    });
    let closing = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_headers(config.max_headers)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(config.http2_max_concurrent_streams)
        .max_header_list_size(config.max_header_bytes)
        .max_pending_accept_reset_streams(config.http2_max_pending_resets)
        .keep_alive_interval(config.http2_keep_alive_interval)
        .keep_alive_timeout(config.http2_keep_alive_timeout);
    let builder = Arc::new(builder);
    let retry_after = gateway.retry_after_secs();
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, most likely: back off rather than spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let admitted = match admission.admit(peer.ip()) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                metrics::connection_refused(refusal);
                // A TLS client would read a plain-text answer as a broken
                // handshake: it is closed instead, which it retries as well.
                if tls.is_some() {
                    tracing::warn!(client = %peer.ip(), reason = refusal.as_str(), "connection refused: closed");
                } else {
                    tracing::warn!(client = %peer.ip(), reason = refusal.as_str(), "connection refused: answered 503");
                    tokio::spawn(refuse(stream, retry_after));
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            gateway: Arc::clone(&gateway),
            builder: Arc::clone(&builder),
            closing: closing.clone(),
            header_timeout: config.header_timeout,
            idle_timeout: config.idle_timeout,
            peer,
        };
        let tls = tls.clone();
        connections.spawn(async move {
            match tls {
                None => connection.serve(stream).await,
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => {
                        metrics::tls_handshake(TlsHandshake::Completed);
                        connection.serve(stream).await;
                    }
                    Err((failed, why)) => {
                        metrics::tls_handshake(failed);
                        tracing::debug!(%peer, outcome = failed.as_str(), error = %why, "TLS handshake did not complete: closed");
                    }
                },
            }
            drop(admitted);
        });
    }

    drop(listener);
    tracing::info!("shutting down: no new connections; waiting for requests in flight");
    closing.cancel();
    connections.close();
    tokio::select! {
        () = connections.wait() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(config.shutdown_grace) => {
            tracing::warn!(grace = ?config.shutdown_grace, "connections still open after the shutdown grace; closing them");
        }
    }
}

/// What serving one connection needs.
struct Connection {
    gateway: Arc<Gateway>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    /// Cancelled when the server shuts down: the connection finishes its
    /// requests and closes.
    closing: CancellationToken,
    header_timeout: Duration,
    idle_timeout: Duration,
    peer: std::net::SocketAddr,
}

impl Connection {
    /// Serves HTTP/1.1 or HTTP/2 on `io` until either side closes it, it
    /// sends no request in time, it stays idle too long, or the server
    /// shuts down.
    async fn serve<IO>(self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            gateway,
            builder,
            closing,
            header_timeout,
            idle_timeout,
            peer,
        } = self;
        let (open, mut watch_open) = watch::channel(OpenRequests::default());
        let open = Arc::new(open);
        let service = service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(Peer(peer));
            let gateway = Arc::clone(&gateway);
            let request_open = RequestOpen::enter(&open);
            async move {
                let response = gateway.handle(request).await;
                drop(request_open);
                Ok::<_, Infallible>(response)
            }
        });
        let connection = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        // hyper's own header timeout starts only once it knows the
        // protocol; this one starts when the connection is ready for HTTP.
        let first_request = tokio::time::sleep(header_timeout);
        tokio::pin!(first_request);
        let mut asked = false;
        let mut shutting_down = false;
        let ended = loop {
            tokio::select! {
                ended = &mut connection => break ended,
                () = &mut first_request, if !asked => {
                    if watch_open.borrow().asked {
                        asked = true;
                    } else {
                        metrics::connection_timed_out();
                        tracing::debug!(%peer, "no request within server.header_timeout: closed");
                        return;
                    }
                }
                () = idle(&mut watch_open, idle_timeout), if !shutting_down => {
                    metrics::connection_idle_closed();
                    tracing::debug!(%peer, "no request open within server.idle_timeout: closing");
                    shutting_down = true;
                    connection.as_mut().graceful_shutdown();
                }
                () = closing.cancelled(), if !shutting_down => {
                    shutting_down = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        };
        if let Err(err) = ended {
            let hyper_error = err.downcast_ref::<hyper::Error>();
            if let Some(error) = hyper_error.and_then(protocol_error) {
                metrics::protocol_error(error);
                tracing::debug!(%peer, reason = error.as_str(), error = %err, "connection closed");
            } else {
                if hyper_error.is_some_and(hyper::Error::is_timeout) {
                    metrics::connection_timed_out();
                }
                tracing::debug!(%peer, error = %err, "connection closed");
            }
        }
    }
}

/// A connection's requests being handled now, and whether it ever asked one.
#[derive(Debug, Default, Clone, Copy)]
struct OpenRequests {
    now: usize,
    asked: bool,
}

/// One request of a connection being handled; counted until dropped.
struct RequestOpen(Arc<watch::Sender<OpenRequests>>);

impl RequestOpen {
    fn enter(open: &Arc<watch::Sender<OpenRequests>>) -> Self {
        open.send_modify(|open| {
            open.now += 1;
            open.asked = true;
        });
        Self(Arc::clone(open))
    }
}

impl Drop for RequestOpen {
    fn drop(&mut self) {
        self.0
            .send_modify(|open| open.now = open.now.saturating_sub(1));
    }
}

/// Resolves once the connection has had no request open for `timeout`.
async fn idle(open: &mut watch::Receiver<OpenRequests>, timeout: Duration) {
    loop {
        // The sender lives in the connection's service: gone, the
        // connection is ending anyway.
        if open.wait_for(|open| open.now == 0).await.is_err() {
            return std::future::pending().await;
        }
        tokio::select! {
            () = tokio::time::sleep(timeout) => return,
            gone = async { open.wait_for(|open| open.now > 0).await.is_err() } => {
                if gone {
                    return std::future::pending().await;
                }
            }
        }
    }
}

/// The client's part in a connection's error, if it broke HTTP; `None` for
/// timeouts, resets and closes, which are not malformed input.
fn protocol_error(error: &hyper::Error) -> Option<ProtocolError> {
    if error.is_parse_too_large() {
        return Some(ProtocolError::HeadersTooLarge);
    }
    if error.is_parse() {
        return Some(ProtocolError::MalformedRequest);
    }
    // h2 reports a limit or a protocol violation it found itself as a
    // "library" error, for which it sends GOAWAY; a peer's own GOAWAY or a
    // broken socket is not the client's malformed input.
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        if let Some(h2) = inner.downcast_ref::<h2::Error>() {
            return (h2.is_library() && !h2.is_io()).then_some(ProtocolError::Http2);
        }
        cause = inner.source();
    }
    None
}

/// Answers a connection hookgate has no room for: 503 with `Retry-After`, then
/// close, so the sender learns to retry at once instead of waiting.
async fn refuse(mut stream: TcpStream, retry_after: u32) {
    const BODY: &str = r#"{"error":"hookgate has no room for another connection; retry later","reason":"overloaded"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: {retry_after}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(max: usize, max_per_client: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max,
            max_per_client,
            ipv6_prefix: 64,
            open: Mutex::new(Open::default()),
        })
    }

    fn ip(text: &str) -> std::net::IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn every_address_of_an_ipv6_network_is_one_client() {
        let admission = admission(100, 2);
        let _held = [
            admission.admit(ip("2001:db8:7:7::1")).expect("a place"),
            admission
                .admit(ip("2001:db8:7:7:1:2:3:4"))
                .expect("a place"),
        ];
        assert_eq!(
            admission.admit(ip("2001:db8:7:7:ffff::")).err(),
            Some(Refusal::PerClientLimit)
        );
        admission
            .admit(ip("2001:db8:7:8::1"))
            .expect("the next /64 is another client");
        // An IPv4 address is itself, however it reaches the socket.
        let _v4 = admission.admit(ip("192.0.2.7")).expect("a place");
        let _mapped = admission.admit(ip("::ffff:192.0.2.7")).expect("a place");
        assert_eq!(
            admission.admit(ip("192.0.2.7")).err(),
            Some(Refusal::PerClientLimit)
        );
        assert!(admission.admit(ip("192.0.2.8")).is_ok());
    }
}
