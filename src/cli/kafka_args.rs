//! The arguments by which a tool that reads Kafka (`tail`, `forward`) finds
//! the cluster: the gateway's own file, or brokers and properties given here.

use std::path::PathBuf;

use hookgate::config::Config;

/// Where a tool that reads Kafka finds the cluster: the gateway's own
/// settings, so it reaches a cluster with TLS or SASL as the gateway does.
#[derive(Debug, clap::Args)]
pub(crate) struct KafkaArgs {
    /// Bootstrap servers, host:port[,host:port…]; the config file's
    /// `[kafka] brokers` if absent.
    #[arg(long, required_unless_present = "config")]
    pub brokers: Option<String>,
    /// The gateway's TOML config: its `[kafka] brokers` and `[kafka.client]`
    /// properties (TLS, SASL; `env:` and `file:` values read as the gateway
    /// reads them).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// A librdkafka property over the config's, such as
    /// `security.protocol=sasl_ssl`; a value `env:NAME` or `file:PATH` is read
    /// from there. Repeatable.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
}

impl KafkaArgs {
    /// The client settings these arguments give.
    pub(crate) fn client(&self) -> Result<rdkafka::ClientConfig, String> {
        let (mut client, brokers) = match &self.config {
            Some(path) => {
                let config = Config::load(path).map_err(|err| err.to_string())?;
                let client = hookgate::kafka::client_config(&config.kafka, &config.kafka.brokers);
                (client, Some(config.kafka.brokers))
            }
            None => (rdkafka::ClientConfig::new(), None),
        };
        for (key, value) in resolve_properties(&self.properties)? {
            client.set(key, value);
        }
        match self.brokers.clone().or(brokers) {
            Some(brokers) => client.set("bootstrap.servers", brokers),
            None => return Err("give --brokers or --config".into()),
        };
        Ok(client)
    }

    /// The bootstrap servers, for messages.
    pub(crate) fn brokers(client: &rdkafka::ClientConfig) -> &str {
        client.get("bootstrap.servers").unwrap_or("?")
    }
}

/// `--kafka-property` values, each `env:NAME` or `file:PATH` read from
/// there; an error names the property, never a value.
pub(crate) fn resolve_properties(
    properties: &[(String, String)],
) -> Result<Vec<(String, String)>, String> {
    properties
        .iter()
        .map(|(key, value)| {
            hookgate::config::secret::resolve_setting(value, std::path::Path::new("."))
                .map(|value| (key.clone(), value))
                .map_err(|err| format!("--kafka-property {key}: {err}"))
        })
        .collect()
}

/// `KEY=VALUE`, split at the first `=`.
pub(crate) fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}
