//! Sending: the open- and closed-loop schedules, signing each delivery, and
//! counting what came back.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hdrhistogram::Histogram;
use hookgate::clock::unix_millis;
use hookgate::event::EventIdSource;
use hookgate::secret::Secret;
use hookgate::verify::{self, SchemeOptions, VerifierKind};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

/// What to send.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) url: String,
    pub(crate) kind: VerifierKind,
    pub(crate) secret: Secret,
    pub(crate) public_url: String,
    pub(crate) rate: Option<u32>,
    pub(crate) connections: usize,
    pub(crate) duration: Duration,
    pub(crate) body_bytes: usize,
    pub(crate) duplicates: f64,
    pub(crate) pid: Option<u32>,
}

/// What came back.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) sent: u64,
    pub(crate) statuses: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer at all.
    pub(crate) errors: u64,
    /// Microseconds, from due time (open loop) or send time (closed loop).
    pub(crate) latency: Histogram<u64>,
    pub(crate) elapsed: Duration,
    /// Event ids (as hookgate computes them) answered `accepted`.
    pub(crate) accepted_ids: Vec<String>,
    /// Event ids answered 2xx at all, duplicates included.
    pub(crate) answered_ids: HashSet<String>,
    /// The gateway's CPU seconds during the run.
    pub(crate) gateway_cpu: Option<f64>,
}

#[derive(Debug)]
struct Shared {
    next: AtomicU64,
    accepted: Mutex<Vec<(String, Bytes)>>,
    results: Mutex<Results>,
}

#[derive(Debug)]
struct Results {
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    latency: Histogram<u64>,
    accepted_ids: Vec<String>,
    answered_ids: HashSet<String>,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub(crate) async fn run(plan: &Plan) -> Report {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(plan.connections)
        .build(connector);
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        accepted: Mutex::new(Vec::new()),
        results: Mutex::new(Results {
            statuses: BTreeMap::new(),
            errors: 0,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| {
                Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
            }),
            accepted_ids: Vec::new(),
            answered_ids: HashSet::new(),
        }),
    });
    let cpu_before = plan.pid.and_then(cpu_seconds);
    let start = Instant::now();
    let end = start + plan.duration;
    let mut workers = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        let (client, shared) = (client.clone(), Arc::clone(&shared));
        let plan = PlanRef::from(plan);
        workers.push(tokio::spawn(async move {
            worker(&plan, &client, &shared, start, end).await;
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = start.elapsed();
    let gateway_cpu = match (cpu_before, plan.pid.and_then(cpu_seconds)) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    let results = std::mem::replace(
        &mut *shared.results.lock().unwrap_or_else(|p| p.into_inner()),
        Results {
            statuses: BTreeMap::new(),
            errors: 0,
            latency: Histogram::new(3)
                .unwrap_or_else(|_| unreachable!("3 significant digits are valid")),
            accepted_ids: Vec::new(),
            answered_ids: HashSet::new(),
        },
    );
    Report {
        sent: shared
            .next
            .load(Ordering::Relaxed)
            .min(results.statuses.values().sum::<u64>() + results.errors),
        statuses: results.statuses,
        errors: results.errors,
        latency: results.latency,
        elapsed,
        accepted_ids: results.accepted_ids,
        answered_ids: results.answered_ids,
        gateway_cpu,
    }
}

/// What each worker needs of the plan, cheaply cloned into its task.
#[derive(Debug, Clone)]
struct PlanRef {
    url: Arc<str>,
    kind: VerifierKind,
    /// Where the source finds the event id: the scheme's default.
    event_id: Arc<EventIdSource>,
    secret: Arc<Secret>,
    public_url: Arc<str>,
    interval: Option<Duration>,
    /// Open loop: how many requests the run is due to send.
    due_requests: Option<u64>,
    body_bytes: usize,
    duplicates: f64,
}

impl From<&Plan> for PlanRef {
    fn from(plan: &Plan) -> Self {
        Self {
            url: plan.url.as_str().into(),
            kind: plan.kind,
            event_id: Arc::new(
                EventIdSource::parse(plan.kind.defaults().event_id)
                    .unwrap_or(EventIdSource::BodySha256),
            ),
            secret: Arc::new(plan.secret.clone()),
            public_url: plan.public_url.as_str().into(),
            interval: plan
                .rate
                .map(|rate| Duration::from_secs_f64(1.0 / f64::from(rate.max(1)))),
            due_requests: plan
                .rate
                .map(|rate| (f64::from(rate) * plan.duration.as_secs_f64()).round() as u64),
            body_bytes: plan.body_bytes,
            duplicates: plan.duplicates,
        }
    }
}

async fn worker(
    plan: &PlanRef,
    client: &HttpClient,
    shared: &Shared,
    start: Instant,
    end: Instant,
) {
    let run = format!("{:x}", unix_millis(SystemTime::now()));
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let due = match plan.interval {
            Some(interval) => start + interval.mul_f64(i as f64),
            None => Instant::now(),
        };
        if due >= end
            || plan
                .due_requests
                .is_some_and(|due_requests| i >= due_requests)
        {
            return;
        }
        tokio::time::sleep_until(due).await;
        let repeat = is_duplicate(i, plan.duplicates)
            .then(|| {
                let accepted = shared.accepted.lock().unwrap_or_else(|p| p.into_inner());
                (!accepted.is_empty()).then(|| accepted[(i as usize) % accepted.len()].clone())
            })
            .flatten();
        let (id, payload) = repeat.unwrap_or_else(|| {
            let id = format!("load-{run}-{i}");
            let payload = body(&id, plan.body_bytes);
            (id, payload)
        });
        let outcome = send(plan, client, &id, &payload).await;
        let latency = u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut results = shared.results.lock().unwrap_or_else(|p| p.into_inner());
        let _ = results.latency.record(latency.max(1));
        match outcome {
            Some((status, accepted, key)) => {
                *results.statuses.entry(status).or_default() += 1;
                if (200..300).contains(&status) {
                    results.answered_ids.insert(key.clone());
                    if accepted {
                        results.accepted_ids.push(key);
                        drop(results);
                        shared
                            .accepted
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((id, payload));
                    }
                }
            }
            None => results.errors += 1,
        }
    }
}

/// Spreads duplicates evenly: request `i` repeats an earlier event when the
/// running count of `ratio × i` steps up.
fn is_duplicate(i: u64, ratio: f64) -> bool {
    ratio > 0.0 && ((i + 1) as f64 * ratio).floor() > (i as f64 * ratio).floor()
}

/// A JSON body of about `size` bytes carrying `id` where providers look for it.
fn body(id: &str, size: usize) -> Bytes {
    let head = format!(
        "{{\"id\":\"{id}\",\"event_id\":\"{id}\",\"type\":\"load.test\",\"event\":{{\"id\":\"{id}\"}},\"webhookTimestamp\":{},\"pad\":\"",
        unix_millis(SystemTime::now())
    );
    let pad = size.saturating_sub(head.len() + 2);
    let mut text = head;
    text.extend(std::iter::repeat_n('x', pad));
    text.push_str("\"}");
    Bytes::from(text)
}

/// Signs and sends one delivery: its status, whether it was `accepted` (not
/// `duplicate`), and the event id hookgate read from it (the source's own
/// lookup, so body-hash ids match too); `None` if nothing came back.
async fn send(
    plan: &PlanRef,
    client: &HttpClient,
    id: &str,
    payload: &[u8],
) -> Option<(u16, bool, String)> {
    let now = hookgate::clock::now_seconds();
    let options = SchemeOptions {
        hmac: None,
        public_url: Some(&plan.public_url),
    };
    let delivery = verify::sign(plan.kind, plan.secret.expose(), payload, id, now, options).ok()?;
    let url = match &delivery.query {
        Some(query) => format!("{}?{query}", plan.url),
        None => plan.url.to_string(),
    };
    let mut request = http::Request::post(url).header("content-type", "application/json");
    for (name, value) in &delivery.headers {
        request = request.header(name, value);
    }
    let body = Bytes::from(delivery.body);
    let key = plan
        .event_id
        .extract(request.headers_ref()?, &body)
        .map_or_else(|_| id.to_owned(), |key| key.as_str().to_owned());
    let request = request.body(Full::new(body)).ok()?;
    let response = client.request(request).await.ok()?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    let accepted = body.windows(10).any(|w| w == b"\"accepted\"");
    Some((status, accepted, key))
}

/// User plus system CPU seconds of process `pid`, from `/proc`. Linux counts
/// them in clock ticks of 1/100 s (`USER_HZ`) on every common configuration.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are fixed.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

impl Report {
    fn ok(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(status, _)| (200..300).contains(*status))
            .map(|(_, n)| n)
            .sum()
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    pub(crate) fn render(&self, plan: &Plan) -> String {
        let mut out = String::new();
        let mode = plan.rate.map_or("closed loop (flat out)".to_owned(), |r| {
            format!("open loop at {r}/s")
        });
        let secs = self.elapsed.as_secs_f64();
        let _ = writeln!(
            out,
            "{} {}, {} connections, {} B bodies, {:.0}% duplicates, {:.1} s",
            plan.kind.name(),
            mode,
            plan.connections,
            plan.body_bytes,
            plan.duplicates * 100.0,
            secs
        );
        let _ = writeln!(
            out,
            "requests   {}  ({:.0}/s)  2xx {} ({:.0}/s)  no answer {}",
            self.sent,
            self.sent as f64 / secs,
            self.ok(),
            self.ok() as f64 / secs,
            self.errors
        );
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let _ = writeln!(out, "statuses   {}", statuses.join("  "));
        let _ = writeln!(
            out,
            "latency ms p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            self.quantile_ms(0.5),
            self.quantile_ms(0.9),
            self.quantile_ms(0.99),
            self.quantile_ms(0.999),
            self.latency.max() as f64 / 1000.0
        );
        let accepted = self.accepted_ids.len();
        let _ = writeln!(out, "accepted   {accepted} new events");
        if let Some(cpu) = self.gateway_cpu {
            let per = if accepted > 0 {
                cpu * 1e6 / accepted as f64
            } else {
                0.0
            };
            let _ = writeln!(
                out,
                "gateway    {cpu:.2} CPU s, {per:.1} µs per accepted event"
            );
        }
        out
    }

    pub(crate) fn json(&self, plan: &Plan) -> String {
        serde_json::json!({
            "provider": plan.kind.name(),
            "rate": plan.rate,
            "connections": plan.connections,
            "body_bytes": plan.body_bytes,
            "duplicates": plan.duplicates,
            "seconds": self.elapsed.as_secs_f64(),
            "requests": self.sent,
            "ok": self.ok(),
            "no_answer": self.errors,
            "statuses": self.statuses.iter().map(|(s, n)| (s.to_string(), *n)).collect::<BTreeMap<_, _>>(),
            "accepted": self.accepted_ids.len(),
            "latency_ms": {
                "p50": self.quantile_ms(0.5),
                "p90": self.quantile_ms(0.9),
                "p99": self.quantile_ms(0.99),
                "p999": self.quantile_ms(0.999),
                "max": self.latency.max() as f64 / 1000.0,
            },
            "gateway_cpu_seconds": self.gateway_cpu,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_spread_at_the_ratio() {
        let count = (0..1000).filter(|&i| is_duplicate(i, 0.1)).count();
        assert_eq!(count, 100);
        assert!((0..1000).all(|i| !is_duplicate(i, 0.0)));
    }

    #[test]
    fn bodies_have_the_asked_size_and_the_id() {
        let body = body("evt-1", 1024);
        assert_eq!(body.len(), 1024);
        let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(value["id"], "evt-1");
    }
}
