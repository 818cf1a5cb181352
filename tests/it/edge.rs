//! hookgate at the edge, as its own process: HTTPS with a certificate the
//! test makes (rcgen), over HTTP/1.1 and HTTP/2; the certificate swapped by
//! SIGHUP while a connection stays open; source allowlists with and without
//! a trusted proxy; a secret rotated under traffic, by SIGHUP and by
//! rewriting its mounted file; a reload that is refused and keeps the
//! running configuration.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookgate_testbed::http::{client, send, try_get};
use hookgate_testbed::signing::github_signed_with;
use hookgate_testbed::{Process, Testbed, cli};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A self-signed certificate for `localhost`, written as `NAME.crt` and
/// `NAME.key` in `dir`; its DER, to trust and to recognise.
fn certificate(dir: &Path, name: &str) -> CertificateDer<'static> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    std::fs::write(dir.join(format!("{name}.crt")), made.cert.pem()).expect("write");
    std::fs::write(
        dir.join(format!("{name}.key")),
        made.key_pair.serialize_pem(),
    )
    .expect("write");
    made.cert.der().clone()
}

fn tls_table(name: &str) -> String {
    format!(
        "[server.tls]\ncertificate = \"{name}.crt\"\nkey = \"{name}.key\"\nhandshake_timeout = \"3s\"\n"
    )
}

/// A GitHub source whose secrets are the files `secrets` in `dir`.
fn github_source(dir: &Path, name: &str, topic: &str, secrets: &[&str], more: &str) -> String {
    let secrets = secrets
        .iter()
        .map(|file| format!("\"file:{}\"", dir.join(file).display()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[[sources]]\nname = \"{name}\"\npath = \"/webhooks/{name}\"\nverifier = \"github\"\n\
         secrets = [{secrets}]\ntopic = \"{topic}\"\n{more}\n"
    )
}

/// A TLS connection to hookgate trusting `roots`, offering `alpn`; with
/// the certificate hookgate showed.
async fn connect(
    addr: SocketAddr,
    roots: &[CertificateDer<'static>],
    alpn: &[u8],
) -> Result<(TlsStream<TcpStream>, CertificateDer<'static>), String> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").expect("name");
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let shown = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("a certificate")
        .clone()
        .into_owned();
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(alpn),
        "ALPN agreed"
    );
    Ok((stream, shown))
}

/// Requests on one open TLS connection, HTTP/1.1 or HTTP/2.
enum Connection {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Connection {
    async fn open(stream: TlsStream<TcpStream>, h2: bool) -> Self {
        let io = TokioIo::new(stream);
        if h2 {
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .expect("h2 handshake");
            tokio::spawn(connection);
            Self::Http2(sender)
        } else {
            let (sender, connection) = hyper::client::conn::http1::handshake(io)
                .await
                .expect("http/1.1 handshake");
            tokio::spawn(connection);
            Self::Http1(sender)
        }
    }

    /// POSTs a delivery; its status, HTTP version and body.
    async fn post(
        &mut self,
        path: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> (u16, http::Version, serde_json::Value) {
        let mut request = http::Request::post(format!("https://localhost{path}"));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(Bytes::from(body))).expect("request");
        // hyper takes a request only once the connection has asked for the
        // next one; sending before that fails with "connection was not ready".
        let response = match self {
            Self::Http1(sender) => match sender.ready().await {
                Ok(()) => sender.send_request(request).await,
                Err(err) => Err(err),
            },
            Self::Http2(sender) => match sender.ready().await {
                Ok(()) => sender.send_request(request).await,
                Err(err) => Err(err),
            },
        }
        .unwrap_or_else(|err| panic!("hookgate answers: {err:?}"));
        let status = response.status().as_u16();
        let version = response.version();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (
            status,
            version,
            serde_json::from_slice(&bytes).expect("JSON"),
        )
    }
}

/// Waits for the metrics port to say ready (the webhook port speaks TLS).
async fn await_ready(process: &Process) {
    let url = format!("http://{}/readyz", process.metrics);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(try_get(&client(), &url).await, Ok((200, _))) {
        assert!(Instant::now() < deadline, "not ready: {}", process.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn applied(n: f64) -> (&'static str, f64) {
    ("hookgate_config_reloads_total{outcome=\"applied\"}", n)
}

fn invalid(n: f64) -> (&'static str, f64) {
    ("hookgate_config_reloads_total{outcome=\"invalid\"}", n)
}

async fn reload(process: &Process, (series, n): (&str, f64)) {
    process.hangup();
    process.await_metric(series, n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_over_http1_and_h2_with_the_certificate_hookgate_was_given() {
    let bed = Testbed::own_tansu("tls").await;
    let (dir, topic) = (bed.dir(), bed.events.clone());
    let ours = certificate(dir, "server");
    std::fs::write(dir.join("a.secret"), "secret-a").expect("secret");
    let sources = github_source(dir, "github", &topic, &["a.secret"], "");
    let process = bed
        .gateway()
        .server(&tls_table("server"))
        .sources(&sources)
        .files_in(dir)
        .spawn_process();
    await_ready(&process).await;

    let mut sent = Vec::new();
    for (h2, alpn, version) in [
        (false, b"http/1.1".as_slice(), http::Version::HTTP_11),
        (true, b"h2".as_slice(), http::Version::HTTP_2),
    ] {
        let (stream, shown) = connect(process.addr, std::slice::from_ref(&ours), alpn)
            .await
            .expect("TLS handshake");
        assert_eq!(shown, ours);
        let mut connection = Connection::open(stream, h2).await;
        for n in 0..3 {
            let id = format!("tls-{h2}-{n}");
            let (headers, body) = github_signed_with(b"secret-a", &id);
            let (status, answered_in, reply) = connection
                .post("/webhooks/github", &headers, body.clone())
                .await;
            assert_eq!((status, answered_in), (200, version), "{reply}");
            sent.push(body);
        }
    }
    let records = bed.published(sent.len(), Duration::from_millis(200)).await;
    let mut landed: Vec<_> = records.into_iter().map(|r| r.payload).collect();
    landed.sort();
    sent.sort();
    assert_eq!(landed, sent, "every body in Kafka byte for byte, once");

    // A client that does not trust the certificate, plain HTTP on the TLS
    // port, and a socket that never starts its handshake: each closed and
    // counted, and the next client still served.
    let stranger = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("cert")
        .cert
        .der()
        .clone();
    assert!(connect(process.addr, &[stranger], b"h2").await.is_err());
    let plain = try_get(&client(), &format!("http://{}/readyz", process.addr)).await;
    assert!(plain.is_err(), "plain HTTP on the TLS port: {plain:?}");
    process
        .await_metric("hookgate_tls_handshakes_total{outcome=\"failed\"}", 2.0)
        .await;
    let mut silent = TcpStream::connect(process.addr).await.expect("connect");
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a silent socket is closed after the handshake deadline: {read:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(2900));
    process
        .await_metric("hookgate_tls_handshakes_total{outcome=\"timed_out\"}", 1.0)
        .await;
    process
        .await_metric("hookgate_tls_handshakes_total{outcome=\"completed\"}", 2.0)
        .await;

    // `hookgate send` speaks https, trusting the certificate with --ca.
    let ca = process.dir().join("server.crt");
    let ca = ca.to_str().expect("utf-8 path");
    let secret = format!("file:{}", process.dir().join("a.secret").display());
    let url = format!("https://localhost:{}/webhooks/github", process.addr.port());
    let send = |more: &[&str]| {
        let args = [
            "send",
            "--provider",
            "github",
            "--url",
            &url,
            "--secret",
            &secret,
        ];
        cli::hookgate(&[&args[..], more].concat())
    };
    let output = send(&["--ca", ca]);
    assert!(output.success(), "{}", output.printed());
    assert!(output.stdout.starts_with("HTTP 200 "), "{}", output.stdout);
    // Without --ca the certificate is nobody's.
    let output = send(&[]);
    assert!(!output.success());
    let said = &output.stderr;
    assert!(
        said.contains("cannot reach") && said.contains("UnknownIssuer"),
        "the reason is said: {said}"
    );
    process.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_sockets_that_never_finish_a_handshake_lock_no_sender_out() {
    let bed = Testbed::own_tansu("tls-silent").await;
    let (dir, topic) = (bed.dir(), bed.events.clone());
    let ours = certificate(dir, "server");
    std::fs::write(dir.join("a.secret"), "secret-a").expect("secret");
    let sources = github_source(dir, "github", &topic, &["a.secret"], "");
    let server = "max_connections = 8\nmax_connections_per_client = 0\n\
                  [server.tls]\ncertificate = \"server.crt\"\nkey = \"server.key\"\nhandshake_timeout = \"3s\"\n";
    let process = bed
        .gateway()
        .server(server)
        .sources(&sources)
        .files_in(dir)
        .spawn_process();
    await_ready(&process).await;

    // Every place taken by sockets that say nothing, or half a ClientHello.
    let mut held = Vec::new();
    for n in 0..12 {
        let mut socket = TcpStream::connect(process.addr).await.expect("connect");
        if n % 2 == 1 {
            socket
                .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
                .await
                .expect("write");
        }
        held.push(socket);
    }
    // The provider is turned away at once while they hold their places, and
    // served once the handshake deadline has closed them.
    let started = Instant::now();
    let mut refused = 0;
    let delivered = loop {
        match connect(process.addr, std::slice::from_ref(&ours), b"http/1.1").await {
            Ok((stream, _)) => {
                let mut connection = Connection::open(stream, false).await;
                let (headers, body) = github_signed_with(b"secret-a", "after-the-silence");
                break connection.post("/webhooks/github", &headers, body).await.0;
            }
            Err(_) => refused += 1,
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still locked out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(delivered, 200);
    assert!(refused >= 1, "the places were taken");
    process
        .await_metric("hookgate_tls_handshakes_total{outcome=\"timed_out\"}", 8.0)
        .await;
    process
        .await_metric(
            "hookgate_connections_refused_total{reason=\"connection_limit\"}",
            4.0,
        )
        .await;
    drop(held);
    process.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_swaps_the_certificate_and_keeps_open_connections() {
    let bed = Testbed::own_tansu("tls-reload").await;
    let (dir, topic) = (bed.dir(), bed.events.clone());
    let first = certificate(dir, "first");
    let second = certificate(dir, "second");
    let _third = certificate(dir, "third");
    std::fs::write(dir.join("a.secret"), "secret-a").expect("secret");
    let sources = github_source(dir, "github", &topic, &["a.secret"], "");
    let process = bed
        .gateway()
        .server(&tls_table("first"))
        .sources(&sources)
        .files_in(dir)
        .spawn_process();
    await_ready(&process).await;
    let both = [first.clone(), second.clone()];
    // rcgen's certificates are valid until 4096.
    let expiry = process
        .metric("hookgate_tls_certificate_expiry_timestamp_seconds{certificate=\"edge\"}")
        .await;
    assert!(
        expiry > 4.0e9,
        "the edge certificate's expiry (after 2096): {expiry}"
    );

    let (stream, shown) = connect(process.addr, &both, b"http/1.1")
        .await
        .expect("TLS");
    assert_eq!(shown, first);
    let mut open = Connection::open(stream, false).await;
    let (headers, body) = github_signed_with(b"secret-a", "before");
    assert_eq!(open.post("/webhooks/github", &headers, body).await.0, 200);

    // The renewed certificate, as a certificate manager writes it: new files.
    process.rewrite_config(&tls_table("second"), "", &sources);
    reload(&process, applied(1.0)).await;
    let (_, shown) = connect(process.addr, &both, b"h2").await.expect("TLS");
    assert_eq!(shown, second, "new connections get the new certificate");
    let (headers, body) = github_signed_with(b"secret-a", "after");
    assert_eq!(
        open.post("/webhooks/github", &headers, body).await.0,
        200,
        "the connection opened before the reload still serves"
    );

    // Renewed in place, as cert-manager does (same file names, no
    // SIGHUP): the file change reloads it.
    let renewed = certificate(process.dir(), "second");
    process.await_metric(applied(2.0).0, 2.0).await;
    let all = [first.clone(), second.clone(), renewed.clone()];
    let (_, shown) = connect(process.addr, &all, b"h2").await.expect("TLS");
    assert_eq!(shown, renewed, "the renewed certificate, without a SIGHUP");

    // A certificate with another's key: refused, the running one stays.
    let dir = process.dir();
    std::fs::copy(dir.join("first.key"), dir.join("third.key")).expect("copy");
    process.rewrite_config(&tls_table("third"), "", &sources);
    reload(&process, invalid(1.0)).await;
    let (_, shown) = connect(process.addr, &all, b"h2").await.expect("TLS");
    assert_eq!(shown, renewed);
    // The refusal names the field.
    process.await_log(&["server.tls"]).await;
    let (headers, body) = github_signed_with(b"secret-a", "still");
    assert_eq!(open.post("/webhooks/github", &headers, body).await.0, 200);
    process.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlists_with_and_without_a_trusted_proxy() {
    let bed = Testbed::own_tansu("allow").await;
    let (dir, topic) = (bed.dir(), bed.events.clone());
    std::fs::write(dir.join("a.secret"), "secret-a").expect("secret");
    let sources = [
        github_source(
            dir,
            "github",
            &topic,
            &["a.secret"],
            "allow = [\"192.30.252.0/22\", \"2a0a:a440::/29\"]",
        ),
        github_source(
            dir,
            "local",
            &topic,
            &["a.secret"],
            "allow = [\"127.0.0.1\"]",
        ),
    ]
    .concat();
    let process = bed
        .gateway()
        .sources(&sources)
        .files_in(dir)
        .start_process()
        .await;
    let client = client();
    let post = |path: &'static str, id: &'static str, forwarded: Option<&'static str>| {
        let client = client.clone();
        let url = process.url(path);
        async move {
            let (mut headers, body) = github_signed_with(b"secret-a", id);
            if let Some(chain) = forwarded {
                headers.push(("X-Forwarded-For".into(), chain.into()));
            }
            send(&client, "POST", &url, &headers, body).await
        }
    };

    // From 127.0.0.1, no proxy trusted: a forwarding header is the client's
    // own word and changes nothing.
    let refused = post("/webhooks/github", "a1", Some("192.30.252.10")).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(refused.body["reason"], "ip_not_allowed");
    assert_eq!(post("/webhooks/local", "a2", None).await.status, 200);
    let log = process.await_log(&["ip_not_allowed"]).await;
    let line = log
        .lines()
        .find(|line| line.contains("ip_not_allowed"))
        .expect("the refusal is logged");
    assert!(
        line.contains("client=127.0.0.1"),
        "with the client's address: {line}"
    );
    process
        .await_metric(
            "hookgate_rejections_total{source=\"github\",reason=\"ip_not_allowed\"}",
            1.0,
        )
        .await;

    // Refused before the body is read: a declared body that never comes is
    // answered at once, not after server.body_timeout.
    let mut raw = TcpStream::connect(process.addr).await.expect("connect");
    raw.write_all(b"POST /webhooks/github HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n")
        .await
        .expect("write");
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(2), raw.read(&mut answer))
        .await
        .expect("answered before the body")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");

    // Behind a trusted proxy (this test's 127.0.0.1), by reload: the
    // right-most hop that is not a proxy is the client.
    let with_proxy = "trusted_proxies = [\"127.0.0.0/8\"]\n";
    process.rewrite_config(with_proxy, "", &sources);
    reload(&process, applied(1.0)).await;
    assert_eq!(
        post("/webhooks/github", "b1", Some("192.30.252.10"))
            .await
            .status,
        200
    );
    // A client claiming GitHub's address before the proxy's hop is not GitHub.
    let spoofed = post(
        "/webhooks/github",
        "b2",
        Some("192.30.252.10, 198.51.100.7"),
    )
    .await;
    assert_eq!(spoofed.status, 403, "{:?}", spoofed.body);
    assert!(
        spoofed.body["error"].to_string().contains("198.51.100.7"),
        "{:?}",
        spoofed.body
    );
    // Hops of trusted proxies are skipped.
    assert_eq!(
        post("/webhooks/github", "b3", Some("192.30.252.10, 127.0.0.9"))
            .await
            .status,
        200
    );
    // The proxy itself is not on GitHub's list, and an unreadable hop is nobody.
    assert_eq!(post("/webhooks/github", "b4", None).await.status, 403);
    assert_eq!(
        post("/webhooks/github", "b5", Some("unknown")).await.status,
        403
    );
    assert_eq!(
        post("/webhooks/local", "b6", Some("192.30.252.10"))
            .await
            .status,
        403
    );
    process.stop();
}

/// Four senders posting signed deliveries without pause, each signing with
/// whatever the provider signs with at that moment.
struct Traffic {
    signing: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    /// Senders whose request signed with the new secret was answered: from
    /// then on they sign only with it.
    on_new: Arc<AtomicUsize>,
    senders: Vec<tokio::task::JoinHandle<Vec<(u16, serde_json::Value)>>>,
}

impl Traffic {
    const SENDERS: usize = 4;

    fn start(url: &str, secret: &[u8]) -> Self {
        let signing = Arc::new(Mutex::new(secret.to_vec()));
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let on_new = Arc::new(AtomicUsize::new(0));
        let senders = (0..Self::SENDERS)
            .map(|sender| {
                let (signing, stop, url) =
                    (Arc::clone(&signing), Arc::clone(&stop), url.to_owned());
                let (answered, on_new) = (Arc::clone(&answered), Arc::clone(&on_new));
                let first = secret.to_vec();
                tokio::spawn(async move {
                    let client = client();
                    let mut answers = Vec::new();
                    let mut n = 0;
                    let mut switched = false;
                    while !stop.load(Ordering::Relaxed) {
                        let secret = signing.lock().expect("lock").clone();
                        let (headers, body) =
                            github_signed_with(&secret, &format!("rotate-{sender}-{n}"));
                        let reply = send(&client, "POST", &url, &headers, body).await;
                        answers.push((reply.status, reply.body));
                        answered.fetch_add(1, Ordering::Relaxed);
                        if secret != first && !std::mem::replace(&mut switched, true) {
                            on_new.fetch_add(1, Ordering::Relaxed);
                        }
                        n += 1;
                    }
                    answers
                })
            })
            .collect();
        Self {
            signing,
            stop,
            answered,
            on_new,
            senders,
        }
    }

    /// Waits until `count` more requests were answered, the traffic flowing.
    async fn flows(&self, count: usize) {
        let at_least = self.answered.load(Ordering::Relaxed) + count;
        Self::reach(&self.answered, at_least).await;
    }

    /// The provider signs with `secret` from now on; returns once every
    /// sender had a request signed with it answered.
    async fn switch_to(&self, secret: &[u8]) {
        *self.signing.lock().expect("lock") = secret.to_vec();
        Self::reach(&self.on_new, Self::SENDERS).await;
    }

    async fn reach(count: &AtomicUsize, at_least: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while count.load(Ordering::Relaxed) < at_least {
            assert!(Instant::now() < deadline, "traffic stopped flowing");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the senders; asserts that every request was accepted and
    /// returns how many there were.
    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let mut answers = Vec::new();
        for sender in self.senders {
            answers.extend(sender.await.expect("sender"));
        }
        let failed: Vec<_> = answers
            .iter()
            .filter(|(status, _)| *status != 200)
            .collect();
        assert!(
            failed.is_empty(),
            "{} of {} failed: {failed:?}",
            failed.len(),
            answers.len()
        );
        assert!(answers.len() >= 20, "traffic flowed: {}", answers.len());
        answers.len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_rotated_by_sighup_under_traffic_fails_no_request() {
    let bed = Testbed::own_tansu("rotate").await;
    let (dir, topic) = (bed.dir(), bed.events.clone());
    std::fs::write(dir.join("old.secret"), "old-secret").expect("secret");
    std::fs::write(dir.join("new.secret"), "new-secret").expect("secret");
    let old_only = github_source(dir, "github", &topic, &["old.secret"], "");
    let both = github_source(dir, "github", &topic, &["old.secret", "new.secret"], "");
    let new_only = github_source(dir, "github", &topic, &["new.secret"], "");
    let process = bed
        .gateway()
        // The file changes below apply by SIGHUP only.
        .server("reload_on_change = false")
        .sources(&old_only)
        .files_in(dir)
        .start_process()
        .await;
    let url = process.url("/webhooks/github");
    let traffic = Traffic::start(&url, b"old-secret");

    traffic.flows(8).await;
    process.rewrite_config("reload_on_change = false", "", &both);
    reload(&process, applied(1.0)).await;
    traffic.flows(8).await;
    // The old secret is removed once the provider signs only with the new
    // one, as a rotation is done.
    traffic.switch_to(b"new-secret").await;
    process.rewrite_config("reload_on_change = false", "", &new_only);
    reload(&process, applied(2.0)).await;
    traffic.flows(8).await;
    let sent = traffic.stop().await;

    // Every one in Kafka; the old secret now refused.
    let records = bed.published(sent, Duration::from_millis(300)).await;
    assert_eq!(records.len(), sent);
    let (headers, body) = github_signed_with(b"old-secret", "late");
    assert_eq!(
        send(&client(), "POST", &url, &headers, body).await.status,
        401
    );
    process.stop();
}

/// A folder of secret files as Kubernetes mounts a Secret: each file a
/// symlink through `..data`, which points at a timestamped folder; an update
/// writes a new folder and renames a new `..data` over the old one, so every
/// file changes at once and none is ever half written.
struct MountedSecret {
    dir: std::path::PathBuf,
    version: usize,
}

impl MountedSecret {
    fn new(dir: std::path::PathBuf, keys: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(&dir).expect("secret folder");
        let mut mounted = Self { dir, version: 0 };
        mounted.update(keys);
        for (key, _) in keys {
            std::os::unix::fs::symlink(format!("..data/{key}"), mounted.dir.join(key))
                .expect("key symlink");
        }
        mounted
    }

    fn update(&mut self, keys: &[(&str, &str)]) {
        self.version += 1;
        let version = format!("..2026_12_05_{:02}", self.version);
        std::fs::create_dir(self.dir.join(&version)).expect("version folder");
        for (key, value) in keys {
            std::fs::write(self.dir.join(&version).join(key), value).expect("key");
        }
        let staged = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&version, &staged).expect("staged ..data");
        std::fs::rename(&staged, self.dir.join("..data")).expect("swap ..data");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_rotated_in_its_mounted_file_under_traffic_fails_no_request() {
    let bed = Testbed::own_tansu("rotate-file").await;
    let (dir, topic) = (bed.dir(), bed.events.clone());
    // The Secret's two keys: the secret in use, and the next one (the same
    // until a rotation begins).
    let mut secret = MountedSecret::new(
        dir.join("secrets"),
        &[("current", "old-secret"), ("next", "old-secret")],
    );
    let sources = github_source(
        dir,
        "github",
        &topic,
        &["secrets/current", "secrets/next"],
        "",
    );
    let process = bed
        .gateway()
        .sources(&sources)
        .files_in(dir)
        .start_process()
        .await;
    let url = process.url("/webhooks/github");
    let traffic = Traffic::start(&url, b"old-secret");

    // No SIGHUP anywhere: the new Secret reaches the files, and hookgate.
    traffic.flows(8).await;
    secret.update(&[("current", "old-secret"), ("next", "new-secret")]);
    process.await_metric(applied(1.0).0, 1.0).await;
    traffic.flows(8).await;
    traffic.switch_to(b"new-secret").await;
    secret.update(&[("current", "new-secret"), ("next", "new-secret")]);
    process.await_metric(applied(2.0).0, 2.0).await;
    traffic.flows(8).await;
    let sent = traffic.stop().await;

    let records = bed.published(sent, Duration::from_millis(300)).await;
    assert_eq!(records.len(), sent);
    let (headers, body) = github_signed_with(b"old-secret", "late");
    assert_eq!(
        send(&client(), "POST", &url, &headers, body).await.status,
        401
    );
    // A write that changes nothing reloads nothing.
    secret.update(&[("current", "new-secret"), ("next", "new-secret")]);
    tokio::time::sleep(watch_settled()).await;
    assert_eq!(process.metric(applied(2.0).0).await, 2.0);
    let log = process.stop();
    assert!(log.contains("a file of the configuration changed"), "{log}");
    assert!(
        !log.contains("new-secret") && !log.contains("old-secret"),
        "a secret was logged"
    );
}

/// Longer than the watcher's settling time, with room for a busy machine.
fn watch_settled() -> Duration {
    hookgate::app::watch::SETTLE * 4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_reload_keeps_the_running_configuration() {
    let bed = Testbed::own_tansu("invalid-reload").await;
    let (dir, topic) = (bed.dir(), bed.events.clone());
    std::fs::write(dir.join("a.secret"), "secret-a").expect("secret");
    let good = github_source(dir, "github", &topic, &["a.secret"], "");
    let process = bed
        .gateway()
        .sources(&good)
        .files_in(dir)
        .start_process()
        .await;
    let url = process.url("/webhooks/github");
    let client = client();

    // A bad range, a secret file that is not there, a TLS key that is not
    // there: every problem logged by field, nothing changed.
    let bad = github_source(
        process.dir(),
        "github",
        &topic,
        &["missing.secret"],
        "allow = [\"192.30.252.0/33\"]",
    );
    process.rewrite_config("trusted_proxies = [\"proxy\"]", "", &bad);
    reload(&process, invalid(1.0)).await;
    // Each field is named.
    process
        .await_log(&["sources[0].allow[0]", "server.trusted_proxies[0]"])
        .await;
    let (headers, body) = github_signed_with(b"secret-a", "kept");
    assert_eq!(
        send(&client, "POST", &url, &headers, body).await.status,
        200
    );

    // Only the sources are wrong now: the secret file is named.
    process.rewrite_config(
        "",
        "",
        &github_source(process.dir(), "github", &topic, &["missing.secret"], ""),
    );
    reload(&process, invalid(2.0)).await;
    process.await_log(&["sources[0].secrets[0]"]).await;
    // A file that does not parse.
    std::fs::write(process.dir().join("hookgate.toml"), "[server\n").expect("write");
    reload(&process, invalid(3.0)).await;
    assert_eq!(
        process
            .metric("hookgate_config_last_reload_successful")
            .await,
        0.0
    );
    let (headers, body) = github_signed_with(b"secret-a", "kept-again");
    assert_eq!(
        send(&client, "POST", &url, &headers, body).await.status,
        200
    );

    // A setting only a restart applies: the rest is applied, it is named,
    // and the gauge says a restart is pending.
    process.rewrite_config("max_connections = 77\nmax_body_bytes = 10", "", &good);
    reload(&process, applied(1.0)).await;
    process
        .await_log(&["server.max_connections", "server.max_body_bytes"])
        .await;
    // Not applied: the running limit still holds.
    let (headers, body) = github_signed_with(b"secret-a", "larger-than-ten-bytes");
    assert_eq!(
        send(&client, "POST", &url, &headers, body).await.status,
        200
    );
    assert_eq!(process.metric("hookgate_config_restart_pending").await, 1.0);
    assert_eq!(
        process
            .metric("hookgate_config_last_reload_successful")
            .await,
        1.0
    );
    process.stop();
}
