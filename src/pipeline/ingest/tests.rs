//! The pipeline's outcomes, called without a socket: the null publisher
//! and an in-memory index stand in for Kafka.

use http_body_util::BodyExt;

use super::*;
use crate::verify::{self, SchemeOptions, VerifierKind};
use http::HeaderMap;

const SECRET: &str = "ingest-test-secret";

struct Pipeline {
    gateway: Gateway,
    _dir: tempfile::TempDir,
}

fn pipeline(loaded: bool) -> Pipeline {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("test.secret"), SECRET).expect("secret");
    let text = "[kafka]\nbrokers = \"null\"\n[server]\nmax_body_bytes = 1024\n\
                [[sources]]\nname = \"github\"\npath = \"/github\"\nverifier = \"github\"\n\
                secrets = [\"file:test.secret\"]\ntopic = \"t.github\"\n\
                [[sources]]\nname = \"slack\"\npath = \"/slack\"\nverifier = \"slack\"\n\
                secrets = [\"file:test.secret\"]\ntopic = \"t.slack\"\n\
                [[sources]]\nname = \"mailchimp\"\npath = \"/mailchimp\"\nverifier = \"mailchimp\"\n\
                secrets = [\"file:test.secret\"]\ntopic = \"t.mailchimp\"\n\
                [[sources]]\nname = \"mandrill\"\npath = \"/mandrill\"\nverifier = \"mandrill\"\n\
                secrets = [\"file:test.secret\"]\ntopic = \"t.mandrill\"\npublic_url = \"https://h.example/mandrill\"\n\
                event_id = \"json:/_id\"\n";
    let mut config = Config::parse(text).expect("config");
    config.base_dir = dir.path().to_owned();
    let sources = Sources::build(&config).expect("sources");
    let health = Arc::new(Health::new(false));
    if loaded {
        health.dedup_loaded();
    }
    let gateway = Gateway::new(
        &config,
        sources,
        Dedup::in_memory(&config.dedup, Duration::from_secs(1)),
        Arc::new(Publisher::null()),
        health,
    );
    Pipeline { gateway, _dir: dir }
}

fn request(
    kind: VerifierKind,
    path: &str,
    id: &str,
    body: &str,
    signed_body: &str,
) -> Request<http_body_util::Full<Bytes>> {
    let now = crate::ops::clock::now_seconds();
    let signed = verify::sign(
        kind,
        SECRET.as_bytes(),
        signed_body.as_bytes(),
        id,
        now,
        SchemeOptions {
            public_url: Some("https://h.example/mandrill"),
            ..SchemeOptions::default()
        },
    )
    .expect("signs");
    let mut request = Request::post(path);
    for (name, value) in signed.headers {
        request = request.header(name, value);
    }
    // Schemes that sign inside the body (Mandrill's form) send their own.
    let body = if body == signed_body {
        Bytes::from(signed.body)
    } else {
        Bytes::from(body.to_owned())
    };
    request
        .body(http_body_util::Full::new(body))
        .expect("request")
}

/// The status and the JSON body.
async fn answer(
    pipeline: &Pipeline,
    request: Request<http_body_util::Full<Bytes>>,
) -> (u16, serde_json::Value) {
    let response = pipeline.gateway.handle(request).await;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&bytes).expect("JSON"))
}

/// The status, the headers and the body as text.
async fn raw(pipeline: &Pipeline, method: Method, uri: &str) -> (u16, HeaderMap, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(http_body_util::Full::new(Bytes::new()))
        .expect("request");
    let response = pipeline.gateway.handle(request).await;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (
        parts.status.as_u16(),
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The status and the JSON body's `status` or `reason`.
async fn outcome(
    pipeline: &Pipeline,
    request: Request<http_body_util::Full<Bytes>>,
) -> (u16, String) {
    let (status, body) = answer(pipeline, request).await;
    let word = body["status"].as_str().or(body["reason"].as_str());
    (status, word.unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_signed_event_is_accepted_once_then_a_duplicate() {
    let pipeline = pipeline(true);
    let body = r#"{"id":"evt-1"}"#;
    let first = request(VerifierKind::Github, "/github", "evt-1", body, body);
    assert_eq!(outcome(&pipeline, first).await, (200, "accepted".into()));
    let again = request(VerifierKind::Github, "/github", "evt-1", body, body);
    assert_eq!(outcome(&pipeline, again).await, (200, "duplicate".into()));
}

#[tokio::test]
async fn each_refusal_has_its_status_and_reason() {
    let pipeline = pipeline(true);
    let body = r#"{"id":"evt-2"}"#;
    let cases = [
        (
            request(VerifierKind::Github, "/github", "evt-2", body, "{}"),
            (401, "signature_mismatch"),
        ),
        (
            request(VerifierKind::Github, "/nowhere", "evt-2", body, body),
            (404, "unknown_path"),
        ),
        // An empty X-GitHub-Delivery.
        (
            request(VerifierKind::Github, "/github", "", body, body),
            (400, "invalid_event_id"),
        ),
        (
            {
                let big = format!(r#"{{"id":"evt-3","pad":"{}"}}"#, "x".repeat(2048));
                request(VerifierKind::Github, "/github", "evt-3", &big, &big)
            },
            (413, "body_too_large"),
        ),
    ];
    for (request, expected) in cases {
        let (status, word) = outcome(&pipeline, request).await;
        assert_eq!((status, word.as_str()), expected);
    }
    let get = Request::get("/github")
        .body(http_body_util::Full::new(Bytes::new()))
        .expect("request");
    assert_eq!(
        outcome(&pipeline, get).await,
        (405, "method_not_allowed".into())
    );
}

#[tokio::test]
async fn a_handshake_is_answered_while_the_index_is_still_loading() {
    let pipeline = pipeline(false);
    let body = r#"{"type":"url_verification","challenge":"c-0","token":"t"}"#;
    let (status, reply) = answer(
        &pipeline,
        request(VerifierKind::Slack, "/slack", "", body, body),
    )
    .await;
    assert_eq!(
        (status, &reply["challenge"]),
        (200, &serde_json::json!("c-0"))
    );
    let (status, _, _) = raw(&pipeline, Method::HEAD, "/mandrill").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn nothing_is_accepted_before_the_index_is_loaded() {
    let pipeline = pipeline(false);
    let body = r#"{"id":"evt-4"}"#;
    let early = request(VerifierKind::Github, "/github", "evt-4", body, body);
    assert_eq!(outcome(&pipeline, early).await, (503, "not_ready".into()));
    let health = Request::get("/readyz")
        .body(http_body_util::Full::new(Bytes::new()))
        .expect("request");
    assert_eq!(outcome(&pipeline, health).await, (503, "not_ready".into()));
}

#[tokio::test]
async fn a_handshake_is_answered_and_never_published() {
    let pipeline = pipeline(true);
    let body = r#"{"type":"url_verification","challenge":"c-1","token":"t"}"#;
    let handshake = request(VerifierKind::Slack, "/slack", "", body, body);
    let (status, reply) = answer(&pipeline, handshake).await;
    assert_eq!(
        (status, &reply["challenge"]),
        (200, &serde_json::json!("c-1"))
    );
}

#[tokio::test]
async fn a_batch_is_stored_event_by_event_and_answered_once_all_are_in() {
    let pipeline = pipeline(true);
    let batch = r#"[{"_id":"m1","event":"send","ts":1},{"_id":"m2","event":"open","ts":2},{"_id":"m3","event":"send","ts":3}]"#;
    let post = || request(VerifierKind::Mandrill, "/mandrill", "", batch, batch);
    let (status, reply) = answer(&pipeline, post()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply,
        serde_json::json!({ "status": "accepted", "events": 3, "accepted": 3, "duplicates": 0 })
    );
    // Mandrill's retry of the same batch publishes nothing again.
    let (status, reply) = answer(&pipeline, post()).await;
    assert_eq!((status, &reply["duplicates"]), (200, &serde_json::json!(3)));
    // An empty batch is Mandrill's check of a new webhook.
    let (status, _, body) = {
        let response = pipeline
            .gateway
            .handle(request(VerifierKind::Mandrill, "/mandrill", "", "[]", "[]"))
            .await;
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        (parts.status.as_u16(), parts.headers, bytes)
    };
    assert_eq!((status, body.len()), (200, 0));
    // A batch one event of which has no id is refused whole.
    let broken = r#"[{"_id":"m4","event":"send"},{"event":"open"}]"#;
    let (status, _) = outcome(
        &pipeline,
        request(VerifierKind::Mandrill, "/mandrill", "", broken, broken),
    )
    .await;
    assert_eq!(status, 400);
    let (_, reply) = answer(
        &pipeline,
        request(
            VerifierKind::Mandrill,
            "/mandrill",
            "",
            r#"[{"_id":"m4","event":"send"}]"#,
            r#"[{"_id":"m4","event":"send"}]"#,
        ),
    )
    .await;
    assert_eq!(
        reply["status"], "accepted",
        "m4 was not published by the refused batch"
    );
    let (status, _, _) = raw(&pipeline, Method::HEAD, "/mandrill").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_check_by_get_is_answered_only_as_its_provider_allows() {
    let pipeline = pipeline(true);
    let (status, _, body) = raw(
        &pipeline,
        Method::GET,
        &format!("/mailchimp?token={SECRET}"),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    for (method, uri) in [
        (Method::GET, "/mailchimp?token=wrong"),
        (Method::GET, "/mailchimp"),
        (Method::HEAD, "/github"),
        (Method::PUT, &format!("/mailchimp?token={SECRET}") as &str),
    ] {
        let (status, _, _) = raw(&pipeline, method.clone(), uri).await;
        assert_eq!(status, 405, "{method} {uri}");
    }
}
