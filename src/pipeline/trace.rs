//! W3C Trace Context for each delivery: the sender's `traceparent` continued
//! (same trace, hookgate's own span), or a new trace started, so that the
//! consumers of a topic can join the trace of the request that brought each
//! record. <https://www.w3.org/TR/trace-context/>

use std::fmt;

use http::HeaderMap;
use rand::RngCore;

/// hookgate's span of one request, in its trace.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: [u8; 16],
    /// hookgate's span: the parent of whatever a consumer does with the record.
    span_id: [u8; 8],
    /// The sender's span when it sent one (zeros when not): the parent of
    /// hookgate's in an exported trace.
    parent_span_id: [u8; 8],
    flags: u8,
    /// Whether the sender's trace is continued (its `tracestate` goes along).
    continued: bool,
}

/// A `traceparent` as the sender wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Incoming {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

impl TraceParent {
    /// Continues the trace of the request's valid `traceparent`, or starts one.
    pub fn continue_or_start(headers: &HeaderMap) -> Self {
        let incoming = headers
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
            .and_then(parse);
        // A thread's own generator, seeded from the operating system: no
        // system call per request.
        let mut random = [0u8; 24];
        rand::rng().fill_bytes(&mut random);
        let (trace, span) = random.split_at(16);
        let span_id = span.try_into().unwrap_or([1; 8]);
        match incoming {
            // Level 1 knows one flag, `sampled`; the others are not passed on.
            Some(incoming) => Self {
                trace_id: incoming.trace_id,
                span_id,
                parent_span_id: incoming.span_id,
                flags: incoming.flags & 0x01,
                continued: true,
            },
            // A new trace, sampled: the sender traces nothing, so hookgate's
            // record is where the trace begins.
            None => Self {
                trace_id: trace.try_into().unwrap_or([1; 16]),
                span_id,
                parent_span_id: [0; 8],
                flags: 0x01,
                continued: false,
            },
        }
    }

    /// The trace id, 32 lowercase hex digits when shown: what the log line
    /// carries (written only if the line is).
    /// The ids as bytes, for export: the trace, hookgate's span, and the
    /// sender's (zeros when none).
    pub fn ids(&self) -> ([u8; 16], [u8; 8], [u8; 8]) {
        (self.trace_id, self.span_id, self.parent_span_id)
    }

    pub fn trace_id(&self) -> TraceId {
        TraceId(self.trace_id)
    }

    /// `traceparent`'s value, `00-<trace id>-<span id>-<flags>`, without
    /// allocating: it goes on every record.
    pub fn header_value(&self) -> [u8; 55] {
        let mut value = *b"00-00000000000000000000000000000000-0000000000000000-00";
        // The lengths are fixed by the arrays: these cannot fail.
        let _ = hex::encode_to_slice(self.trace_id, &mut value[3..35]);
        let _ = hex::encode_to_slice(self.span_id, &mut value[36..52]);
        let _ = hex::encode_to_slice([self.flags], &mut value[53..55]);
        value
    }
}

/// A trace id, shown as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceId([u8; 16]);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = [0u8; 32];
        let _ = hex::encode_to_slice(self.0, &mut text);
        f.write_str(std::str::from_utf8(&text).unwrap_or_default())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.header_value();
        f.write_str(std::str::from_utf8(&value).unwrap_or_default())
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The sender's `tracestate` (its lines joined with commas), passed on when
/// its `traceparent` was continued and it is one the specification allows
/// (printable ASCII, at most 512 bytes).
pub fn tracestate(trace: &TraceParent, headers: &HeaderMap) -> Option<Vec<u8>> {
    if !trace.continued {
        return None;
    }
    let mut value = Vec::new();
    for line in headers.get_all("tracestate") {
        if !value.is_empty() {
            value.push(b',');
        }
        value.extend_from_slice(line.as_bytes());
    }
    (!value.is_empty() && value.len() <= 512 && value.iter().all(|b| (0x20..0x7f).contains(b)))
        .then_some(value)
}

/// A `traceparent` of version 00, or of a later version read as 00 (as the
/// specification asks); `None` for anything malformed or all-zero.
fn parse(value: &str) -> Option<Incoming> {
    let value = value.trim();
    let bytes = value.as_bytes();
    if bytes.len() < 55 || (bytes.len() > 55 && bytes[55] != b'-') {
        return None;
    }
    let lower_hex = |part: &[u8]| part.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let (version, trace, span, flags) =
        (&bytes[0..2], &bytes[3..35], &bytes[36..52], &bytes[53..55]);
    if [bytes[2], bytes[35], bytes[52]] != [b'-'; 3]
        || ![version, trace, span, flags].into_iter().all(lower_hex)
        || version == b"ff"
        || (version == b"00" && bytes.len() != 55)
    {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    let mut flag = [0u8; 1];
    hex::decode_to_slice(trace, &mut trace_id).ok()?;
    hex::decode_to_slice(span, &mut span_id).ok()?;
    hex::decode_to_slice(flags, &mut flag).ok()?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(Incoming {
        trace_id,
        span_id,
        flags: flag[0],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", value.parse().expect("value"));
        headers
    }

    #[test]
    fn a_senders_trace_is_continued_under_a_span_of_hookgates() {
        // The specification's example.
        let sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ours = TraceParent::continue_or_start(&with(sent));
        let text = ours.to_string();
        assert!(
            text.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{text}"
        );
        assert!(text.ends_with("-01"), "{text}");
        assert_ne!(&text[36..52], "00f067aa0ba902b7", "hookgate's own span");
        assert_eq!(
            ours.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // A later version is read as 00.
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra";
        assert_eq!(
            TraceParent::continue_or_start(&with(future))
                .trace_id()
                .to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }

    #[test]
    fn anything_malformed_starts_a_new_trace() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "garbage",
        ] {
            let ours = TraceParent::continue_or_start(&with(bad));
            let id = ours.trace_id().to_string();
            assert_ne!(id, "4bf92f3577b34da6a3ce929d0e0e4736", "{bad}");
            assert_ne!(id, "0".repeat(32), "{bad}");
            let text = ours.to_string();
            assert_eq!(text.len(), 55, "{text}");
            assert!(
                parse(&text).is_some(),
                "what hookgate writes parses: {text}"
            );
        }
        let a = TraceParent::continue_or_start(&HeaderMap::new());
        let b = TraceParent::continue_or_start(&HeaderMap::new());
        assert_ne!(a.trace_id(), b.trace_id());
    }

    #[test]
    fn tracestate_is_passed_on_only_with_its_trace_and_when_well_formed() {
        let mut headers = with("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
        headers.append("tracestate", "rojo=00f067aa0ba902b7".parse().expect("v"));
        headers.append("tracestate", "congo=t61rcWkgMzE".parse().expect("v"));
        let continued = TraceParent::continue_or_start(&headers);
        assert!(
            continued.to_string().ends_with("-01"),
            "unknown flags are not passed on"
        );
        assert_eq!(
            tracestate(&continued, &headers).as_deref(),
            Some(b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".as_slice())
        );
        let started = TraceParent::continue_or_start(&HeaderMap::new());
        assert_eq!(tracestate(&started, &headers), None, "not for a new trace");
        headers.insert("tracestate", "x".repeat(600).parse().expect("v"));
        assert_eq!(tracestate(&continued, &headers), None);
    }
}
