//! The Rust baseline for the peer comparison: the gateway a competent team
//! writes in an afternoon instead of deploying hookgate, to the same contract
//! as the Node and Python baselines. hyper serves; the GitHub HMAC is checked
//! over the raw body in constant time; an event id already seen (a
//! process-local set) is answered duplicate; the event is produced with
//! rdkafka's `FutureProducer` (idempotent, `acks=all`, librdkafka's other
//! defaults) and the answer waits for Kafka's acknowledgement. Nothing
//! survives a restart and replicas share nothing: it is faster to write than
//! hookgate, not as safe.
//!
//! `PORT=… BROKERS=… TOPIC=… SECRET=… hookgate-naive`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashSet;
use hmac::{Hmac, Mac};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sha2::Sha256;

struct App {
    secret: Vec<u8>,
    topic: String,
    producer: FutureProducer,
    seen: DashSet<String>,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let port: u16 = env("PORT")?.parse().map_err(|e| format!("PORT: {e}"))?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", env("BROKERS")?)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .map_err(|e| format!("producer: {e}"))?;
    let app = Arc::new(App {
        secret: env("SECRET")?.into_bytes(),
        topic: env("TOPIC")?,
        producer,
        seen: DashSet::new(),
    });
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| format!("bind: {e}"))?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = Arc::clone(&app);
                async move { Ok::<_, Infallible>(app.handle(request).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

impl App {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else {
            return reply(StatusCode::BAD_REQUEST, "{\"error\":\"body\"}".into());
        };
        let signature = parts
            .headers
            .get("x-hub-signature-256")
            .and_then(|v| v.as_bytes().strip_prefix(b"sha256="))
            .and_then(|hex| hex::decode(hex).ok());
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            return reply(StatusCode::INTERNAL_SERVER_ERROR, "{}".into());
        };
        mac.update(&body);
        if signature.is_none_or(|s| mac.verify_slice(&s).is_err()) {
            return reply(
                StatusCode::UNAUTHORIZED,
                "{\"error\":\"signature does not match\"}".into(),
            );
        }
        let Some(id) = parts
            .headers
            .get("x-github-delivery")
            .and_then(|v| v.to_str().ok())
        else {
            return reply(
                StatusCode::BAD_REQUEST,
                "{\"error\":\"missing X-GitHub-Delivery\"}".into(),
            );
        };
        if self.seen.contains(id) {
            return reply(
                StatusCode::OK,
                format!("{{\"status\":\"duplicate\",\"id\":\"{id}\"}}"),
            );
        }
        let record = FutureRecord::to(&self.topic).key(id).payload(&body[..]);
        match self.producer.send(record, Duration::from_secs(5)).await {
            Ok(_) => {
                self.seen.insert(id.to_owned());
                reply(
                    StatusCode::OK,
                    format!("{{\"status\":\"accepted\",\"id\":\"{id}\"}}"),
                )
            }
            Err(_) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "{\"error\":\"kafka unavailable\"}".into(),
            ),
        }
    }
}
