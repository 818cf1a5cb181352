//! Ports for brokers and gateways that the test picks before they listen.

use std::sync::atomic::{AtomicU64, Ordering};

/// A port for a broker or gateway to listen on a moment later.
///
/// The port is taken below the kernel's ephemeral range, from which every
/// outgoing connection of the suite gets its own port: one taken there could
/// be another test's connection by the time its broker or gateway binds it.
/// One test process never hands out the same port twice (where that range
/// starts too low to leave room below it, the kernel picks the port).
pub fn free_port() -> u16 {
    const LOWEST: u64 = 20_000;
    static HANDED_OUT: AtomicU64 = AtomicU64::new(0);
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(32_768);
    if ephemeral_start < LOWEST + 1_000 {
        return std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
    }
    let span = ephemeral_start - LOWEST;
    // Test processes that run at once start at different places.
    let start = u64::from(std::process::id()) * 7_919 % span;
    for _ in 0..span {
        let n = HANDED_OUT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(LOWEST + (start + n) % span).expect("below 65536");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOWEST} and {ephemeral_start}")
}
