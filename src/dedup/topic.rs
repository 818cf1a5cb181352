//! The dedup topic itself: created at start-up when missing, with compaction
//! (one record per event id) and deletion after the dedup window (ids age out);
//! when it already exists with other settings, a warning says what differs.

use rdkafka::ClientConfig;
use rdkafka::admin::ResourceSpecifier;
use rdkafka::error::KafkaError;

use crate::config::DedupConfig;
use crate::kafka::{self, TopicSpec, TopicState};

/// Why the dedup topic could not be created or checked.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("cannot reach Kafka to create or check dedup topic {topic}: {}", crate::kafka::redacted(.source))]
    Unreachable { topic: String, source: KafkaError },
    #[error("Kafka refused to create dedup topic {topic}: {why}")]
    Refused { topic: String, why: String },
}

/// What hookgate did about the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    Created,
    /// It existed; these settings differ from what hookgate would have set.
    Existed {
        differences: Vec<String>,
    },
}

/// The topic settings the dedup window needs.
pub fn settings(config: &DedupConfig) -> [(&'static str, String); 2] {
    [
        ("cleanup.policy", "compact,delete".to_owned()),
        ("retention.ms", config.window.as_millis().to_string()),
    ]
}

/// Creates the intake topic, or checks the one that exists; it has as many
/// partitions as the dedup topic, one owner each.
pub async fn ensure_intake(
    client: &ClientConfig,
    config: &DedupConfig,
) -> Result<Ensured, TopicError> {
    let intake = DedupConfig {
        topic: config.intake_topic.clone(),
        ..config.clone()
    };
    ensure_with(
        client,
        &intake,
        &[
            ("cleanup.policy", "delete".to_owned()),
            (
                "retention.ms",
                config.intake_retention.as_millis().to_string(),
            ),
        ],
    )
    .await
}

/// Creates the dedup topic, or checks the one that exists.
pub async fn ensure(client: &ClientConfig, config: &DedupConfig) -> Result<Ensured, TopicError> {
    ensure_with(client, config, &settings(config)).await
}

/// Creates `config.topic` with `wanted`, or checks the one that exists.
async fn ensure_with(
    client: &ClientConfig,
    config: &DedupConfig,
    wanted: &[(&'static str, String)],
) -> Result<Ensured, TopicError> {
    let topic = config.topic.as_str();
    let unreachable = |source| TopicError::Unreachable {
        topic: topic.to_owned(),
        source,
    };
    let admin = kafka::admin(client).map_err(unreachable)?;
    let spec = TopicSpec {
        name: topic,
        partitions: config.partitions,
        replication_factor: config.replication_factor,
        configs: wanted,
    };
    // Short: until Kafka answers, readiness reports why, and the sooner the better.
    let options = kafka::admin_options(std::time::Duration::from_secs(5));
    let created = kafka::create_topics(&admin, &[spec], &options)
        .await
        .map_err(unreachable)?;
    match created.into_iter().next().map(|(_, state)| state) {
        Some(TopicState::Created) => return Ok(Ensured::Created),
        Some(TopicState::Existed) => {}
        Some(TopicState::Failed(why)) => {
            return Err(TopicError::Refused {
                topic: topic.to_owned(),
                why,
            });
        }
        None => {
            return Err(TopicError::Refused {
                topic: topic.to_owned(),
                why: "no answer for the topic".into(),
            });
        }
    }
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
        .await
        .map_err(unreachable)?;
    let actual: Vec<(String, Option<String>)> = match described.into_iter().next() {
        Some(Ok(resource)) => resource
            .entries
            .into_iter()
            .map(|entry| (entry.name, entry.value))
            .collect(),
        Some(Err(code)) => {
            return Ok(Ensured::Existed {
                differences: vec![format!("its configuration could not be read: {code}")],
            });
        }
        None => Vec::new(),
    };
    Ok(Ensured::Existed {
        differences: kafka::config_differences(wanted, &actual),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn actual(pairs: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn the_settings_follow_the_window() {
        let config = DedupConfig {
            window: Duration::from_secs(3600),
            ..DedupConfig::default()
        };
        assert_eq!(
            settings(&config),
            [
                ("cleanup.policy", "compact,delete".to_owned()),
                ("retention.ms", "3600000".to_owned())
            ]
        );
    }

    #[test]
    fn differences_name_each_setting_and_both_values() {
        let wanted = settings(&DedupConfig {
            window: Duration::from_secs(60),
            ..DedupConfig::default()
        });
        let good = actual(&[
            ("cleanup.policy", Some("delete, compact")),
            ("retention.ms", Some("60000")),
            ("segment.ms", Some("1")),
        ]);
        assert!(kafka::config_differences(&wanted, &good).is_empty());
        let bad = actual(&[("cleanup.policy", Some("delete")), ("retention.ms", None)]);
        assert_eq!(
            kafka::config_differences(&wanted, &bad),
            [
                "cleanup.policy is delete, not compact,delete",
                "retention.ms is unset, not 60000"
            ]
        );
    }
}
