//! hookgate's outbound HTTP client, for its tools (`send`, `forward`; the
//! load generator uses its connector) and for the signing certificates some
//! providers name by URL: `http://` and `https://` URLs, HTTP/1.1 or HTTP/2 as
//! the server offers by ALPN. TLS is rustls, trusting the system's
//! certificate authorities plus, where one is given, one more (a private CA,
//! or a test certificate); and the PEM reader every certificate file goes
//! through.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
pub use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// How long a request may wait for its whole answer unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for `http://` and `https://` URLs.
pub type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--ca {path}: {message}")]
    Ca { path: PathBuf, message: String },
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// rustls settings trusting the system's authorities and those in `ca`.
pub fn tls_config(ca: Option<&Path>) -> Result<ClientConfig, ClientError> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped; a `--ca` still works alone.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca {
        let certs = read_certificates(path).map_err(|message| ClientError::Ca {
            path: path.to_owned(),
            message,
        })?;
        let (_added, ignored) = roots.add_parsable_certificates(certs);
        if ignored > 0 {
            return Err(ClientError::Ca {
                path: path.to_owned(),
                message: format!("{ignored} certificate(s) are not valid X.509"),
            });
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The PEM certificates in a file (a chain, or authorities to trust); at
/// least one.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| format!("cannot read PEM certificates: {err}"))?;
    if certificates.is_empty() {
        return Err("holds no PEM certificate".to_owned());
    }
    Ok(certificates)
}

/// Connections for `http://` and `https://` URLs; over TLS, offering `h2`
/// (when `http2`) and `http/1.1`.
pub fn connector(
    ca: Option<&Path>,
    http2: bool,
) -> Result<HttpsConnector<HttpConnector>, ClientError> {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(ca)?)
        .https_or_http();
    Ok(if http2 {
        builder.enable_http1().enable_http2().wrap_connector(tcp)
    } else {
        builder.enable_http1().wrap_connector(tcp)
    })
}

/// A client for both schemes, HTTP/1.1 or HTTP/2 as the server offers.
pub fn client(ca: Option<&Path>) -> Result<HttpsClient, ClientError> {
    Ok(Client::builder(TokioExecutor::new()).build(connector(ca, true)?))
}

/// Whether `url` is one these clients can reach.
pub fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// `url` with `query` appended, after `?` or, if it has one, `&`.
pub fn with_query(url: &str, query: Option<&str>) -> String {
    match query {
        Some(query) if url.contains('?') => format!("{url}&{query}"),
        Some(query) => format!("{url}?{query}"),
        None => url.to_owned(),
    }
}

/// Sends `request` and reads its answer: its status and body, or why none
/// came. The status must come within `timeout`, and the body within as long
/// again: a target that accepts the connection and says nothing must not hold
/// a tool forever, and one that answered but trickles its body has still
/// answered (its body then says it was cut short).
pub async fn exchange(
    client: &HttpsClient,
    request: http::Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<(u16, Bytes), String> {
    let within = humantime::format_duration(timeout);
    let response = tokio::time::timeout(timeout, client.request(request))
        .await
        .map_err(|_| format!("no answer within {within}"))?
        .map_err(|err| describe(&err))?;
    let status = response.status().as_u16();
    let body = match tokio::time::timeout(timeout, response.into_body().collect()).await {
        Ok(collected) => collected.map_err(|err| describe(&err))?.to_bytes(),
        Err(_) => Bytes::from(format!("(the body did not finish within {within})")),
    };
    Ok((status, body))
}

/// A `--timeout` as given on the command line (`30s`, `2m`); zero would
/// refuse every delivery before it could be answered.
pub fn parse_timeout(text: &str) -> Result<humantime::Duration, String> {
    let timeout: humantime::Duration = text.parse().map_err(|err| format!("{err}"))?;
    if timeout.is_zero() {
        return Err("a timeout of zero leaves no time for an answer".into());
    }
    Ok(timeout)
}

/// An error with its causes (`client error (Connect): invalid peer
/// certificate: UnknownIssuer`): hyper's own message leaves them out.
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exchange with a 300 ms timeout; the test fails rather than hang if
    /// the timeout does not hold.
    async fn post_within_300ms(url: &str) -> Result<(u16, Bytes), String> {
        let request = http::Request::post(url)
            .body(Full::new(Bytes::from_static(b"{}")))
            .expect("request");
        let client = client(None).expect("client");
        let exchanged = exchange(&client, request, Duration::from_millis(300));
        tokio::time::timeout(Duration::from_secs(10), exchanged)
            .await
            .expect("exchange gave up by itself")
    }

    #[tokio::test]
    async fn a_target_that_never_answers_is_given_up_on_in_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        // Accepts, reads nothing, answers nothing, keeps the socket open.
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let started = std::time::Instant::now();
        let answer = post_within_300ms(&url).await;
        assert_eq!(answer, Err("no answer within 300ms".to_owned()));
        assert!(started.elapsed() >= Duration::from_millis(300));
        silent.abort();
    }

    #[tokio::test]
    async fn an_answer_whose_body_never_finishes_still_counts_as_answered() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        // Reads the request, answers 202 with one of ten promised bytes.
        let trickling = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            socket
                .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 10\r\n\r\n{")
                .await
                .expect("write");
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let answer = post_within_300ms(&url).await;
        assert_eq!(
            answer,
            Ok((
                202,
                Bytes::from_static(b"(the body did not finish within 300ms)")
            ))
        );
        trickling.abort();
    }

    #[test]
    fn a_timeout_of_zero_or_nonsense_is_refused() {
        assert_eq!(
            parse_timeout("2m").map(Duration::from),
            Ok(Duration::from_secs(120))
        );
        assert!(parse_timeout("0s").unwrap_err().contains("zero"));
        assert!(parse_timeout("soon").is_err());
    }
}
