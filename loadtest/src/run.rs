//! Sending: the open- and closed-loop schedules, signing each delivery, and
//! counting what came back.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hdrhistogram::Histogram;
use hookgate::config::secret::Secret;
use hookgate::ops::clock::unix_millis;
use hookgate::pipeline::locate::Locator;
use hookgate::verify::{self, SchemeOptions, VerifierKind};

use crate::ledger::Ledger;
use hookgate::ops::https::HttpsConnector;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// What to send.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) url: String,
    /// Plain TCP for `http://`, rustls for `https://` (HTTP/1.1 either way,
    /// so that `connections` is what the gateway holds).
    pub(crate) connector: HttpsConnector<HttpConnector>,
    pub(crate) kind: VerifierKind,
    pub(crate) secret: Secret,
    pub(crate) public_url: String,
    pub(crate) rate: Option<u32>,
    pub(crate) connections: usize,
    pub(crate) duration: Duration,
    pub(crate) body_bytes: usize,
    pub(crate) duplicates: f64,
    pub(crate) pid: Option<u32>,
    pub(crate) broker_pid: Option<u32>,
}

/// What came back.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) sent: u64,
    pub(crate) statuses: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer at all.
    pub(crate) errors: u64,
    /// Why the first of them got none.
    pub(crate) first_error: Option<String>,
    /// Microseconds, from due time (open loop) or send time (closed loop).
    pub(crate) latency: Histogram<u64>,
    pub(crate) elapsed: Duration,
    /// Event ids (as hookgate computes them) answered `accepted`.
    pub(crate) accepted_ids: Vec<String>,
    /// Event ids answered 2xx at all, duplicates and the warm-up included.
    pub(crate) answered_ids: HashSet<String>,
    /// Event ids accepted while opening the connections, before the clock started.
    pub(crate) warm_up_ids: Vec<String>,
    /// The gateway's CPU seconds during the run.
    pub(crate) gateway_cpu: Option<f64>,
    /// The broker's CPU seconds during the run.
    pub(crate) broker_cpu: Option<f64>,
}

/// What one connection's worker counted; merged after the run, so no
/// worker waits on another's bookkeeping while it measures.
#[derive(Debug)]
struct Results {
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    first_error: Option<String>,
    accepted_ids: Vec<String>,
    answered_ids: Vec<String>,
}

impl Results {
    fn new() -> Self {
        Self {
            statuses: BTreeMap::new(),
            errors: 0,
            first_error: None,
            accepted_ids: Vec::new(),
            answered_ids: Vec::new(),
        }
    }

    fn merge(&mut self, other: Self) {
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.accepted_ids.extend(other.accepted_ids);
        self.answered_ids.extend(other.answered_ids);
    }
}

/// Accepted events a worker keeps to repeat as duplicates: the most recent
/// ones, as a provider retries soon, and a bounded number, so a long run at a
/// high rate does not hold every body in memory.
const REPEATABLE_EVENTS: usize = 256;

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub(crate) async fn run(plan: &Plan) -> Report {
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(plan.connections)
        .build(plan.connector.clone());
    let schedule = PlanRef::from(plan);
    let warm_up = warm_up(&schedule, &client, plan.connections).await;
    let next = Arc::new(AtomicU64::new(0));
    // One histogram for all: each is a few hundred KiB to zero, too much to
    // give every connection its own.
    let latency = Arc::new(Mutex::new(
        Histogram::new_with_bounds(1, 60_000_000, 3)
            .unwrap_or_else(|_| unreachable!("the bounds and 3 significant digits are valid")),
    ));
    let cpu_before = plan.pid.and_then(cpu_seconds);
    let broker_cpu_before = plan.broker_pid.and_then(cpu_seconds);
    let start = Instant::now();
    let end = start + plan.duration;
    let pacer = schedule.open_loop.as_ref().map(|open_loop| {
        let open_loop = open_loop.clone();
        let extra = plan.connections;
        std::thread::spawn(move || open_loop.pace(start.into_std(), extra))
    });
    let mut workers = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        let (client, plan) = (client.clone(), schedule.clone());
        let (next, latency) = (Arc::clone(&next), Arc::clone(&latency));
        workers.push(tokio::spawn(async move {
            worker(&plan, &client, &next, &latency, start, end).await
        }));
    }
    let mut results = Results::new();
    for worker in workers {
        if let Ok(counted) = worker.await {
            results.merge(counted);
        }
    }
    if let Some(pacer) = pacer {
        let _ = pacer.join();
    }
    let elapsed = start.elapsed();
    let used = |before: Option<f64>, pid: Option<u32>| Some(pid.and_then(cpu_seconds)? - before?);
    let gateway_cpu = used(cpu_before, plan.pid);
    let broker_cpu = used(broker_cpu_before, plan.broker_pid);
    Report {
        sent: next
            .load(Ordering::Relaxed)
            .min(results.statuses.values().sum::<u64>() + results.errors),
        statuses: results.statuses,
        errors: results.errors,
        first_error: results.first_error,
        latency: latency.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        elapsed,
        accepted_ids: results.accepted_ids,
        answered_ids: results
            .answered_ids
            .into_iter()
            .chain(warm_up.answered_ids)
            .collect(),
        warm_up_ids: warm_up.accepted_ids,
        gateway_cpu,
        broker_cpu,
    }
}

/// Opens every connection before the clock starts, with one new event each,
/// sent all at once: otherwise the first requests of the run would wait for
/// connections being set up, and that is not what a gateway's latency is.
/// These events count in the ledger, not in the report's rates or latencies.
async fn warm_up(plan: &PlanRef, client: &HttpClient, connections: usize) -> Results {
    let run = format!("{:x}", unix_millis(SystemTime::now()));
    let mut sends = Vec::with_capacity(connections);
    for k in 0..connections {
        let (plan, client) = (plan.clone(), client.clone());
        let id = format!("load-{run}-warm-up-{k}");
        sends.push(tokio::spawn(async move {
            let payload = body(&id, plan.body_bytes);
            send(&plan, &client, &id, &payload).await
        }));
    }
    let mut results = Results::new();
    for sent in sends {
        if let Ok(Ok((status, accepted, key))) = sent.await
            && (200..300).contains(&status)
        {
            if accepted {
                results.accepted_ids.push(key.clone());
            }
            results.answered_ids.push(key);
        }
    }
    results
}

/// What each worker needs of the plan, cheaply cloned into its task.
#[derive(Debug, Clone)]
struct PlanRef {
    url: Arc<str>,
    kind: VerifierKind,
    /// Where the source finds the event id: the scheme's default.
    event_id: Arc<Locator>,
    secret: Arc<Secret>,
    public_url: Arc<str>,
    open_loop: Option<OpenLoop>,
    body_bytes: usize,
    duplicates: f64,
}

impl From<&Plan> for PlanRef {
    fn from(plan: &Plan) -> Self {
        Self {
            url: plan.url.as_str().into(),
            kind: plan.kind,
            event_id: Arc::new(
                Locator::parse(plan.kind.defaults().event_id).unwrap_or(Locator::BodySha256),
            ),
            secret: Arc::new(plan.secret.clone()),
            public_url: plan.public_url.as_str().into(),
            open_loop: plan.rate.map(|rate| OpenLoop {
                interval: Duration::from_secs_f64(1.0 / f64::from(rate.max(1))),
                due_requests: (f64::from(rate) * plan.duration.as_secs_f64()).round() as u64,
                released: Arc::new(Semaphore::new(0)),
            }),
            body_bytes: plan.body_bytes,
            duplicates: plan.duplicates,
        }
    }
}

/// The pacer's shortest sleep. Waking the generator for every request costs
/// it more CPU than the requests at tens of thousands a second, so requests are
/// released in batches at most this far apart. Latency still counts from each
/// request's own due time, so this shows as up to 0.2 ms of latency, not less.
const PACER_TICK: Duration = Duration::from_micros(200);

/// The open loop's schedule: request `i` is due at `start + i × interval`.
#[derive(Debug, Clone)]
struct OpenLoop {
    interval: Duration,
    due_requests: u64,
    /// One permit per request that has fallen due.
    released: Arc<Semaphore>,
}

impl OpenLoop {
    fn due(&self, start: Instant, i: u64) -> Instant {
        start + self.interval.mul_f64(i as f64)
    }

    /// Releases the requests as they fall due, on a thread of its own: tokio's
    /// timer counts whole milliseconds, which would add up to a millisecond
    /// to every latency, while a thread's sleep wakes within tens of
    /// microseconds. Requests due while it slept are released together.
    /// `extra` permits at the end let every worker see the schedule is over.
    fn pace(&self, start: std::time::Instant, extra: usize) {
        let mut released = 0_u64;
        while released < self.due_requests {
            let elapsed = start.elapsed();
            let due_now = ((elapsed.as_secs_f64() / self.interval.as_secs_f64()) as u64 + 1)
                .min(self.due_requests);
            if due_now > released {
                self.released
                    .add_permits(usize::try_from(due_now - released).unwrap_or(usize::MAX));
                released = due_now;
            } else {
                let next_due = self.interval.mul_f64(released as f64);
                std::thread::sleep(next_due.saturating_sub(elapsed).max(PACER_TICK));
            }
        }
        self.released.add_permits(extra);
    }
}

async fn worker(
    plan: &PlanRef,
    client: &HttpClient,
    next: &AtomicU64,
    latency: &Mutex<Histogram<u64>>,
    start: Instant,
    end: Instant,
) -> Results {
    let run = format!("{:x}", unix_millis(SystemTime::now()));
    let mut results = Results::new();
    let mut repeatable: VecDeque<(String, Bytes)> = VecDeque::with_capacity(REPEATABLE_EVENTS);
    loop {
        let (i, due) = match &plan.open_loop {
            Some(open_loop) => {
                match open_loop.released.acquire().await {
                    Ok(permit) => permit.forget(),
                    Err(_closed) => return results,
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= open_loop.due_requests {
                    return results;
                }
                (i, open_loop.due(start, i))
            }
            None => {
                let now = Instant::now();
                if now >= end {
                    return results;
                }
                (next.fetch_add(1, Ordering::Relaxed), now)
            }
        };
        let repeat = is_duplicate(i, plan.duplicates)
            .then(|| {
                repeatable
                    .get(i as usize % repeatable.len().max(1))
                    .cloned()
            })
            .flatten();
        let (id, payload) = repeat.unwrap_or_else(|| {
            let id = format!("load-{run}-{i}");
            let payload = body(&id, plan.body_bytes);
            (id, payload)
        });
        let outcome = send(plan, client, &id, &payload).await;
        let took = u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX);
        let _ = latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(took.max(1));
        match outcome {
            Ok((status, accepted, key)) => {
                *results.statuses.entry(status).or_default() += 1;
                if (200..300).contains(&status) {
                    if accepted {
                        results.accepted_ids.push(key.clone());
                        if repeatable.len() == REPEATABLE_EVENTS {
                            repeatable.pop_front();
                        }
                        repeatable.push_back((id, payload));
                    }
                    results.answered_ids.push(key);
                }
            }
            Err(why) => {
                results.errors += 1;
                results.first_error.get_or_insert(why);
            }
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
/// lookup, so body-hash ids match too); why, if nothing came back.
async fn send(
    plan: &PlanRef,
    client: &HttpClient,
    id: &str,
    payload: &[u8],
) -> Result<(u16, bool, String), String> {
    let now = hookgate::ops::clock::now_seconds();
    let options = SchemeOptions {
        hmac: None,
        public_url: Some(&plan.public_url),
        token: None,
        verify_token: None,
        certificates: None,
        confirm_subscriptions: false,
    };
    let delivery = verify::sign(plan.kind, plan.secret.expose(), payload, id, now, options)?;
    let url = match &delivery.query {
        Some(query) => format!("{}?{query}", plan.url),
        None => plan.url.to_string(),
    };
    let mut request = http::Request::post(url);
    // A scheme that names its Content-Type (Twilio's chooses its mode) keeps
    // it; a second one would make the request ambiguous and be refused.
    if !delivery
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in &delivery.headers {
        request = request.header(name, value);
    }
    let body = Bytes::from(delivery.body);
    let key = plan
        .event_id
        .extract(
            request.headers_ref().ok_or("the request cannot be built")?,
            &body,
        )
        .map_or_else(|_| id.to_owned(), |key| key.as_str().to_owned());
    let request = request
        .body(Full::new(body))
        .map_err(|err| err.to_string())?;
    let response = client
        .request(request)
        .await
        .map_err(|err| hookgate::ops::https::describe(&err))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|err| hookgate::ops::https::describe(&err))?
        .to_bytes();
    let accepted = body.windows(10).any(|w| w == b"\"accepted\"");
    Ok((status, accepted, key))
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
        if let Some(why) = &self.first_error {
            let _ = writeln!(out, "no answer  first: {why}");
        }
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
        for (who, cpu) in [("gateway", self.gateway_cpu), ("broker", self.broker_cpu)] {
            if let Some(cpu) = cpu {
                let per = cpu * 1e6 / accepted.max(1) as f64;
                let _ = writeln!(
                    out,
                    "{who:<10} {cpu:.2} CPU s, {per:.1} µs per accepted event"
                );
            }
        }
        out
    }

    /// The report, and the ledger if one was checked, as one JSON object.
    pub(crate) fn json(&self, plan: &Plan, ledger: Option<&Ledger>) -> String {
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
            "broker_cpu_seconds": self.broker_cpu,
            "ledger": ledger.map(|ledger| serde_json::json!({
                "records": ledger.records,
                "missing": ledger.missing,
                "duplicated": ledger.duplicated,
                "extra": ledger.extra,
            })),
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
    fn the_pacer_releases_each_request_no_sooner_than_due_and_then_one_per_worker() {
        let open_loop = OpenLoop {
            interval: Duration::from_millis(2),
            due_requests: 10,
            released: Arc::new(Semaphore::new(0)),
        };
        let start = std::time::Instant::now();
        open_loop.pace(start, 3);
        // The last request is due at 9 × 2 ms; the pacer only returns once it
        // released it.
        assert!(start.elapsed() >= Duration::from_millis(18));
        assert_eq!(open_loop.released.available_permits(), 10 + 3);
    }

    #[test]
    fn bodies_have_the_asked_size_and_the_id() {
        let body = body("evt-1", 1024);
        assert_eq!(body.len(), 1024);
        let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(value["id"], "evt-1");
    }
}
