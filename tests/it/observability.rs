//! What SREs see and run: every query of the Grafana dashboard answered with
//! data by a real Prometheus scraping a real hookgate process, the metric names
//! following Prometheus' conventions, and docker-compose.yml valid against the
//! Compose schema with every image tag and port written out; and each
//! request's spans exported over OTLP to a receiver that decodes them, with
//! the ids of the `traceparent` its Kafka record carries.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hookgate::verify::VerifierKind;
use hookgate_testbed::http::{client, send, try_get};
use hookgate_testbed::signing::{body_with_id, secret_for, signed, source};
use hookgate_testbed::{Process, Testbed, free_port, installed, tools_dir};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// A Prometheus server scraping one target every second, stopped when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(target: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: hookgate\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .expect("prometheus.yml");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let child = Command::new(installed("prometheus", "PROMETHEUS"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        let prometheus = Self {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(
            try_get(&client(), &prometheus.url("/-/ready")).await,
            Ok((200, _))
        ) {
            assert!(
                Instant::now() < deadline,
                "Prometheus not ready within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        prometheus
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// An instant query's `data.result`, or why Prometheus refused it.
    async fn query(&self, expr: &str) -> Result<Vec<serde_json::Value>, String> {
        let url = self.url(&format!(
            "/api/v1/query?query={}",
            utf8_percent_encode(expr, NON_ALPHANUMERIC)
        ));
        let (status, body) = try_get(&client(), &url).await?;
        let reply: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("{status}: {e}: {body}"))?;
        if reply["status"] != "success" {
            return Err(format!("{status}: {}", reply["error"]));
        }
        Ok(reply["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The value of a query that returns one number.
    async fn value(&self, expr: &str) -> Option<f64> {
        let result = self.query(expr).await.ok()?;
        result.first()?["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Panels whose series exist only where TLS is configured: no data here.
const NEEDS_TLS: &[&str] = &["Days until a certificate expires"];

/// Every PromQL expression in the dashboard, as Grafana would send it for
/// the `hookgate` job with "All" namespaces and sources selected.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_file("grafana/dashboards/hookgate.json"))
        .expect("dashboard JSON");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard parses");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "row" || NEEDS_TLS.contains(&panel["title"].as_str().unwrap_or("")) {
            continue;
        }
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let label = format!("{} / {}", panel["title"], target["refId"]);
            queries.push((
                label,
                expr.replace("$__rate_interval", "20s")
                    .replace("$source", ".*")
                    .replace("$job", "hookgate")
                    .replace("$namespace", ".*"),
            ));
        }
    }
    queries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let bed = Testbed::own_tansu("dashboard").await;
    let events = &bed.events;
    let kind = VerifierKind::Github;
    let gateway = bed
        .gateway_for("github", kind)
        // Quarantining the forgeries below feeds the quarantine panels.
        .sources(&format!("quarantine_topic = \"{events}.quarantine\"\n"))
        .start_process()
        .await;
    let prometheus = Prometheus::start(gateway.metrics).await;
    let url = gateway.url("/webhooks/github");
    // Prometheus applies new targets after a few seconds: let it scrape the
    // idle gateway first, so the traffic lands between scrapes and rates are real.
    let deadline = Instant::now() + Duration::from_secs(30);
    while prometheus.value("up{job=\"hookgate\"}").await != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped hookgate"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Accepted, duplicate and refused traffic, spread over a few scrapes.
    let client = client();
    let accepted = 12;
    for n in 0..accepted {
        let id = format!("evt-dash-{n}");
        let body = body_with_id(&id);
        let reply = send(
            &client,
            "POST",
            &url,
            &signed(kind, &id, &body),
            body.clone(),
        )
        .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let again = send(&client, "POST", &url, &signed(kind, &id, &body), body).await;
        assert_eq!(again.body["status"], "duplicate");
        let forged = send(
            &client,
            "POST",
            &url,
            &signed(kind, &id, b"{}"),
            "{\"x\":1}",
        )
        .await;
        assert_eq!(forged.status, 401);
        let lost = send(
            &client,
            "POST",
            &gateway.url("/webhooks/secret-path-42"),
            &[],
            "{}",
        )
        .await;
        assert_eq!(lost.status, 404);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Prometheus has the final counts once it scraped after the traffic: a
    // scrape may fall between one request and the next, so each count is
    // awaited, not read once. librdkafka's statistics come every 5 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    while prometheus.value("sum(hookgate_kafka_broker_up)").await != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw librdkafka's statistics"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for query in [
        "sum(hookgate_events_accepted_total)",
        "sum(hookgate_events_duplicate_total)",
        "sum(hookgate_rejections_total{reason=\"signature_mismatch\"})",
    ] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while prometheus.value(query).await != Some(f64::from(accepted)) {
            assert!(
                Instant::now() < deadline,
                "Prometheus never scraped the final count of {query}: {:?}",
                prometheus.value(query).await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let mut failures = Vec::new();
    let queries = dashboard_queries();
    assert!(
        queries.len() >= 20,
        "the dashboard lost panels: {}",
        queries.len()
    );
    for (label, expr) in &queries {
        match prometheus.query(expr).await {
            Ok(result) if result.is_empty() => {
                failures.push(format!("{label}: no data for {expr}"))
            }
            Ok(_) => {}
            Err(err) => failures.push(format!("{label}: {err} for {expr}")),
        }
    }
    // The dashboard's source picker lists the configured source.
    let (_, sources) = try_get(&client, &prometheus.url("/api/v1/label/source/values"))
        .await
        .expect("label values");
    if !sources.contains("\"github\"") {
        failures.push(format!("source picker: {sources}"));
    }
    assert!(
        failures.is_empty(),
        "dashboard queries without data:\n{}",
        failures.join("\n")
    );

    // Names follow Prometheus' conventions and no label comes from a request.
    let (_, exposition) = try_get(&client, &format!("http://{}/metrics", gateway.metrics))
        .await
        .expect("metrics");
    for line in exposition.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line.split_whitespace().skip(2);
        let (name, kind) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        // hookgate's own, and the process's under their usual names.
        assert!(
            name.starts_with("hookgate_") || name.starts_with("process_"),
            "{line}"
        );
        match kind {
            "counter" => assert!(name.ends_with("_total"), "{line}"),
            "histogram" => assert!(name.ends_with("_seconds"), "{line}"),
            _ => assert!(!name.ends_with("_total"), "{line}"),
        }
    }
    assert!(
        !exposition.contains("secret-path-42"),
        "a request path became a label"
    );
    gateway.stop();
}

#[test]
fn docker_compose_is_valid_pins_every_image_and_publishes_only_the_webhook_port() {
    let compose = repo_file("docker-compose.yml");
    let output = Command::new(installed("check-jsonschema", "CHECK_JSONSCHEMA"))
        .args(["--builtin-schema", "vendor.compose-spec"])
        .arg(&compose)
        .output()
        .expect("check-jsonschema runs");
    assert!(
        output.status.success(),
        "docker-compose.yml is not a valid Compose file:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // Read as data, with the YAML parser check-jsonschema brings.
    let output = Command::new(tools_dir().join("bin/python"))
        .args([
            "-c",
            "import json, sys, ruamel.yaml; print(json.dumps(ruamel.yaml.YAML(typ='safe').load(open(sys.argv[1]))))",
        ])
        .arg(&compose)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let compose: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let services = compose["services"].as_object().expect("services");
    for name in ["kafka", "hookgate", "prometheus", "grafana"] {
        let service = &services[name];
        let image = service["image"].as_str().unwrap_or_default();
        let tag = image.rsplit_once(':').map(|(_, tag)| tag);
        assert!(
            tag.is_some_and(|t| !t.is_empty() && t != "latest" && !t.contains('/')),
            "{name}: image without an explicit tag: {image}"
        );
        assert_eq!(
            service["restart"], "unless-stopped",
            "{name}: restart policy"
        );
        assert!(service["healthcheck"].is_object(), "{name}: no healthcheck");
    }
    // Only the webhook port faces the network; Kafka is published nowhere
    // (whoever can produce can publish events that look verified).
    assert!(
        services["kafka"].get("ports").is_none(),
        "Kafka is published"
    );
    for (name, service) in services {
        for port in service["ports"].as_array().into_iter().flatten() {
            let port = port.as_str().expect("ports written as strings");
            let parts: Vec<&str> = port.split(':').collect();
            assert_eq!(
                parts.len(),
                3,
                "{name}: write interface, host and container port: {port}"
            );
            let expected = if (name.as_str(), parts[2]) == ("hookgate", "8080") {
                "0.0.0.0"
            } else {
                "127.0.0.1"
            };
            assert_eq!(parts[0], expected, "{name}: {port}");
        }
    }
    // No default secret: every one must be set (`${VAR:?why}`).
    let text = std::fs::read_to_string(repo_file("docker-compose.yml")).expect("compose file");
    for variable in [
        "GITHUB_WEBHOOK_SECRET",
        "STRIPE_WEBHOOK_SECRET",
        "GRAFANA_ADMIN_PASSWORD",
    ] {
        assert!(
            text.contains(&format!("${{{variable}:?")),
            "{variable} has a default"
        );
    }
    assert_eq!(
        services["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"],
        "false"
    );
}

#[test]
fn the_dashboard_is_tied_to_no_datasource_job_or_namespace() {
    let text = std::fs::read_to_string(repo_file("grafana/dashboards/hookgate.json"))
        .expect("dashboard JSON");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard parses");
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .filter_map(|variable| variable["name"].as_str())
        .collect();
    assert_eq!(variables, ["datasource", "job", "namespace", "source"]);
    let mut failures = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        if panel["type"] == "row" {
            continue;
        }
        if panel["datasource"]["uid"] != "${datasource}" {
            failures.push(format!("{title}: datasource {}", panel["datasource"]));
        }
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().unwrap_or_default();
            if target["datasource"]["uid"] != "${datasource}" {
                failures.push(format!(
                    "{title}: a target's datasource {}",
                    target["datasource"]
                ));
            }
            // Every selector is narrowed to the chosen job and namespaces.
            let selectors = expr.matches('{').count();
            let narrowed = expr
                .matches("{job=~\"$job\",namespace=~\"$namespace\"")
                .count();
            if selectors == 0 || selectors != narrowed || expr.contains("job=\"") {
                failures.push(format!("{title}: {expr}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_dashboard_panel_has_a_unit_and_every_stat_thresholds() {
    let text = std::fs::read_to_string(repo_file("grafana/dashboards/hookgate.json"))
        .expect("dashboard JSON");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard parses");
    let mut failures = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        if panel["type"] == "row" {
            continue;
        }
        let defaults = &panel["fieldConfig"]["defaults"];
        if defaults["unit"].as_str().is_none_or(str::is_empty) {
            failures.push(format!("{title}: no unit"));
        }
        if panel["description"].as_str().is_none_or(str::is_empty) {
            failures.push(format!("{title}: no description"));
        }
        if panel["type"] == "stat" {
            let steps = defaults["thresholds"]["steps"]
                .as_array()
                .map_or(0, Vec::len);
            if steps < 2 {
                failures.push(format!("{title}: a stat with {steps} threshold steps"));
            }
            let mode = panel["options"]["colorMode"].as_str().unwrap_or("none");
            if !matches!(mode, "background" | "value") {
                failures.push(format!(
                    "{title}: a stat whose colour says nothing ({mode})"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Sends a signed GitHub delivery whose body carries `marker`; the answer does
/// not matter here (there is no broker).
async fn deliver_marked(process: &Process, name: &str, marker: &str) {
    let body = format!("{{\"id\":\"{marker}\",\"note\":\"{marker}\"}}");
    let headers = signed(VerifierKind::Github, marker, body.as_bytes());
    let reply = send(
        &client(),
        "POST",
        &process.url(&format!("/webhooks/{name}")),
        &headers,
        body,
    )
    .await;
    assert_eq!(reply.status, 503, "no broker: {:?}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_structured_and_show_bodies_only_where_switched_on() {
    let bed = Testbed::unreachable(&format!("127.0.0.1:{}", free_port()), "logs").await;
    let kind = VerifierKind::Github;
    let sources = format!(
        "{}log_bodies = true\n{}",
        source(bed.dir(), "loud", kind, "t.loud"),
        source(bed.dir(), "quiet", kind, "t.quiet")
    );
    for format in ["logfmt", "json"] {
        let process = bed
            .gateway()
            .log_format(format)
            .sources(&sources)
            .spawn_process();
        process.await_live().await;
        deliver_marked(&process, "loud", "shown-body-marker").await;
        deliver_marked(&process, "quiet", "hidden-body-marker").await;
        let log = process.stop();

        assert!(log.contains("shown-body-marker"), "{format}: {log}");
        let body_lines = log.lines().filter(|l| l.contains("request body")).count();
        assert_eq!(
            body_lines, 1,
            "{format}: one body line, for the loud source: {log}"
        );
        assert!(
            !log.lines()
                .any(|l| l.contains("hidden-body-marker") && l.contains("\"note\\\"")),
            "{format}: the quiet source's body was logged: {log}"
        );
        assert!(
            !log.contains(secret_for(VerifierKind::Github)),
            "{format}: a secret was logged"
        );
        let request_line = log
            .lines()
            .find(|l| l.contains("hidden-body-marker") && l.contains("not_ready"))
            .unwrap_or_else(|| panic!("{format}: no request line: {log}"));
        for field in ["source", "event_id", "status", "reason", "latency_ms"] {
            assert!(
                request_line.contains(field),
                "{format}: {field} missing in {request_line}"
            );
        }
        for line in log.lines().filter(|l| !l.trim().is_empty()) {
            match format {
                "json" => {
                    serde_json::from_str::<serde_json::Value>(line)
                        .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                }
                _ => assert!(
                    line.starts_with("ts=") && line.contains(" level="),
                    "not logfmt: {line}"
                ),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_deliveries_are_logged_one_in_n_and_every_refusal_is_logged() {
    let bed = Testbed::own_tansu("sampled").await;
    let kind = VerifierKind::Github;
    let process = bed
        .gateway_for("github", kind)
        .tables("[log]\nformat = \"logfmt\"\naccepted = \"1/5\"")
        .start_process()
        .await;
    let url = process.url("/webhooks/github");
    let client = client();
    for n in 0..20 {
        let id = format!("evt-sampled-{n}");
        let body = body_with_id(&id);
        let reply = send(&client, "POST", &url, &signed(kind, &id, &body), body).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    for n in 0..3 {
        let id = format!("evt-forged-{n}");
        let forged = send(
            &client,
            "POST",
            &url,
            &signed(kind, &id, b"{}"),
            "{\"x\":1}",
        )
        .await;
        assert_eq!(forged.status, 401);
    }
    let log = process.stop();
    let lines = |word: &str| {
        log.lines()
            .filter(|l| l.contains(word) && l.contains("source=github"))
            .count()
    };
    assert_eq!(lines("message=accepted "), 4, "one in five of 20: {log}");
    assert_eq!(lines("signature_mismatch"), 3, "every refusal: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_body_cannot_forge_a_log_line_in_any_format() {
    let bed = Testbed::unreachable(&format!("127.0.0.1:{}", free_port()), "forged").await;
    let sources = format!(
        "{}log_bodies = true\n",
        source(bed.dir(), "loud", VerifierKind::Github, "t.loud")
    );
    // Bodies are logged before they are verified: anyone can send this.
    let forged = "{\"id\":1}\n2026-12-05T00:00:00.000000Z  INFO hookgate: forged-line-marker\r\nts=2026-12-05T00:00:00Z level=info msg=forged-line-marker\n\u{1b}[2J";
    for format in ["text", "logfmt", "json"] {
        let process = bed
            .gateway()
            .log_format(format)
            .sources(&sources)
            .spawn_process();
        process.await_live().await;
        let headers = [(
            "x-hub-signature-256".to_owned(),
            format!("sha256={}", "0".repeat(64)),
        )];
        let reply = send(
            &client(),
            "POST",
            &process.url("/webhooks/loud"),
            &headers,
            forged,
        )
        .await;
        assert_eq!(reply.status, 401, "{:?}", reply.body);
        process.await_log(&["request body"]).await;
        let log = process.stop();
        let marked: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("forged-line-marker"))
            .collect();
        assert_eq!(marked.len(), 1, "{format}: the body made lines: {log}");
        assert!(marked[0].contains("request body"), "{format}: {log}");
        assert!(
            !log.contains('\u{1b}'),
            "{format}: an escape reached the log"
        );
    }
}

/// An OTLP/HTTP traces receiver: every span of every export it is sent.
async fn otlp_receiver() -> (
    u16,
    tokio::sync::mpsc::UnboundedReceiver<opentelemetry_proto::tonic::trace::v1::Span>,
) {
    use http_body_util::BodyExt;
    use prost::Message;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (spans, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let spans = spans.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let spans = spans.clone();
                        async move {
                            let body = request.into_body().collect().await?.to_bytes();
                            let export = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(body)
                            .expect("an OTLP protobuf export");
                            for span in export
                                .resource_spans
                                .into_iter()
                                .flat_map(|resource| resource.scope_spans)
                                .flat_map(|scope| scope.spans)
                            {
                                let _ = spans.send(span);
                            }
                            Ok::<_, hyper::Error>(hyper::Response::new(http_body_util::Full::new(
                                bytes::Bytes::new(),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (port, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_requests_spans_are_exported_with_the_ids_its_record_carries() {
    let (port, mut received) = otlp_receiver().await;
    let bed = Testbed::own_tansu("otlp").await;
    let kind = VerifierKind::Github;
    let gateway = bed
        .gateway_for("github", kind)
        .tables(&format!(
            "[tracing]\notlp_endpoint = \"http://127.0.0.1:{port}/v1/traces\"\n"
        ))
        .start_process()
        .await;
    // The sender's own trace, which hookgate's span continues.
    let sender_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let sender_span = "00f067aa0ba902b7";
    let body = body_with_id("evt-otlp-1");
    let mut headers = signed(kind, "evt-otlp-1", &body);
    headers.push((
        "traceparent".into(),
        format!("00-{sender_trace}-{sender_span}-01"),
    ));
    let reply = send(
        &client(),
        "POST",
        &gateway.url("/webhooks/github"),
        &headers,
        body,
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);

    let records = bed.published(1, Duration::from_millis(200)).await;
    let traceparent = String::from_utf8_lossy(&records[0].headers["traceparent"]).into_owned();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts[1], sender_trace, "{traceparent}");
    let hookgate_span = hex::decode(parts[2]).expect("hex");

    let mut spans = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while spans.len() < 4 && Instant::now() < deadline {
        if let Ok(Some(span)) =
            tokio::time::timeout(Duration::from_millis(500), received.recv()).await
        {
            spans.push(span);
        }
    }
    let request = spans
        .iter()
        .find(|span| span.span_id == hookgate_span)
        .unwrap_or_else(|| panic!("no span {traceparent} among {spans:#?}"));
    assert_eq!(hex::encode(&request.trace_id), sender_trace);
    assert_eq!(hex::encode(&request.parent_span_id), sender_span);
    assert_eq!(request.name, "webhook github");
    let attribute = |name: &str| {
        request
            .attributes
            .iter()
            .find(|kv| kv.key == name)
            .and_then(|kv| kv.value.clone())
            .and_then(|value| value.value)
    };
    assert_eq!(
        attribute("hookgate.event_id"),
        Some(
            opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                "evt-otlp-1".into()
            )
        )
    );
    assert_eq!(
        attribute("hookgate.outcome"),
        Some(
            opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                "accepted".into()
            )
        )
    );
    let children: Vec<&str> = spans
        .iter()
        .filter(|span| span.parent_span_id == hookgate_span && span.trace_id == request.trace_id)
        .map(|span| span.name.as_str())
        .collect();
    // The dedup stage's publication is a span of the request's trace too.
    for child in ["verify", "kafka.acknowledgement", "dedup.publish"] {
        assert!(children.contains(&child), "{child} not among {children:?}");
    }
    // The tree as the receiver got it, for whoever reads the test's output.
    println!(
        "{} {} span {} parent {}",
        request.name,
        hex::encode(&request.trace_id),
        hex::encode(&request.span_id),
        hex::encode(&request.parent_span_id)
    );
    for span in spans
        .iter()
        .filter(|span| span.parent_span_id == hookgate_span)
    {
        let took = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano);
        println!(
            "└── {} span {} ({} µs)",
            span.name,
            hex::encode(&span.span_id),
            took / 1000
        );
    }
    gateway.stop();
}
