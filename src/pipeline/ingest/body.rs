//! Reading a request's body: into one `Bytes` without copying a body that
//! arrives in one frame, bounded in size (by `Content-Length` first, then as
//! it streams), in time, and by the memory budget every request shares.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, header};
use http_body_util::BodyExt;

use crate::ops::reason::Reason;
use crate::pipeline::answer::Rejection;
use crate::pipeline::budget::{OverBudget, Ticket};
use crate::pipeline::source::Source;

/// Reads the whole body into one `Bytes`, refusing more than `limit` bytes: at
/// once when `Content-Length` says so, and while streaming when it lied or was absent.
pub(super) async fn read_body<B>(
    body: B,
    headers: &HeaderMap,
    limit: usize,
    timeout: Duration,
    ticket: &mut Ticket<'_>,
) -> Result<Bytes, Rejection>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        Rejection::new(
            Reason::BodyTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    };
    if let Some(declared) = declared_length(headers).filter(|len| *len > limit as u64) {
        // Answering while the sender is still sending, then closing, makes the
        // kernel reset the connection and the 413 is lost: the provider would
        // retry forever. A body of moderate size is read and dropped first.
        if declared <= limit as u64 + DRAIN_BUDGET {
            let _ = tokio::time::timeout(timeout, discard(body)).await;
        }
        return Err(too_large());
    }
    let collect = async {
        let mut body = std::pin::pin!(body);
        let mut collected = Collected::default();
        while let Some(frame) = body.as_mut().frame().await {
            let frame = frame.map_err(|err| {
                let err: Box<dyn std::error::Error + Send + Sync> = err.into();
                Rejection::new(
                    Reason::BodyUnreadable,
                    format!("the body could not be read: {err}"),
                )
            })?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            if collected.len + data.len() > limit {
                return Err(too_large());
            }
            // Charged as it arrives: what a body declares costs nothing.
            ticket.charge(data.len()).map_err(over_budget)?;
            collected.push(data);
        }
        Ok(collected.into_bytes())
    };
    tokio::time::timeout(timeout, collect)
        .await
        .unwrap_or_else(|_elapsed| {
            Err(Rejection::new(
                Reason::BodyTimeout,
                format!("the body did not arrive within {}s", timeout.as_secs()),
            ))
        })
}

/// A body's frames as they arrive: one frame is kept as it came (no copy),
/// several are joined.
#[derive(Default)]
struct Collected {
    first: Option<Bytes>,
    rest: Option<bytes::BytesMut>,
    len: usize,
}

impl Collected {
    fn push(&mut self, data: Bytes) {
        self.len += data.len();
        match (&self.first, &mut self.rest) {
            (None, _) => self.first = Some(data),
            (Some(first), None) => {
                let mut joined = bytes::BytesMut::with_capacity(first.len() + data.len());
                joined.extend_from_slice(first);
                joined.extend_from_slice(&data);
                self.rest = Some(joined);
            }
            (Some(_), Some(joined)) => joined.extend_from_slice(&data),
        }
    }

    fn into_bytes(self) -> Bytes {
        match (self.first, self.rest) {
            (_, Some(joined)) => joined.freeze(),
            (Some(first), None) => first,
            (None, None) => Bytes::new(),
        }
    }
}

/// The body's length as `Content-Length` declares it.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok())
}

/// A fast 503 for a gateway, or a client, at one of its limits.
pub(super) fn over_budget(over: OverBudget) -> Rejection {
    let reason = if over.is_the_clients() {
        Reason::ClientLimit
    } else {
        Reason::Overloaded
    };
    Rejection::new(reason, over.message())
}

/// Bytes beyond the limit that are read and dropped so a 413 reaches the sender.
const DRAIN_BUDGET: u64 = 1024 * 1024;

/// Reads a body to its end without keeping it.
async fn discard<B: http_body::Body>(body: B) {
    let mut body = std::pin::pin!(body);
    while let Some(Ok(_frame)) = body.as_mut().frame().await {}
}

/// The debug switch's log line: the body as text, up to 4 KiB, before it is
/// verified, so a sender's signature problems can be seen.
pub(super) fn log_body(source: &Source, body: &Bytes) {
    const SHOWN: usize = 4096;
    let shown = &body[..body.len().min(SHOWN)];
    tracing::info!(
        source = %source.name,
        bytes = body.len(),
        truncated = body.len() > SHOWN,
        // Escaped: an unverified body must not start a log line of its own.
        body = %crate::pipeline::printable::Escaped(shown),
        "request body (sources.log_bodies is on)"
    );
}
