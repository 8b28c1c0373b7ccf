//! Topic configs by their Kafka names, turned into the log's settings.

use std::collections::BTreeMap;
use std::time::Duration;

use flyq_log::{FlushPolicy, LogConfig};

use crate::error::{BrokerError, Result};

/// A topic's config overrides, by Kafka name (`retention.ms`, ...).
pub type TopicConfigs = BTreeMap<String, String>;

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value.parse().map_err(|_| BrokerError::InvalidConfig {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: "not a number in range".into(),
    })
}

/// Kafka's "-1 means unlimited" for durations in ms.
fn millis(key: &str, value: &str) -> Result<Option<Duration>> {
    let ms: i64 = parse(key, value)?;
    match ms {
        -1 => Ok(None),
        ms if ms >= 0 => Ok(Some(Duration::from_millis(ms as u64))),
        _ => Err(BrokerError::InvalidConfig {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: "must be -1 or a non-negative number of milliseconds".into(),
        }),
    }
}

/// The log settings for a topic: the broker's defaults with the topic's overrides applied.
pub fn log_config_for(defaults: &LogConfig, configs: &TopicConfigs) -> Result<LogConfig> {
    let mut config = defaults.clone();
    for (key, value) in configs {
        match key.as_str() {
            "retention.ms" => config.retention_ms = millis(key, value)?,
            "retention.bytes" => {
                let bytes: i64 = parse(key, value)?;
                config.retention_bytes = (bytes >= 0).then_some(bytes as u64);
            }
            "segment.bytes" => config.segment_bytes = parse(key, value)?,
            "segment.ms" => config.segment_ms = millis(key, value)?,
            "index.interval.bytes" => config.index_interval_bytes = parse(key, value)?,
            "max.message.bytes" => config.max_batch_bytes = parse(key, value)?,
            "flush.messages" => {
                // Kafka's range: at least 1; its default, i64::MAX, means "never by count".
                let n: i64 = parse(key, value)?;
                if n < 1 {
                    return Err(BrokerError::InvalidConfig {
                        key: key.clone(),
                        value: value.clone(),
                        reason: "must be at least 1".into(),
                    });
                }
                config.flush.messages = (n < i64::MAX).then_some(n as u64);
            }
            "flush.ms" => {
                let interval = millis(key, value)?;
                config.flush = FlushPolicy {
                    interval: interval.filter(|d| d.as_millis() < i64::MAX as u128),
                    ..config.flush
                };
            }
            "cleanup.policy" if value == "delete" => {}
            "min.insync.replicas" => {
                let n: i32 = parse(key, value)?;
                if n < 1 {
                    return Err(BrokerError::InvalidConfig {
                        key: key.clone(),
                        value: value.clone(),
                        reason: "must be at least 1".into(),
                    });
                }
            }
            _ => {
                return Err(BrokerError::InvalidConfig {
                    key: key.clone(),
                    value: value.clone(),
                    reason: "unknown or unsupported topic config".into(),
                });
            }
        }
    }
    config
        .validate()
        .map_err(|reason| BrokerError::InvalidConfig {
            key: "(combined)".into(),
            value: String::new(),
            reason,
        })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> TopicConfigs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kafka_names_map_to_log_settings() {
        let c = log_config_for(
            &LogConfig::default(),
            &configs(&[
                ("retention.ms", "60000"),
                ("segment.bytes", "1048576"),
                ("flush.messages", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.retention_ms, Some(Duration::from_secs(60)));
        assert_eq!(c.segment_bytes, 1 << 20);
        assert_eq!(c.flush.messages, Some(1));
        let c = log_config_for(&LogConfig::default(), &configs(&[("retention.ms", "-1")])).unwrap();
        assert_eq!(c.retention_ms, None);
    }

    #[test]
    fn bad_keys_and_values_name_the_key() {
        for (k, v) in [
            ("retention.ms", "soon"),
            ("cleanup.policy", "compact"),
            ("no.such", "1"),
            ("segment.bytes", "10"),
        ] {
            let err = log_config_for(&LogConfig::default(), &configs(&[(k, v)])).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(k) || text.contains("segment.bytes"), "{text}");
        }
    }
}
