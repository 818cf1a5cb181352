//! Connections that would hold hookgate's places: silent sockets, half a
//! request line, part of the HTTP/2 preface, a flood from one address, bodies
//! that never finish. None may lock out a provider: each is closed or
//! answered 503 at once, and counted.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hookgate::verify::VerifierKind;
use hookgate_testbed::Testbed;
use hookgate_testbed::http::{client, send, try_send};
use hookgate_testbed::signing::{body_with_id, signed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const KIND: VerifierKind = VerifierKind::Github;
const PATH: &str = "/webhooks/github";

/// A connection to `to` from the loopback address `from`.
async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::V4(from), 0))
        .expect("bind");
    socket.connect(to).await.expect("connect")
}

/// A signed delivery of `id`: its status and `status` word or reason.
async fn deliver(url: &str, id: &str) -> Result<(u16, String), String> {
    let body = body_with_id(id);
    let reply = try_send(&client(), "POST", url, &signed(KIND, id, &body), body).await?;
    let word = reply.body["status"]
        .as_str()
        .or(reply.body["reason"].as_str())
        .unwrap_or_default()
        .to_owned();
    Ok((reply.status, word))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_that_say_nothing_lock_no_sender_out() {
    // Limits low enough that the sockets below fill them.
    let server = "header_timeout = \"3s\"\nmax_connections = 64\nmax_connections_per_client = 0";
    let bed = Testbed::own_tansu("silent").await;
    let gateway = bed
        .gateway_for("github", KIND)
        .server(server)
        .start_process()
        .await;
    let openers: [&[u8]; 3] = [b"", b"PRI * HTTP/2.0\r\n", b"POST /webhooks/github HT"];
    let mut held = Vec::new();
    for n in 0..99 {
        let mut stream = TcpStream::connect(gateway.addr).await.expect("connect");
        stream
            .write_all(openers[n % openers.len()])
            .await
            .expect("write");
        held.push(stream);
    }
    let url = gateway.url(PATH);

    // A provider is answered at once, even while every place is taken (well
    // before a silent socket's 3 s are up)...
    let asked = Instant::now();
    let first = deliver(&url, "evt-while-full").await;
    assert!(
        asked.elapsed() < Duration::from_millis(2500),
        "answered after {:?}: {first:?}",
        asked.elapsed()
    );
    if let Ok((status, word)) = &first {
        assert!(
            *status == 200 || (*status == 503 && word == "overloaded"),
            "{first:?}"
        );
    }
    // ... and gets its place once the silent sockets' time is up.
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        match deliver(&url, "evt-while-full").await {
            Ok((200, word)) => {
                assert!(word == "accepted" || word == "duplicate", "{word}");
                break;
            }
            other => assert!(Instant::now() < deadline, "still refused: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Their timers fire together, but on a busy machine not in the same
    // instant as the place the provider got.
    gateway
        .await_metric("hookgate_connections_timed_out_total", 64.0)
        .await;
    assert!(
        gateway
            .metric("hookgate_connections_refused_total{reason=\"connection_limit\"}")
            .await
            >= 35.0
    );
    // The silent sockets were closed by hookgate, not left open.
    let mut closed = 0;
    for mut stream in held {
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
            // Closed (0), or answered 503 at once and then closed.
            Ok(Ok(n)) => {
                assert!(
                    n == 0 || buf.starts_with(b"HTTP/1.1 503"),
                    "{:?}",
                    &buf[..n]
                );
                closed += 1;
            }
            // Reset: closed with the opener's bytes still unread.
            Ok(Err(_reset)) => closed += 1,
            Err(_still_open) => {}
        }
    }
    assert_eq!(closed, 99);
    gateway.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_place() {
    let server = "max_connections_per_client = 10";
    let bed = Testbed::own_tansu("per-client").await;
    let gateway = bed
        .gateway_for("github", KIND)
        .server(server)
        .start_process()
        .await;
    let flooder = Ipv4Addr::new(127, 0, 0, 2);
    // Connections are accepted in the order they were opened: the first ten
    // take the address's places, the next ten are answered 503 and closed.
    let mut streams = Vec::new();
    for _ in 0..20 {
        streams.push(connect_from(flooder, gateway.addr).await);
    }
    let first_answer = |mut stream: TcpStream, request: &'static [u8]| async move {
        stream.write_all(request).await.expect("write");
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
        let n = read.expect("answered").expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let refused = streams.split_off(10);
    for stream in refused {
        let text = first_answer(stream, b"").await;
        assert!(
            text.starts_with("HTTP/1.1 503") && text.contains("retry-after: 3"),
            "{text}"
        );
        assert!(text.contains("\"reason\":\"overloaded\""), "{text}");
    }
    for stream in streams {
        let text = first_answer(stream, b"GET /healthz HTTP/1.1\r\nhost: hookgate\r\n\r\n").await;
        assert!(
            text.starts_with("HTTP/1.1 200"),
            "an admitted one is served: {text}"
        );
    }
    assert_eq!(
        gateway
            .metric("hookgate_connections_refused_total{reason=\"per_client_limit\"}")
            .await,
        10.0
    );
    // Another address is served as if nothing happened.
    assert_eq!(
        deliver(&gateway.url(PATH), "evt-other-client").await,
        Ok((200, "accepted".to_owned()))
    );
    gateway.stop();
}

/// Sends a request whose body declares `length` bytes and sends `sent` of
/// them: it holds its place in hookgate until the body timeout.
async fn unfinished_body(mut stream: TcpStream, length: usize, sent: usize) -> TcpStream {
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nhost: hookgate\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n{}",
        " ".repeat(sent)
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
}

/// As [`unfinished_body`], on a new connection from 127.0.0.1.
async fn unfinished_body_to(to: SocketAddr, length: usize, sent: usize) -> TcpStream {
    let stream = TcpStream::connect(to).await.expect("connect");
    unfinished_body(stream, length, sent).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_body_bytes_beyond_their_limits_get_a_fast_503() {
    let server =
        "max_body_bytes = 1000\nmax_buffered_body_bytes = 1500\nmax_requests_in_flight = 3";
    let bed = Testbed::own_tansu("overload").await;
    let gateway = bed
        .gateway_for("github", KIND)
        .server(server)
        .start_process()
        .await;
    let url = gateway.url(PATH);
    let client = client();
    let probe = |declared: usize| {
        let body = vec![b' '; declared];
        let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        let (client, url) = (client.clone(), url.clone());
        async move { send(&client, "POST", &url, &headers, body).await }
    };

    // One unfinished 1000-byte body that sent 999 holds 999 of the 1500 bytes.
    let _holding_bytes = unfinished_body_to(gateway.addr, 1000, 999).await;
    gateway
        .await_metric("hookgate_request_body_bytes_held", 999.0)
        .await;
    let asked = Instant::now();
    let reply = probe(900).await;
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert_eq!(reply.body["reason"], "overloaded");
    assert_eq!(reply.headers["retry-after"], "3");
    // At once, not after the held body's 10 s timeout.
    assert!(asked.elapsed() < Duration::from_millis(1500));
    // A body that fits in what is left is read (and refused for its signature).
    assert_eq!(probe(400).await.status, 401);

    // Three requests in flight: the fourth is turned away at once.
    let _two_more = [
        unfinished_body_to(gateway.addr, 10, 1).await,
        unfinished_body_to(gateway.addr, 10, 1).await,
    ];
    gateway
        .await_metric("hookgate_requests_in_flight", 3.0)
        .await;
    let reply = probe(10).await;
    assert_eq!(
        (reply.status, reply.body["reason"].as_str()),
        (503, Some("overloaded"))
    );
    assert!(
        gateway
            .metric("hookgate_rejections_total{source=\"github\",reason=\"overloaded\"}")
            .await
            >= 2.0
    );
    gateway.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_body_holds_nothing_until_it_arrives() {
    // The defaults: 256 MiB for bodies, 1 MiB each. 300 requests that
    // declare 1 MiB and send nothing would have taken every byte when a
    // body's declared length was reserved before it arrived.
    let bed = Testbed::own_tansu("declared").await;
    let gateway = bed.gateway_for("github", KIND).start_process().await;
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(unfinished_body_to(gateway.addr, 1024 * 1024, 0).await);
    }
    gateway
        .await_metric("hookgate_requests_in_flight", 300.0)
        .await;
    assert_eq!(
        deliver(&gateway.url(PATH), "evt-past-declared").await,
        Ok((200, "accepted".to_owned()))
    );
    assert_eq!(
        gateway.metric("hookgate_request_body_bytes_held").await,
        0.0
    );
    drop(silent);
    gateway.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_holds_no_more_than_its_share_of_requests_and_body_bytes() {
    let server = "max_body_bytes = 1000\nmax_buffered_body_bytes = 100000\n\
                  max_buffered_body_bytes_per_client = 2500\n\
                  max_requests_in_flight = 1000\nmax_requests_in_flight_per_client = 4";
    let bed = Testbed::own_tansu("client-share").await;
    let gateway = bed
        .gateway_for("github", KIND)
        .server(server)
        .start_process()
        .await;
    let greedy = Ipv4Addr::new(127, 0, 0, 3);
    // Two bodies of 999 bytes that never finish: 1998 of the client's 2500.
    let mut held = Vec::new();
    for _ in 0..2 {
        let stream = connect_from(greedy, gateway.addr).await;
        held.push(unfinished_body(stream, 1000, 999).await);
    }
    gateway
        .await_metric("hookgate_request_body_bytes_held", 1998.0)
        .await;
    // A third body from the same client goes past its share: refused at once.
    let third = connect_from(greedy, gateway.addr).await;
    let mut third = unfinished_body(third, 1000, 999).await;
    let answer = read_answer(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"reason\":\"client_limit\""), "{answer}");
    // Two more unfinished requests make four in flight, its share of requests.
    for _ in 0..2 {
        let stream = connect_from(greedy, gateway.addr).await;
        held.push(unfinished_body(stream, 10, 1).await);
    }
    gateway
        .await_metric("hookgate_requests_in_flight", 4.0)
        .await;
    let fifth = connect_from(greedy, gateway.addr).await;
    let mut fifth = unfinished_body(fifth, 10, 1).await;
    let answer = read_answer(&mut fifth).await;
    assert!(
        answer.starts_with("HTTP/1.1 503") && answer.contains("client_limit"),
        "{answer}"
    );
    // Every other client is served as if nothing happened.
    assert_eq!(
        deliver(&gateway.url(PATH), "evt-other-client").await,
        Ok((200, "accepted".to_owned()))
    );
    assert_eq!(
        gateway
            .metric("hookgate_rejections_total{source=\"github\",reason=\"client_limit\"}")
            .await,
        2.0
    );
    drop(held);
    gateway.stop();
}

/// The first answer on `stream`, as text; hookgate answers well before 5 s.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
    let n = read.expect("answered").expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_on_the_metrics_port_answer_while_every_webhook_place_is_taken() {
    // The manifests probe the metrics port: an overloaded webhook port must
    // not fail a probe, or Kubernetes would take the replica out of the
    // Service (or restart it) and move its load onto the others.
    let server = "header_timeout = \"30s\"\nmax_connections = 16\nmax_connections_per_client = 0";
    let bed = Testbed::own_tansu("probes").await;
    let gateway = bed
        .gateway_for("github", KIND)
        .server(server)
        .start_process()
        .await;
    // More sockets than places: the webhook port is full once it refuses one.
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(gateway.addr).await.expect("connect"));
    }
    gateway
        .await_metric(
            "hookgate_connections_refused_total{reason=\"connection_limit\"}",
            1.0,
        )
        .await;

    // The webhook port is full: its own /healthz is refused...
    let webhook = try_send(&client(), "GET", &gateway.url("/healthz"), &[], "").await;
    assert!(
        matches!(&webhook, Ok(reply) if reply.status == 503) || webhook.is_err(),
        "{webhook:?}"
    );
    // ... while the probes' port answers both, again and again.
    for _ in 0..20 {
        let live = send(&client(), "GET", &gateway.metrics_url("/healthz"), &[], "").await;
        assert_eq!(live.status, 200, "{:?}", live.body);
        let ready = send(&client(), "GET", &gateway.metrics_url("/readyz"), &[], "").await;
        assert_eq!(ready.status, 200, "{:?}", ready.body);
    }
    drop(held);
    gateway.stop();
}
