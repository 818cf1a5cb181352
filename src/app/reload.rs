//! What a reload (SIGHUP) may change while hookgate serves, and what only a
//! restart applies. Live: the sources (secrets, allowlists, rate limits,
//! topics, everything in `[[sources]]`), `server.trusted_proxies`,
//! `server.client_address_header` and the TLS certificate, key and handshake
//! deadline. The rest is bound into sockets, threads and Kafka clients made
//! at start-up.

use crate::config::{Config, ServerConfig};

/// The settings `new` changes that take effect only after a restart, each
/// named as in the file.
pub fn restart_needed(running: &Config, new: &Config) -> Vec<String> {
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
        ("tracing", running.tracing != new.tracing),
    ] {
        if changed {
            fields.push(section.to_owned());
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
        tracing: running.tracing.clone(),
        ..file.clone()
    }
}

fn server_fields(running: &ServerConfig, new: &ServerConfig) -> Vec<String> {
    // Compared setting by setting as the file spells them, so that a new
    // `[server]` setting waits for a restart unless `ServerConfig::LIVE`
    // names it.
    let (
        Ok(serde_json::Value::Object(running_settings)),
        Ok(serde_json::Value::Object(new_settings)),
    ) = (serde_json::to_value(running), serde_json::to_value(new))
    else {
        return vec!["server".to_owned()];
    };
    let mut fields: Vec<String> = new_settings
        .iter()
        .filter(|(name, value)| {
            !ServerConfig::LIVE.contains(&name.as_str())
                && running_settings.get(*name) != Some(value)
        })
        .map(|(name, _)| format!("server.{name}"))
        .collect();
    // The listener speaks TLS or not from its start; the material is live.
    if running.tls.is_some() != new.tls.is_some() {
        fields.push("server.tls".to_owned());
    }
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
