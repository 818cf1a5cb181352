//! Who sent a request: the address on the socket, or, when that socket is a
//! trusted proxy's, the address the proxy wrote into `X-Forwarded-For` or
//! `Forwarded`; and the address sets (CIDR ranges, v4 and v6) that source
//! allowlists and `server.trusted_proxies` are written as.
//!
//! Forwarding headers are the client's to write: a proxy appends the address
//! it saw to whatever the client sent. So the list is read from the right,
//! skipping hops that are trusted proxies, and the first hop that is not one
//! is the client. Only the one header the proxies are configured to write is
//! read: reading both would let a client put any address in the other.
//!
//! Limits per client count a [`ClientKey`]: an IPv4 address, or an IPv6
//! network of `server.ipv6_client_prefix` bits, since one IPv6 host is
//! usually given a whole /64 and could otherwise pass for 2^64 clients.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// One CIDR range (`192.30.252.0/22`, `2a0a:a440::/29`) or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = if text.contains('/') {
            // Host bits set (`192.30.252.1/22`) name the same range.
            IpNet::from_str(text).map(|net| net.trunc()).ok()
        } else {
            IpAddr::from_str(text).map(IpNet::from).ok()
        };
        parsed.map(Self).ok_or_else(|| {
            format!(
                "{text:?} is not an address or a CIDR range (\"192.30.252.0/22\", \"2a0a:a440::/29\", \"3.18.12.63\")"
            )
        })
    }
}

/// Addresses in any of several ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpSet(Vec<IpNet>);

impl IpSet {
    pub fn new(ranges: impl IntoIterator<Item = Cidr>) -> Self {
        Self(ranges.into_iter().map(|Cidr(net)| net).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `ip` is in one of the ranges; an IPv4 address seen on a
    /// dual-stack socket (`::ffff:192.30.252.1`) is the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The header trusted proxies write the client's address to.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`: what most load balancers write.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// The request's client, as far as hookgate can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAddr {
    /// Its address: the socket's, or the one a trusted proxy gave.
    Known(IpAddr),
    /// A trusted proxy forwarded it with an address hookgate cannot read
    /// (`for=unknown`, an obfuscated name, garbage): it is on no allowlist.
    Unreadable { proxy: IpAddr },
    /// Not from a socket (a request handed to the pipeline in-process).
    Absent,
}

impl ClientAddr {
    pub fn ip(self) -> Option<IpAddr> {
        match self {
            Self::Known(ip) => Some(ip),
            Self::Unreadable { .. } | Self::Absent => None,
        }
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Known(ip) => fmt::Display::fmt(&ip.to_canonical(), f),
            Self::Unreadable { proxy } => write!(f, "unreadable (via {})", proxy.to_canonical()),
            Self::Absent => f.write_str("-"),
        }
    }
}

/// Who a limit per client counts: an IPv4 address (IPv4-mapped IPv6
/// included), an IPv6 network of the configured prefix, or every request
/// whose client hookgate cannot tell, together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    Ip(IpAddr),
    Unknown,
}

/// The IPv6 prefix that counts as one client unless configured otherwise:
/// what one subscriber, host or cloud instance is usually given.
pub const DEFAULT_IPV6_CLIENT_PREFIX: u8 = 64;

impl ClientKey {
    /// The key of `ip`, an IPv6 address cut to its first `ipv6_prefix` bits.
    pub fn of_ip(ip: IpAddr, ipv6_prefix: u8) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::Ip(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let bits = u32::from(ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                Self::Ip(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)))
            }
        }
    }

    /// The key of a request's client.
    pub fn of(client: ClientAddr, ipv6_prefix: u8) -> Self {
        match client {
            ClientAddr::Known(ip) => Self::of_ip(ip, ipv6_prefix),
            ClientAddr::Unreadable { .. } | ClientAddr::Absent => Self::Unknown,
        }
    }
}

/// The socket address of a request's connection, put in the request's
/// extensions by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// `server.trusted_proxies` and the header they write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    proxies: IpSet,
    header: ForwardedHeader,
}

impl TrustedProxies {
    pub fn new(proxies: IpSet, header: ForwardedHeader) -> Self {
        Self { proxies, header }
    }

    /// Whether `peer` is one of the trusted proxies.
    pub fn trusts(&self, peer: Option<Peer>) -> bool {
        peer.is_some_and(|Peer(peer)| self.proxies.contains(peer.ip()))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: Option<Peer>, headers: &HeaderMap) -> ClientAddr {
        let Some(Peer(peer)) = peer else {
            return ClientAddr::Absent;
        };
        let peer = peer.ip().to_canonical();
        if !self.proxies.contains(peer) {
            return ClientAddr::Known(peer);
        }
        let name = match self.header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        };
        // Every line of the header as one list, read from its end.
        let hops = headers
            .get_all(name)
            .iter()
            .rev()
            .flat_map(|value| value.to_str().unwrap_or("\u{0}").rsplit(','))
            .map(str::trim);
        // With no header the proxy itself is the client (a health check).
        let mut client = ClientAddr::Known(peer);
        for hop in hops {
            let address = match self.header {
                ForwardedHeader::XForwardedFor => parse_node(hop),
                ForwardedHeader::Forwarded => forwarded_for(hop).and_then(parse_node),
            };
            let Some(ip) = address else {
                return ClientAddr::Unreadable { proxy: peer };
            };
            client = ClientAddr::Known(ip.to_canonical());
            if !self.proxies.contains(ip) {
                return client;
            }
        }
        // Every hop a trusted proxy: the left-most is where it began.
        client
    }
}

/// The `for=` of one `Forwarded` element (`for=192.0.2.60;proto=https`).
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// An address as proxies write it: `192.0.2.60`, `192.0.2.60:4711`,
/// `2001:db8::17` or `[2001:db8::17]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        let (v6, _port) = rest.split_once(']')?;
        return v6.parse().ok();
    }
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    let (v4, port) = node.split_once(':')?;
    port.parse::<u16>().ok()?;
    v4.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[&str]) -> IpSet {
        IpSet::new(ranges.iter().map(|r| r.parse::<Cidr>().expect("range")))
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        headers
    }

    fn peer(ip: &str) -> Option<Peer> {
        Some(Peer(SocketAddr::new(ip.parse().expect("ip"), 40000)))
    }

    fn known(ip: &str) -> ClientAddr {
        ClientAddr::Known(ip.parse().expect("ip"))
    }

    #[test]
    fn ranges_and_single_addresses_of_both_families() {
        let github = set(&["192.30.252.0/22", "2a0a:a440::/29", "3.18.12.63"]);
        for inside in [
            "192.30.252.1",
            "192.30.255.254",
            "2a0a:a440::1",
            "3.18.12.63",
        ] {
            assert!(github.contains(inside.parse().expect("ip")), "{inside}");
        }
        for outside in ["192.30.251.255", "192.30.0.1", "2a0a:a448::1", "3.18.12.64"] {
            assert!(!github.contains(outside.parse().expect("ip")), "{outside}");
        }
        // A dual-stack socket reports IPv4 clients as mapped IPv6 addresses.
        assert!(github.contains("::ffff:192.30.252.7".parse().expect("ip")));
        // Host bits set name the same range.
        assert_eq!(
            "192.30.252.9/22".parse::<Cidr>(),
            "192.30.252.0/22".parse::<Cidr>()
        );
        for bad in ["192.30.252.0/33", "github", "", "1.2.3", "::1/129"] {
            let err = bad.parse::<Cidr>().expect_err(bad);
            assert!(err.contains("CIDR"), "{err}");
        }
    }

    #[test]
    fn without_trusted_proxies_forwarding_headers_are_ignored() {
        let none = TrustedProxies::default();
        let forged = headers("x-forwarded-for", &["192.30.252.1"]);
        assert_eq!(
            none.client(peer("203.0.113.9"), &forged),
            known("203.0.113.9")
        );
        assert_eq!(none.client(None, &forged), ClientAddr::Absent);
    }

    #[test]
    fn the_right_most_hop_that_is_not_a_trusted_proxy_is_the_client() {
        let proxies = TrustedProxies::new(set(&["10.0.0.0/8"]), ForwardedHeader::XForwardedFor);
        // The client wrote the first entry itself; the proxy appended the
        // address it saw.
        let spoofed = headers("x-forwarded-for", &["192.30.252.1, 203.0.113.9"]);
        assert_eq!(
            proxies.client(peer("10.1.2.3"), &spoofed),
            known("203.0.113.9")
        );
        // Two proxies in a row, on two header lines, with ports.
        let chain = headers(
            "x-forwarded-for",
            &["198.51.100.7:5000", "10.9.9.9, 10.1.1.1"],
        );
        assert_eq!(
            proxies.client(peer("10.1.2.3"), &chain),
            known("198.51.100.7")
        );
        // A peer that is not a proxy is the client, whatever it wrote.
        assert_eq!(
            proxies.client(peer("203.0.113.9"), &spoofed),
            known("203.0.113.9")
        );
        // Only the configured header is read.
        let other = headers("forwarded", &["for=192.30.252.1"]);
        assert_eq!(proxies.client(peer("10.1.2.3"), &other), known("10.1.2.3"));
        // Every hop trusted: the left-most.
        let internal = headers("x-forwarded-for", &["10.5.5.5, 10.6.6.6"]);
        assert_eq!(
            proxies.client(peer("10.1.2.3"), &internal),
            known("10.5.5.5")
        );
        // An address the proxy could not give is nobody's.
        let garbage = headers("x-forwarded-for", &["192.30.252.1, nonsense"]);
        assert_eq!(
            proxies.client(peer("10.1.2.3"), &garbage),
            ClientAddr::Unreadable {
                proxy: "10.1.2.3".parse().expect("ip")
            }
        );
    }

    #[test]
    fn rfc_7239_forwarded_elements() {
        let proxies =
            TrustedProxies::new(set(&["10.0.0.0/8", "fd00::/8"]), ForwardedHeader::Forwarded);
        let value = r#"for=192.30.252.1, For="[2001:db8:cafe::17]:4711";proto=https, for=10.2.2.2;by=10.1.1.1"#;
        assert_eq!(
            proxies.client(peer("fd00::1"), &headers("forwarded", &[value])),
            known("2001:db8:cafe::17")
        );
        let unknown = headers("forwarded", &["for=unknown"]);
        assert!(matches!(
            proxies.client(peer("10.1.2.3"), &unknown),
            ClientAddr::Unreadable { .. }
        ));
        // X-Forwarded-For is the client's to write here.
        let xff = headers("x-forwarded-for", &["192.30.252.1"]);
        assert_eq!(proxies.client(peer("10.1.2.3"), &xff), known("10.1.2.3"));
    }

    #[test]
    fn a_mapped_ipv4_peer_is_matched_and_shown_as_ipv4() {
        let proxies = TrustedProxies::new(set(&["10.0.0.0/8"]), ForwardedHeader::XForwardedFor);
        let client = proxies.client(
            peer("::ffff:10.1.2.3"),
            &headers("x-forwarded-for", &["::ffff:203.0.113.9"]),
        );
        assert_eq!(client, known("203.0.113.9"));
        assert_eq!(client.to_string(), "203.0.113.9");
    }

    #[test]
    fn a_client_key_is_an_ipv4_address_or_an_ipv6_network() {
        let key = |ip: &str, prefix| ClientKey::of_ip(ip.parse().expect("ip"), prefix);
        assert_eq!(key("2001:db8:1:2:3:4:5:6", 64), key("2001:db8:1:2::", 128));
        assert_eq!(key("2001:db8:1:2:3:4:5:6", 48), key("2001:db8:1::", 128));
        assert_ne!(key("2001:db8:1:2::1", 128), key("2001:db8:1:2::2", 128));
        assert_eq!(key("::ffff:192.0.2.1", 64), key("192.0.2.1", 64));
        assert_ne!(key("192.0.2.1", 64), key("192.0.2.2", 64));
        assert_eq!(
            ClientKey::of(ClientAddr::Absent, 64),
            ClientKey::of(
                ClientAddr::Unreadable {
                    proxy: "10.0.0.1".parse().expect("ip")
                },
                64
            )
        );
    }
}
