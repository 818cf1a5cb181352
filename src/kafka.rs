//! What every Kafka client hookgate makes shares: where the cluster is, who is
//! calling, and the operator's `[kafka.client]` properties (TLS, SASL, …).

use rdkafka::ClientConfig;

use crate::config::KafkaConfig;

/// The base settings of the event producer, the dedup topic's producer and
/// consumer, and the admin client.
pub fn client_config(config: &KafkaConfig, bootstrap_servers: &str) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("client.id", &config.client_id)
        // Come back quickly after a broker restart: providers are retrying.
        .set("reconnect.backoff.max.ms", "1000");
    for (key, value) in &config.client {
        client.set(key, value);
    }
    client.set("bootstrap.servers", bootstrap_servers);
    client
}
