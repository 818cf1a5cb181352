//! What a reload (SIGHUP) may change while hookgate serves, and what only a
//! restart applies. Live: the sources (secrets, allowlists, rate limits,
//! topics, everything in `[[sources]]`), `server.trusted_proxies`,
//! `server.client_address_header` and the TLS certificate, key and handshake
//! deadline. The rest is bound into sockets, threads and Kafka clients made
//! at start-up.

use crate::config::{Config, ServerConfig};

/// The settings `new` changes that take effect only after a restart, each
/// named as in the file.
pub fn restart_needed(running: &Config, new: &Config) -> Vec<&'static str> {
    let mut fields = server_fields(&running.server, &new.server);
    for (section, changed) in [
        ("kafka", running.kafka != new.kafka),
        // The role may come from `serve --role` rather than the file.
        (
            "dedup",
            running.dedup
                != (crate::config::DedupConfig {
                    role: running.dedup.role,
                    ..new.dedup.clone()
                }),
        ),
        ("metrics", running.metrics != new.metrics),
        ("log", running.log != new.log),
    ] {
        if changed {
            fields.push(section);
        }
    }
    fields
}

/// What a reload runs with: the file's live settings (the sources,
/// `[quarantine]`, trusted proxies and TLS material) over the running ones;
/// everything else keeps its running value until a restart, whatever reads it.
pub fn applied(running: &Config, file: &Config) -> Config {
    Config {
        server: ServerConfig {
            tls: file.server.tls.clone(),
            trusted_proxies: file.server.trusted_proxies.clone(),
            client_address_header: file.server.client_address_header,
            ..running.server.clone()
        },
        kafka: running.kafka.clone(),
        dedup: running.dedup.clone(),
        metrics: running.metrics.clone(),
        log: running.log.clone(),
        ..file.clone()
    }
}

fn server_fields(running: &ServerConfig, new: &ServerConfig) -> Vec<&'static str> {
    // Taken apart field by field: a new `[server]` setting does not compile
    // until it is put on one side or the other here.
    let ServerConfig {
        listen,
        max_body_bytes,
        body_timeout,
        header_timeout,
        max_connections,
        max_connections_per_client,
        max_requests_in_flight,
        max_requests_in_flight_per_client,
        max_buffered_body_bytes,
        max_buffered_body_bytes_per_client,
        ipv6_client_prefix,
        idle_timeout,
        http2_max_concurrent_streams,
        max_header_bytes,
        max_headers,
        http2_keep_alive_interval,
        http2_keep_alive_timeout,
        http2_max_pending_resets,
        readiness_requires_kafka,
        shutdown_grace,
        workers,
        tls,
        trusted_proxies: _,
        client_address_header: _,
    } = new;
    let mut fields = Vec::new();
    let mut check = |name: &'static str, changed: bool| {
        if changed {
            fields.push(name);
        }
    };
    check("server.listen", *listen != running.listen);
    check(
        "server.max_body_bytes",
        *max_body_bytes != running.max_body_bytes,
    );
    check("server.body_timeout", *body_timeout != running.body_timeout);
    check(
        "server.header_timeout",
        *header_timeout != running.header_timeout,
    );
    check(
        "server.max_connections",
        *max_connections != running.max_connections,
    );
    check(
        "server.max_connections_per_client",
        *max_connections_per_client != running.max_connections_per_client,
    );
    check(
        "server.max_requests_in_flight",
        *max_requests_in_flight != running.max_requests_in_flight,
    );
    check(
        "server.max_requests_in_flight_per_client",
        *max_requests_in_flight_per_client != running.max_requests_in_flight_per_client,
    );
    check(
        "server.max_buffered_body_bytes",
        *max_buffered_body_bytes != running.max_buffered_body_bytes,
    );
    check(
        "server.max_buffered_body_bytes_per_client",
        *max_buffered_body_bytes_per_client != running.max_buffered_body_bytes_per_client,
    );
    check(
        "server.ipv6_client_prefix",
        *ipv6_client_prefix != running.ipv6_client_prefix,
    );
    check("server.idle_timeout", *idle_timeout != running.idle_timeout);
    check(
        "server.http2_max_concurrent_streams",
        *http2_max_concurrent_streams != running.http2_max_concurrent_streams,
    );
    check(
        "server.max_header_bytes",
        *max_header_bytes != running.max_header_bytes,
    );
    check("server.max_headers", *max_headers != running.max_headers);
    check(
        "server.http2_keep_alive_interval",
        *http2_keep_alive_interval != running.http2_keep_alive_interval,
    );
    check(
        "server.http2_keep_alive_timeout",
        *http2_keep_alive_timeout != running.http2_keep_alive_timeout,
    );
    check(
        "server.http2_max_pending_resets",
        *http2_max_pending_resets != running.http2_max_pending_resets,
    );
    check(
        "server.readiness_requires_kafka",
        *readiness_requires_kafka != running.readiness_requires_kafka,
    );
    check(
        "server.shutdown_grace",
        *shutdown_grace != running.shutdown_grace,
    );
    check("server.workers", *workers != running.workers);
    // The listener speaks TLS or not from its start; the material is live.
    check("server.tls", tls.is_some() != running.tls.is_some());
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[server]
listen = "127.0.0.1:8080"
[kafka]
brokers = "localhost:9092"
[[sources]]
name = "github"
path = "/github"
verifier = "github"
secrets = ["env:A"]
topic = "github"
"#;

    fn parse(text: &str) -> Config {
        Config::parse(text).expect("config")
    }

    #[test]
    fn sources_proxies_and_tls_material_are_live_and_the_rest_is_named() {
        let running = parse(BASE);
        let live = parse(&BASE.replace(
            "[kafka]",
            "trusted_proxies = [\"10.0.0.0/8\"]\nclient_address_header = \"forwarded\"\n[kafka]",
        )
        .replace("secrets = [\"env:A\"]", "secrets = [\"env:A\", \"env:B\"]\nallow = [\"192.30.252.0/22\"]\nrate_limit = { per_second = 5 }"));
        assert_eq!(restart_needed(&running, &live), Vec::<&str>::new());

        let moved = parse(
            &BASE
                .replace("8080", "9090")
                .replace("localhost:9092", "kafka:9092")
                .replace("[kafka]", "max_connections = 5\n[kafka]"),
        );
        assert_eq!(
            restart_needed(&running, &moved),
            ["server.listen", "server.max_connections", "kafka"]
        );

        let with_tls = parse(&BASE.replace(
            "[kafka]",
            "[server.tls]\ncertificate = \"a.crt\"\nkey = \"a.key\"\n[kafka]",
        ));
        assert_eq!(restart_needed(&running, &with_tls), ["server.tls"]);
        let other_files = parse(&BASE.replace(
            "[kafka]",
            "[server.tls]\ncertificate = \"b.crt\"\nkey = \"b.key\"\nhandshake_timeout = \"3s\"\n[kafka]",
        ));
        assert_eq!(restart_needed(&with_tls, &other_files), Vec::<&str>::new());

        // What runs: the file's live settings, the rest as it ran.
        let runs = applied(&running, &moved);
        assert_eq!(runs.server.listen, running.server.listen);
        assert_eq!(runs.server.max_connections, running.server.max_connections);
        assert_eq!(runs.kafka.brokers, "localhost:9092");
        let runs = applied(&running, &live);
        assert_eq!(runs.server.trusted_proxies, live.server.trusted_proxies);
        assert_eq!(runs.sources[0].secrets.len(), 2);
        assert!(runs.sources[0].allow.is_some());
    }
}
