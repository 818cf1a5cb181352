//! The config file a test gateway reads.

use std::net::SocketAddr;

use super::GatewayBuilder;

/// The config of a gateway in this process: small body limits and a short
/// body timeout that tests reach quickly, no metrics port (one recorder per
/// process).
pub(super) fn in_process(gateway: &GatewayBuilder) -> String {
    format!(
        "[server]\nmax_body_bytes = 65536\nbody_timeout = \"2s\"\n{}\n\
         [kafka]\nbrokers = \"{}\"\nproduce_timeout = \"{}ms\"\nretry_after = \"3s\"\n{}\n\
         [metrics]\nenabled = false\n{}",
        gateway.server,
        gateway.brokers,
        gateway.produce_timeout.as_millis(),
        gateway.kafka,
        gateway.rest()
    )
}

/// The config file of a gateway process listening on `addr`, with its
/// metrics on `metrics`.
pub(super) fn process(gateway: &GatewayBuilder, addr: SocketAddr, metrics: SocketAddr) -> String {
    format!(
        "[server]\nlisten = \"{addr}\"\n{}\n\
         [kafka]\nbrokers = \"{}\"\nproduce_timeout = \"{}ms\"\nretry_after = \"3s\"\n{}\n\
         [metrics]\nlisten = \"{metrics}\"\n{}",
        gateway.server,
        gateway.brokers,
        gateway.produce_timeout.as_millis(),
        gateway.kafka,
        gateway.rest()
    )
}

/// `extra` with the dedup stage's topics and group named after the test's
/// first event topic, unless `extra` names them: tests share one Apache
/// Kafka broker, and replicas of one test (the same `sources`) share these.
pub fn with_own_dedup_topics(extra: &str, sources: &str) -> String {
    let Some(events) = sources
        .lines()
        .find_map(|line| line.trim().strip_prefix("topic = \""))
        .and_then(|rest| rest.split('"').next())
    else {
        return extra.to_owned();
    };
    // A routed source's topic is a template (`webhooks.{event}`).
    let events: String = events.chars().filter(|c| !matches!(c, '{' | '}')).collect();
    let mut own = String::new();
    for (key, suffix) in [
        ("topic", "dedup"),
        ("intake_topic", "intake"),
        ("group", "stage"),
    ] {
        let named = extra
            .lines()
            .any(|line| line.trim_start().starts_with(&format!("{key} =")));
        if !named {
            own.push_str(&format!("{key} = \"{events}.{suffix}\"\n"));
        }
    }
    match extra.find("[dedup]\n") {
        Some(at) => {
            let (before, after) = extra.split_at(at + "[dedup]\n".len());
            format!("{before}{own}{after}")
        }
        None => format!("{extra}\n[dedup]\n{own}"),
    }
}
