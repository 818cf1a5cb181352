//! What the targets share: reading arbitrary bytes as a request's head.

use http::{HeaderMap, HeaderName, HeaderValue};

/// `name: value` lines as headers, skipping lines that are not one, and a
/// line `?…` as the query string.
pub fn request_head(head: &[u8]) -> (HeaderMap, Option<&str>) {
    let mut headers = HeaderMap::new();
    let mut query = None;
    for line in head.split(|&b| b == b'\n') {
        if let Some(q) = line.strip_prefix(b"?") {
            query = std::str::from_utf8(q).ok();
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) {
            headers.append(name, value);
        }
    }
    (headers, query)
}
