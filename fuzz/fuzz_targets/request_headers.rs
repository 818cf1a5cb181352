//! The readers of request headers every request goes through before its
//! signature: the client address behind trusted proxies (`X-Forwarded-For`
//! and RFC 7239 `Forwarded`) and W3C trace context (`traceparent`,
//! `tracestate`). The input is `name: value` lines. Nothing may panic, a
//! client address is always in its canonical form (an IPv4-mapped IPv6
//! address as IPv4, as allowlists match it), a request without a forwarding
//! header is the proxy's own, the `traceparent` hookgate writes is one the
//! next hop continues, and the `tracestate` passed on is one the W3C
//! specification allows.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;

use hookgate::pipeline::client_addr::{Cidr, ClientAddr, ForwardedHeader, IpSet, Peer, TrustedProxies};
use hookgate::pipeline::trace::{self, TraceParent};
use libfuzzer_sys::fuzz_target;

mod shared;

/// Proxies on loopback and a private range, trusted through either header.
fn proxies() -> &'static [TrustedProxies; 2] {
    static PROXIES: OnceLock<[TrustedProxies; 2]> = OnceLock::new();
    PROXIES.get_or_init(|| {
        let set = || {
            IpSet::new(
                ["127.0.0.0/8", "10.0.0.0/8", "::1/128"]
                    .iter()
                    .filter_map(|range| range.parse::<Cidr>().ok()),
            )
        };
        [
            TrustedProxies::new(set(), ForwardedHeader::XForwardedFor),
            TrustedProxies::new(set(), ForwardedHeader::Forwarded),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let (headers, _query) = shared::request_head(data);
    let proxy = Peer(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40_000));
    for (proxies, header) in proxies().iter().zip(["x-forwarded-for", "forwarded"]) {
        match proxies.client(Some(proxy), &headers) {
            ClientAddr::Known(ip) => assert_eq!(ip, ip.to_canonical()),
            ClientAddr::Unreadable { .. } => assert!(headers.contains_key(header)),
            ClientAddr::Absent => panic!("a request from a socket has a client"),
        }
        if !headers.contains_key(header) {
            assert_eq!(
                proxies.client(Some(proxy), &headers),
                ClientAddr::Known(IpAddr::V4(Ipv4Addr::LOCALHOST))
            );
        }
    }
    // What hookgate writes on the record is a traceparent the next hop (or
    // hookgate itself) continues: same trace, never one it would refuse.
    let trace = TraceParent::continue_or_start(&headers);
    let mut next_hop = http::HeaderMap::new();
    next_hop.insert(
        "traceparent",
        http::HeaderValue::from_bytes(&trace.header_value()).expect("printable"),
    );
    let continued = TraceParent::continue_or_start(&next_hop);
    assert_eq!(continued.trace_id(), trace.trace_id());
    if let Some(state) = trace::tracestate(&trace, &headers) {
        assert!(state.len() <= 512 && state.iter().all(|b| (0x20..0x7f).contains(b)));
    }
});
