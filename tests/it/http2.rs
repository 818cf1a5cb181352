//! HTTP/2's own ways to hold a server: too many streams, streams opened and
//! reset at once ("rapid reset", CVE-2023-44487), and a header block that
//! never ends (CONTINUATION flood). Each is bounded by a `[server]` setting,
//! counted in `hookgate_protocol_errors_total`, and a provider's delivery on a
//! fresh connection is still accepted at once.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hookgate::verify::VerifierKind;
use hookgate_testbed::http::{client, send};
use hookgate_testbed::signing::{body_with_id, signed};
use hookgate_testbed::{Process, Testbed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KIND: VerifierKind = VerifierKind::Github;

const HTTP2_ERRORS: &str = "hookgate_protocol_errors_total{reason=\"http2_protocol\"}";

/// A provider's delivery over HTTP/1.1 on a fresh connection, answered fast.
async fn a_provider_is_still_served(gateway: &Process, id: &str) {
    let body = body_with_id(id);
    let started = Instant::now();
    let reply = send(
        &client(),
        "POST",
        &gateway.url("/webhooks/github"),
        &signed(KIND, id, &body),
        body,
    )
    .await;
    assert_eq!(reply.body["status"], "accepted", "{:?}", reply.body);
    // Well within the 10 s a connection stuck behind the flood would wait.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

async fn h2_client(gateway: &Process) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(gateway.addr).await.expect("connect");
    let (client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(connection);
    client
}

fn h2_request(id: &str) -> http::Request<()> {
    let body = body_with_id(id);
    let mut request = http::Request::post("http://hookgate/webhooks/github");
    for (name, value) in signed(KIND, id, &body) {
        request = request.header(name, value);
    }
    request.body(()).expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_per_connection_are_bounded_and_a_delivery_over_h2_is_accepted() {
    let bed = Testbed::own_tansu("h2-streams").await;
    let gateway = bed
        .gateway_for("github", KIND)
        .server("http2_max_concurrent_streams = 7")
        .start_process()
        .await;
    let mut client = h2_client(&gateway).await.ready().await.expect("ready");
    let body = body_with_id("evt-h2");
    let (response, mut stream) = client
        .send_request(h2_request("evt-h2"), false)
        .expect("send");
    stream.send_data(Bytes::from(body), true).expect("body");
    let response = response.await.expect("response");
    assert_eq!(response.status(), 200);
    // The server's SETTINGS have arrived: it allows the configured streams.
    assert_eq!(client.current_max_send_streams(), 7);
    a_provider_is_still_served(&gateway, "evt-after-streams").await;
    gateway.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_opened_and_reset_at_once_cost_the_attacker_its_connection() {
    let bed = Testbed::own_tansu("h2-reset").await;
    let gateway = bed
        .gateway_for("github", KIND)
        .server("http2_max_pending_resets = 5")
        .start_process()
        .await;
    let mut client = h2_client(&gateway).await;
    let mut refused = false;
    for n in 0..5_000 {
        client = match client.ready().await {
            Ok(client) => client,
            Err(_goaway) => {
                refused = true;
                break;
            }
        };
        match client.send_request(h2_request(&format!("evt-reset-{n}")), false) {
            Ok((_response, mut stream)) => stream.send_reset(h2::Reason::CANCEL),
            Err(_goaway) => {
                refused = true;
                break;
            }
        }
    }
    assert!(
        refused,
        "5,000 streams opened and reset, and the connection stayed open"
    );
    gateway.await_metric(HTTP2_ERRORS, 1.0).await;
    a_provider_is_still_served(&gateway, "evt-after-resets").await;
    gateway.stop();
}

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = payload.len() as u32;
    let mut frame = length.to_be_bytes()[1..].to_vec();
    frame.extend_from_slice(&[kind, flags]);
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_block_that_never_ends_is_cut_off() {
    const HEADERS: u8 = 0x1;
    const SETTINGS: u8 = 0x4;
    const CONTINUATION: u8 = 0x9;
    let bed = Testbed::own_tansu("h2-continuation").await;
    let gateway = bed
        .gateway_for("github", KIND)
        .server("max_header_bytes = 8192")
        .start_process()
        .await;
    let mut stream = TcpStream::connect(gateway.addr).await.expect("connect");
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    bytes.extend(frame(SETTINGS, 0, 0, &[]));
    // :method POST, :scheme http, :path /, then literal headers, 1 KiB each,
    // in CONTINUATION frames without END_HEADERS: 4 MiB in all.
    bytes.extend(frame(HEADERS, 0, 1, &[0x83, 0x86, 0x84]));
    stream.write_all(&bytes).await.expect("preface");
    let mut header = vec![0x00, 0x07];
    header.extend_from_slice(b"x-flood");
    header.extend_from_slice(&[0x7f, 0x81, 0x07]); // a 1,024-byte value
    header.extend(std::iter::repeat_n(b'a', 1024));
    let continuation = frame(CONTINUATION, 0, 1, &header);
    let started = Instant::now();
    let mut cut_off = false;
    for _ in 0..4096 {
        if stream.write_all(&continuation).await.is_err() {
            cut_off = true;
            break;
        }
    }
    if !cut_off {
        // Everything was written into buffers: the server must have closed,
        // or must close now, rather than keep reading the block.
        let mut buf = vec![0u8; 65536];
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    cut_off = true;
                    break;
                }
                Ok(Ok(_frames)) => {}
                Err(_) => break,
            }
        }
    }
    assert!(
        cut_off,
        "the connection stayed open after {:?} of CONTINUATION frames",
        started.elapsed()
    );
    gateway.await_metric(HTTP2_ERRORS, 1.0).await;
    a_provider_is_still_served(&gateway, "evt-after-continuation").await;
    gateway.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_that_answer_pings_give_their_place_back() {
    // Every place taken by HTTP/2 connections that asked once and then only
    // answer hookgate's keep-alive pings.
    let server = "max_connections = 10\nmax_connections_per_client = 0\n\
                  header_timeout = \"2s\"\nidle_timeout = \"2s\"\n\
                  http2_keep_alive_interval = \"500ms\"";
    let bed = Testbed::own_tansu("h2-idle").await;
    let gateway = bed
        .gateway_for("github", KIND)
        .server(server)
        .start_process()
        .await;
    let mut idle = Vec::new();
    for _ in 0..10 {
        let mut client = h2_client(&gateway).await.ready().await.expect("ready");
        let health = http::Request::get("http://hookgate/healthz")
            .body(())
            .expect("request");
        let (response, _) = client.send_request(health, true).expect("send");
        assert_eq!(response.await.expect("answered").status(), 200);
        idle.push(client);
    }
    assert_eq!(gateway.metric("hookgate_connections_open").await, 10.0);
    // Closed once idle for 2 s, pings answered or not, and counted...
    gateway
        .await_metric("hookgate_connections_idle_closed_total", 10.0)
        .await;
    // ... so the next provider has a place.
    a_provider_is_still_served(&gateway, "evt-after-idle").await;
    drop(idle);
    gateway.stop();
}
