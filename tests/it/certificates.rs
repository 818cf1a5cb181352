//! Providers that name their signing certificate by URL (SNS, PayPal): a
//! local HTTPS server, with a certificate the test makes, stands in for
//! SNS's host through `[sources.certificates] hosts`. A delivery whose
//! certificate is unknown is answered 503 and the certificate fetched once
//! behind it; deliveries naming URLs of their own cannot make hookgate fetch
//! beyond its budget, nor keep anyone else waiting; a host the rule does not
//! allow is refused; a subscription confirmation is confirmed by a visit to
//! its URL, and never published.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use hookgate_testbed::Testbed;
use hookgate_testbed::http::{client, exchange, send};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:orders";
/// The key of `vectors/sns/cert.pem`, which the server below serves.
const KEY: &str = include_str!("../../src/verify/providers/vectors/sns/key.pem");
const CERTIFICATE: &str = include_str!("../../src/verify/providers/vectors/sns/cert.pem");
const CERT_PATH: &str = "/SimpleNotificationService-a69e69d3f7902b97c52be6c5fc271c91.pem";

/// An HTTPS server on 127.0.0.1 serving the signing certificate at
/// [`CERT_PATH`], 200 at `/` (a subscription's confirmation) and 404
/// elsewhere, slowly (300 ms); it records every path asked for.
struct StandIn {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
    /// The CA to trust: its own self-signed certificate.
    ca: std::path::PathBuf,
}

impl StandIn {
    async fn start(dir: &std::path::Path) -> Self {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
        let ca = dir.join("stand-in.pem");
        std::fs::write(&ca, made.cert.pem()).expect("write");
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(
            made.key_pair.serialize_pem().as_bytes(),
        )
        .expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![made.cert.der().clone()], key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let asked = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&asked);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, recorded) = (acceptor.clone(), Arc::clone(&recorded));
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |request: http::Request<hyper::body::Incoming>| {
                            let recorded = Arc::clone(&recorded);
                            async move {
                                let path = request.uri().path().to_owned();
                                recorded.lock().expect("lock").push(path.clone());
                                tokio::time::sleep(Duration::from_millis(300)).await;
                                let (status, body) = match path.as_str() {
                                    CERT_PATH => (200, CERTIFICATE.to_owned()),
                                    "/" => (200, "<ConfirmSubscriptionResponse/>".to_owned()),
                                    _ => (404, String::new()),
                                };
                                let mut response =
                                    http::Response::new(Full::new(Bytes::from(body)));
                                *response.status_mut() =
                                    http::StatusCode::from_u16(status).expect("status");
                                Ok::<_, Infallible>(response)
                            }
                        },
                    );
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, asked, ca }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().expect("lock").clone()
    }

    async fn await_asked(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.asked().iter().any(|asked| asked == path) {
            assert!(
                Instant::now() < deadline,
                "{path} never asked for: {:?}",
                self.asked()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An SNS message of `kind`, signed as SNS signs (SignatureVersion 2) with
/// the stand-in's certificate at `cert_url`.
fn sns_message(kind: &str, id: &str, cert_url: &str, subscribe_url: Option<&str>) -> Vec<u8> {
    let mut fields: Vec<(&str, String)> = vec![
        ("Message", format!("{{\"order\":\"{id}\"}}")),
        ("MessageId", id.to_owned()),
    ];
    if let Some(url) = subscribe_url {
        fields.push(("SubscribeURL", url.to_owned()));
    }
    fields.push(("Timestamp", "2026-11-30T12:00:00.000Z".to_owned()));
    if subscribe_url.is_some() {
        fields.push(("Token", "2336412f37fb687f5d51e6e2425dacbba".to_owned()));
    }
    fields.push(("TopicArn", TOPIC.to_owned()));
    fields.push(("Type", kind.to_owned()));
    let signed: String = fields
        .iter()
        .map(|(name, value)| format!("{name}\n{value}\n"))
        .collect();
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(KEY.as_bytes()).expect("key");
    let key = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("rsa key");
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut signature,
    )
    .expect("signs");
    let mut message: serde_json::Map<String, serde_json::Value> = fields
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.into()))
        .collect();
    message.insert("SignatureVersion".into(), "2".into());
    message.insert(
        "Signature".into(),
        base64::engine::general_purpose::STANDARD
            .encode(signature)
            .into(),
    );
    message.insert("SigningCertURL".into(), cert_url.into());
    serde_json::to_vec_pretty(&message).expect("json")
}

fn headers(kind: &str) -> Vec<(String, String)> {
    vec![
        ("x-amz-sns-message-type".into(), kind.into()),
        ("content-type".into(), "text/plain; charset=UTF-8".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_certificates_are_fetched_once_within_a_budget_and_subscriptions_confirmed() {
    let bed = Testbed::own_tansu("sns").await;
    let dir = bed.dir();
    let stand_in = StandIn::start(dir).await;
    std::fs::write(dir.join("topics"), TOPIC).expect("topic file");
    let source = format!(
        "[[sources]]\nname = \"sns\"\npath = \"/webhooks/sns\"\nverifier = \"sns\"\n\
         secrets = [\"file:{}\"]\ntopic = \"{}\"\nconfirm_subscriptions = true\n\
         certificates = {{ hosts = [\"{}\"], ca = \"{}\" }}\n",
        dir.join("topics").display(),
        bed.events,
        stand_in.addr,
        stand_in.ca.display()
    );
    let gateway = bed.gateway().sources(&source).start().await;
    let url = gateway.url("/webhooks/sns");
    let client = client();
    let cert_url = format!("https://{}{CERT_PATH}", stand_in.addr);

    // 1. Unknown certificate: 503 at once (the fetch takes 300 ms), fetched
    // behind it, once however often asked; the retry is accepted.
    let first = sns_message("Notification", "msg-1", &cert_url, None);
    let asked_at = Instant::now();
    let reply = send(
        &client,
        "POST",
        &url,
        &headers("Notification"),
        first.clone(),
    )
    .await;
    assert!(
        asked_at.elapsed() < Duration::from_millis(250),
        "waited for the fetch"
    );
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert_eq!(reply.body["reason"], "certificate_pending");
    assert!(reply.headers.contains_key("retry-after"));
    let again = send(
        &client,
        "POST",
        &url,
        &headers("Notification"),
        first.clone(),
    )
    .await;
    assert!(
        again.status == 503 || again.status == 200,
        "{:?}",
        again.body
    );
    stand_in.await_asked(CERT_PATH).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = send(
            &client,
            "POST",
            &url,
            &headers("Notification"),
            first.clone(),
        )
        .await;
        if reply.status == 200 {
            assert_eq!(reply.body["id"], "msg-1");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never accepted: {:?}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fetches = |asked: &[String]| asked.iter().filter(|path| path.ends_with(".pem")).count();
    assert_eq!(fetches(&stand_in.asked()), 1, "{:?}", stand_in.asked());

    // 2. Thirty deliveries naming certificates of their own: each 503, at
    // most the budget's six fetches a minute in all, and a genuine delivery
    // is served at once meanwhile.
    let floods: Vec<_> = (0..30)
        .map(|n| {
            let (client, url) = (client.clone(), url.clone());
            let body = sns_message(
                "Notification",
                &format!("flood-{n}"),
                &format!(
                    "https://{}/SimpleNotificationService-{n:032}.pem",
                    stand_in.addr
                ),
                None,
            );
            tokio::spawn(async move {
                send(&client, "POST", &url, &headers("Notification"), body)
                    .await
                    .status
            })
        })
        .collect();
    let served_at = Instant::now();
    let genuine = sns_message("Notification", "msg-2", &cert_url, None);
    let reply = send(&client, "POST", &url, &headers("Notification"), genuine).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert!(served_at.elapsed() < Duration::from_secs(2));
    for flood in floods {
        assert_eq!(flood.await.expect("sent"), 503);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(fetches(&stand_in.asked()) <= 6, "{:?}", stand_in.asked());

    // 3. A certificate anywhere else: refused, never fetched.
    let elsewhere = sns_message(
        "Notification",
        "msg-3",
        "https://sns.us-east-1.amazonaws.com.attacker.test/SimpleNotificationService-x.pem",
        None,
    );
    let reply = send(&client, "POST", &url, &headers("Notification"), elsewhere).await;
    assert_eq!(reply.status, 401, "{:?}", reply.body);

    // 4. The subscription's confirmation: answered, visited, not published.
    let subscribe = format!(
        "https://{}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f",
        stand_in.addr
    );
    let confirmation = sns_message(
        "SubscriptionConfirmation",
        "msg-4",
        &cert_url,
        Some(&subscribe),
    );
    // Answered 200 with an empty body, as SNS needs nothing more.
    let (status, _, body) = exchange(
        &client,
        "POST",
        &url,
        &headers("SubscriptionConfirmation"),
        confirmation.into(),
    )
    .await
    .expect("answered");
    assert_eq!((status, body.as_ref()), (200, b"".as_slice()));
    stand_in.await_asked("/").await;

    let records = bed.published(2, Duration::from_millis(500)).await;
    let ids: Vec<&str> = records
        .iter()
        .filter_map(|record| record.headers.get("hookgate-event-id"))
        .filter_map(|id| std::str::from_utf8(id).ok())
        .collect();
    assert_eq!(
        ids,
        ["msg-1", "msg-2"],
        "the notifications once each, the confirmation never"
    );
    gateway.stop().await;
}
