//! `[topic_defaults]`: the broker's default for every topic config, under its Kafka name.
//!
//! The keys, their defaults and their checks are the broker's registry
//! ([`flyq_broker::topic_config::KEYS`]); this module only translates between the registry's
//! Kafka-format values (`604800000`, `-1`) and the config file's human units (`"7days"`,
//! `"unlimited"`, `"1GiB"`).

use std::collections::BTreeMap;
use std::time::Duration;

use flyq_broker::TopicConfigs;
use flyq_broker::topic_config::{self, ConfigKey, ConfigType, Unit};
use std::fmt;

use serde::de::{DeserializeSeed, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::units::{Size, Span};

/// The value of every topic config key, in Kafka's format (complete: keys the file does not set
/// hold FlyQ's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDefaults(TopicConfigs);

impl Default for TopicDefaults {
    fn default() -> Self {
        Self(
            topic_config::KEYS
                .iter()
                .map(|k| (k.name.to_owned(), k.default_value()))
                .collect(),
        )
    }
}

impl TopicDefaults {
    /// The value of `name` in Kafka's format.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The keys whose value differs from FlyQ's built-in default: the broker's own layer of
    /// topic configs (DescribeConfigs reports them as broker settings).
    pub fn overrides(&self) -> TopicConfigs {
        self.0
            .iter()
            .filter(|(name, value)| {
                topic_config::key(name).is_none_or(|k| k.default_value() != **value)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A Kafka-format value in the file's units.
fn render(key: &ConfigKey, value: &str) -> toml::Value {
    if key.unlimited == Some(value) {
        return toml::Value::String("unlimited".into());
    }
    let number = value.parse::<i64>().ok();
    match (key.kind, key.unit, number) {
        (_, Unit::Millis, Some(ms)) if ms >= 0 => {
            toml::Value::String(Span(Duration::from_millis(ms as u64)).to_string())
        }
        (_, Unit::Bytes, Some(bytes)) if bytes >= 0 => {
            toml::Value::String(Size(bytes as u64).to_string())
        }
        (ConfigType::Int | ConfigType::Long, _, Some(n)) => toml::Value::Integer(n),
        (ConfigType::Boolean, _, _) => toml::Value::Boolean(value == "true"),
        (ConfigType::Double, _, _) => value
            .parse()
            .map_or_else(|_| toml::Value::String(value.into()), toml::Value::Float),
        _ => toml::Value::String(value.into()),
    }
}

/// A value from the file in Kafka's format, checked by the registry.
fn parse(key: &ConfigKey, value: &toml::Value) -> Result<String, String> {
    let kafka = match value {
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::String(s) if s.trim() == "unlimited" => key
            .unlimited
            .ok_or_else(|| format!("`{}` has no \"unlimited\" setting", key.name))?
            .to_owned(),
        toml::Value::String(s) if s.trim().parse::<i64>().is_ok() => s.trim().to_owned(),
        toml::Value::String(s) => match key.unit {
            Unit::Millis => s.parse::<Span>()?.0.as_millis().to_string(),
            Unit::Bytes => s.parse::<Size>()?.0.to_string(),
            Unit::Plain => s.clone(),
        },
        other => return Err(format!("unexpected {}", other.type_str())),
    };
    key.check(&kafka).map_err(|e| e.to_string())?;
    Ok(kafka)
}

impl Serialize for TopicDefaults {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let rendered: BTreeMap<&str, toml::Value> = self
            .0
            .iter()
            .filter_map(|(name, value)| {
                topic_config::key(name).map(|key| (key.name, render(key, value)))
            })
            .collect();
        rendered.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TopicDefaults {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TopicDefaultsVisitor)
    }
}

/// Reads the table key by key, so that an error is raised while its key is being read and
/// the config loader's message (and `FLYQ_*` variable) names that key.
struct TopicDefaultsVisitor;

impl<'de> Visitor<'de> for TopicDefaultsVisitor {
    type Value = TopicDefaults;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of topic configs by Kafka name")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopicDefaults, A::Error> {
        let mut defaults = TopicDefaults::default();
        while let Some(name) = map.next_key::<String>()? {
            let kafka = map.next_value_seed(ValueFor(&name))?;
            defaults.0.insert(name, kafka);
        }
        Ok(defaults)
    }
}

/// Deserializes the value of the key it names into Kafka's format.
struct ValueFor<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for ValueFor<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        let value = toml::Value::deserialize(deserializer)?;
        let key = topic_config::key(self.0).ok_or_else(|| {
            D::Error::custom(format!(
                "\"{}\" is not a topic config (docs/protocol.md lists them)",
                self.0
            ))
        })?;
        parse(key, &value).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units_round_trip_and_unlimited_maps_to_each_keys_own_value() {
        let text = r#"
"retention.ms" = "1d"
"retention.bytes" = "unlimited"
"flush.ms" = "unlimited"
"segment.bytes" = "64MiB"
"message.timestamp.type" = "LogAppendTime"
"min.cleanable.dirty.ratio" = 0.25
"unclean.leader.election.enable" = true
"#;
        let parsed: TopicDefaults = toml::from_str(text).unwrap();
        assert_eq!(parsed.get("retention.ms"), Some("86400000"));
        assert_eq!(parsed.get("retention.bytes"), Some("-1"));
        assert_eq!(parsed.get("flush.ms"), Some("9223372036854775807"));
        assert_eq!(parsed.get("segment.bytes"), Some("67108864"));
        assert_eq!(parsed.get("min.cleanable.dirty.ratio"), Some("0.25"));
        assert_eq!(parsed.get("unclean.leader.election.enable"), Some("true"));
        let printed = toml::to_string(&parsed).unwrap();
        let again: TopicDefaults = toml::from_str(&printed).unwrap();
        assert_eq!(again, parsed);
        let overrides = parsed.overrides();
        // retention.bytes = unlimited is the default: not an override.
        assert_eq!(overrides.len(), 6, "{overrides:?}");
        assert!(TopicDefaults::default().overrides().is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        for text in [
            "\"no.such\" = 1",
            "\"retention.ms\" = \"soon\"",
            "\"cleanup.policy\" = \"compact\"",
            "\"segment.ms\" = true",
            "\"min.insync.replicas\" = \"unlimited\"",
        ] {
            assert!(toml::from_str::<TopicDefaults>(text).is_err(), "{text}");
        }
    }
}
