//! The one registry of topic configs: every key Kafka 4 defines for a topic, with its type,
//! FlyQ's default, how a value is checked, and what FlyQ does with it.
//!
//! Three kinds of key (see docs/protocol.md, "Topic configs"):
//! - **log** keys become the storage engine's [`LogConfig`] (`retention.ms`, `segment.bytes`,
//!   `flush.messages`, ...); their default is the log's own default, rendered here;
//! - **applied** keys change how the broker treats a produce (`message.timestamp.type`,
//!   `message.timestamp.after.max.ms`, `compression.type` and its levels, `min.insync.replicas`);
//! - **stored** keys are validated, kept and reported with Kafka's default, for features whose
//!   behaviour does not exist yet or has no meaning on FlyQ's storage (compaction lag settings,
//!   throttled replicas, `unclean.leader.election.enable`, ...). A value that would ask for
//!   missing behaviour (`cleanup.policy=compact`, `remote.storage.enable=true`) is refused with
//!   an error that says so, rather than stored and silently ignored.
//!
//! Everything that reads, checks, defaults or renders a topic config goes through [`KEYS`]: the
//! Kafka handlers, the HTTP API and the binary's `[topic_defaults]` section.

use std::collections::BTreeMap;
use std::time::Duration;

use flyq_log::{FlushPolicy, LogConfig};
use flyq_protocol::Compression;

use crate::error::{MetaError, Result};

/// A topic's config values by Kafka name (`retention.ms`, ...): the overrides a topic was given,
/// or the broker's defaults.
pub type TopicConfigs = BTreeMap<String, String>;

/// A config's type, as DescribeConfigs v3+ reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// `true` / `false`.
    Boolean,
    /// Free text from a fixed set.
    String,
    /// A 32-bit integer.
    Int,
    /// A 64-bit integer.
    Long,
    /// A floating-point number.
    Double,
    /// A comma-separated list.
    List,
}

impl ConfigType {
    /// Kafka's code for the type (DescribeConfigs `config_type`).
    pub fn kafka_code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
        }
    }
}

/// What a value measures, so that the config file can take human units for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A plain value.
    Plain,
    /// Milliseconds ("7d" in the config file).
    Millis,
    /// Bytes ("1GiB" in the config file).
    Bytes,
}

/// How FlyQ honours a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// A storage-engine setting.
    Log,
    /// Changes how the broker treats produced batches.
    Applied,
    /// Validated, kept and reported; no behaviour of its own yet.
    Stored,
}

/// Where a resolved setting lands.
#[derive(Clone, Copy)]
enum Binding {
    /// A field of [`LogConfig`]: read to render the default, written when resolving.
    Log {
        read: fn(&LogConfig) -> String,
        write: fn(&mut LogConfig, &str) -> Result<(), String>,
    },
    /// A field of [`TopicSettings`] other than the log's.
    Applied {
        default: &'static str,
        write: fn(&mut TopicSettings, &str) -> Result<(), String>,
    },
    /// Only checked.
    Stored {
        default: &'static str,
        check: fn(&str) -> Result<(), String>,
    },
}

/// One topic config key.
pub struct ConfigKey {
    /// Kafka's name.
    pub name: &'static str,
    /// Its type.
    pub kind: ConfigType,
    /// What its value measures.
    pub unit: Unit,
    /// The value that means "no limit", where the key has one (`-1` for `retention.ms`,
    /// `9223372036854775807` for `flush.ms`).
    pub unlimited: Option<&'static str>,
    /// One line on what it does in FlyQ.
    pub doc: &'static str,
    binding: Binding,
}

impl std::fmt::Debug for ConfigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ConfigKey {
    /// How FlyQ honours this key.
    pub fn support(&self) -> Support {
        match self.binding {
            Binding::Log { .. } => Support::Log,
            Binding::Applied { .. } => Support::Applied,
            Binding::Stored { .. } => Support::Stored,
        }
    }

    /// FlyQ's default value (for log keys, the storage engine's default).
    pub fn default_value(&self) -> String {
        match self.binding {
            Binding::Log { read, .. } => read(&LogConfig::default()),
            Binding::Applied { default, .. } | Binding::Stored { default, .. } => {
                default.to_owned()
            }
        }
    }

    /// Checks `value` for this key, alone (combinations are checked by [`resolve`]).
    pub fn check(&self, value: &str) -> Result<()> {
        let outcome = match self.binding {
            Binding::Log { write, .. } => write(&mut LogConfig::default(), value),
            Binding::Applied { write, .. } => write(&mut TopicSettings::default(), value),
            Binding::Stored { check, .. } => check(value),
        };
        outcome.map_err(|reason| self.invalid(value, reason))
    }

    fn invalid(&self, value: &str, reason: String) -> MetaError {
        MetaError::InvalidConfig {
            key: self.name.to_owned(),
            value: value.to_owned(),
            reason,
        }
    }
}

/// The timestamp a topic's records carry (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// The producer's timestamps, kept.
    #[default]
    CreateTime,
    /// The broker's clock at append, written into each batch.
    LogAppendTime,
}

/// The codec a topic stores batches in (`compression.type` and its level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetCompression {
    /// Whatever the producer used: batches are stored as they arrive.
    #[default]
    Producer,
    /// Recompressed on the broker into this codec, at this level (`None`: the codec's default).
    Codec(Compression, Option<i32>),
}

/// Everything a topic's configs decide, resolved and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicSettings {
    /// The storage engine's settings.
    pub log: LogConfig,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.after.max.ms`: how far ahead of the broker's clock a CreateTime
    /// timestamp may be (`None`: no limit).
    pub timestamp_after_max: Option<Duration>,
    /// `compression.type` with the level of the chosen codec.
    pub compression: TargetCompression,
    /// `min.insync.replicas`.
    pub min_insync_replicas: i32,
    gzip_level: Option<i32>,
    lz4_level: Option<i32>,
    zstd_level: Option<i32>,
    codec: Option<Compression>,
}

impl Default for TopicSettings {
    fn default() -> Self {
        Self {
            log: LogConfig::default(),
            timestamp_type: TimestampType::CreateTime,
            timestamp_after_max: None,
            compression: TargetCompression::Producer,
            min_insync_replicas: 1,
            gzip_level: None,
            lz4_level: None,
            zstd_level: None,
            codec: None,
        }
    }
}

/// Resolves a topic's settings: every key's default, then the broker's defaults
/// (`broker_defaults`), then the topic's overrides. Every value is checked; unknown keys are
/// refused.
pub fn resolve(broker_defaults: &TopicConfigs, overrides: &TopicConfigs) -> Result<TopicSettings> {
    let mut settings = TopicSettings::default();
    for layer in [broker_defaults, overrides] {
        for (name, value) in layer {
            let key = key(name).ok_or_else(|| unknown(name, value))?;
            let applied = match key.binding {
                Binding::Log { write, .. } => write(&mut settings.log, value),
                Binding::Applied { write, .. } => write(&mut settings, value),
                Binding::Stored { check, .. } => check(value),
            };
            applied.map_err(|reason| key.invalid(value, reason))?;
        }
    }
    settings
        .log
        .validate()
        .map_err(|reason| MetaError::InvalidConfig {
            key: "(combined)".into(),
            value: String::new(),
            reason,
        })?;
    settings.compression = match settings.codec {
        None => TargetCompression::Producer,
        Some(codec) => {
            let level = match codec {
                Compression::Gzip => settings.gzip_level,
                Compression::Lz4 => settings.lz4_level,
                Compression::Zstd => settings.zstd_level,
                Compression::None | Compression::Snappy => None,
            };
            TargetCompression::Codec(codec, level)
        }
    };
    Ok(settings)
}

fn unknown(name: &str, value: &str) -> MetaError {
    MetaError::InvalidConfig {
        key: name.to_owned(),
        value: value.to_owned(),
        reason: "not a topic config (docs/protocol.md lists every one)".into(),
    }
}

/// The key named `name`.
pub fn key(name: &str) -> Option<&'static ConfigKey> {
    KEYS.iter().find(|k| k.name == name)
}

/// Where a described value comes from (DescribeConfigs `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// The topic's own override.
    Topic,
    /// The broker's config file (`[topic_defaults]`).
    Broker,
    /// FlyQ's built-in default.
    Default,
}

/// One config as DescribeConfigs and the HTTP API show it.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    /// Kafka name.
    pub name: String,
    /// Effective value.
    pub value: String,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// The values it overrides, nearest first (Kafka's "synonyms"), each with its source.
    pub synonyms: Vec<(String, ConfigSource)>,
    /// The key's registry entry.
    pub key: &'static ConfigKey,
}

impl ConfigEntry {
    /// Whether the value is the built-in default.
    pub fn is_default(&self) -> bool {
        self.source == ConfigSource::Default
    }
}

/// Every key's effective value for a topic with `overrides` on a broker with `broker_defaults`
/// (pass no overrides to describe the broker's defaults).
pub fn describe(broker_defaults: &TopicConfigs, overrides: &TopicConfigs) -> Vec<ConfigEntry> {
    KEYS.iter()
        .map(|key| {
            let layers = [
                overrides
                    .get(key.name)
                    .map(|v| (v.clone(), ConfigSource::Topic)),
                broker_defaults
                    .get(key.name)
                    .map(|v| (v.clone(), ConfigSource::Broker)),
                Some((key.default_value(), ConfigSource::Default)),
            ];
            let synonyms: Vec<(String, ConfigSource)> = layers.into_iter().flatten().collect();
            let (value, source) = synonyms[0].clone();
            ConfigEntry {
                name: key.name.to_owned(),
                value,
                source,
                synonyms,
                key,
            }
        })
        .collect()
}

/// One change of IncrementalAlterConfigs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// Override the key with this value.
    Set(String),
    /// Remove the override (back to the broker's default).
    Delete,
    /// Add these comma-separated items to a list key's current value.
    Append(String),
    /// Remove these comma-separated items from a list key's current value.
    Subtract(String),
}

/// Applies `change` of `name` to a topic's overrides. APPEND and SUBTRACT start from the
/// current effective value (the override, else the broker's default, else FlyQ's) and apply
/// only to list keys, as in Kafka.
pub fn apply_change(
    overrides: &mut TopicConfigs,
    broker_defaults: &TopicConfigs,
    name: &str,
    change: &ConfigChange,
) -> Result<()> {
    let (items, append) = match change {
        ConfigChange::Set(value) => {
            overrides.insert(name.to_owned(), value.clone());
            return Ok(());
        }
        ConfigChange::Delete => {
            overrides.remove(name);
            return Ok(());
        }
        ConfigChange::Append(items) => (items, true),
        ConfigChange::Subtract(items) => (items, false),
    };
    let key = key(name).ok_or_else(|| unknown(name, items))?;
    if key.kind != ConfigType::List {
        return Err(key.invalid(
            items,
            "APPEND and SUBTRACT apply only to list configs".into(),
        ));
    }
    let current = overrides
        .get(name)
        .or_else(|| broker_defaults.get(name))
        .cloned()
        .unwrap_or_else(|| key.default_value());
    overrides.insert(name.to_owned(), edit_list(&current, items, append));
    Ok(())
}

/// Adds (`append`) or removes comma-separated `items` to or from a list value.
fn edit_list(current: &str, items: &str, append: bool) -> String {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut values = split(current);
    for item in split(items) {
        if append {
            if !values.contains(&item) {
                values.push(item);
            }
        } else {
            values.retain(|v| *v != item);
        }
    }
    values.join(",")
}

// ---- value checks, Kafka's ranges ----

const LONG_MAX: &str = "9223372036854775807";

fn parse_long(value: &str, min: i64, max: i64) -> Result<i64, String> {
    let n: i64 = value
        .trim()
        .parse()
        .map_err(|_| "not a whole number".to_owned())?;
    if !(min..=max).contains(&n) {
        return Err(format!("must be between {min} and {max}"));
    }
    Ok(n)
}

fn at_least(min: i64) -> impl Fn(&str) -> Result<i64, String> {
    move |value| parse_long(value, min, i64::MAX)
}

fn int_at_least(value: &str, min: i64) -> Result<i64, String> {
    parse_long(value, min, i64::from(i32::MAX))
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

fn one_of<'a>(value: &str, allowed: &[&'a str]) -> Result<&'a str, String> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(value.trim()))
        .copied()
        .ok_or_else(|| format!("must be one of {}", allowed.join(", ")))
}

/// `-1`-style "no limit" for a duration in ms.
fn optional_millis(n: i64) -> Option<Duration> {
    u64::try_from(n).ok().map(Duration::from_millis)
}

/// A duration in ms where Long.MAX means "never".
fn millis_or_never(n: i64) -> Option<Duration> {
    (n < i64::MAX).then(|| Duration::from_millis(n as u64))
}

fn render_millis(d: Option<Duration>, none: &str) -> String {
    d.map_or(none.to_owned(), |d| d.as_millis().to_string())
}

fn check_long_at_least_0(v: &str) -> Result<(), String> {
    at_least(0)(v).map(drop)
}

fn check_long_at_least_minus_2(v: &str) -> Result<(), String> {
    at_least(-2)(v).map(drop)
}

fn check_bool(v: &str) -> Result<(), String> {
    parse_bool(v).map(drop)
}

fn check_cleanup_policy(v: &str) -> Result<(), String> {
    for policy in v.split(',').map(str::trim) {
        if one_of(policy, &["delete", "compact"])? == "compact" {
            return Err(
                "log compaction is not available in FlyQ yet; only cleanup.policy=delete is".into(),
            );
        }
    }
    Ok(())
}

fn check_throttled_replicas(v: &str) -> Result<(), String> {
    let v = v.trim();
    if v.is_empty() || v == "*" {
        return Ok(());
    }
    for pair in v.split(',').map(str::trim) {
        let ok = pair.split_once(':').is_some_and(|(p, b)| {
            p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
        });
        if !ok {
            return Err("must be * or a list of partition:broker pairs".into());
        }
    }
    Ok(())
}

fn check_remote_storage(v: &str) -> Result<(), String> {
    if parse_bool(v)? {
        return Err("tiered storage is not available in FlyQ".into());
    }
    Ok(())
}

fn check_segment_jitter(v: &str) -> Result<(), String> {
    if at_least(0)(v)? != 0 {
        return Err("segment roll jitter is not available in FlyQ yet; only 0 is".into());
    }
    Ok(())
}

fn check_timestamp_before(v: &str) -> Result<(), String> {
    if at_least(0)(v)? != i64::MAX {
        return Err(
            "a lower bound on record timestamps is not enforced by FlyQ yet; only the default \
             (no bound) is accepted"
                .into(),
        );
    }
    Ok(())
}

fn check_dirty_ratio(v: &str) -> Result<(), String> {
    let ratio: f64 = v.trim().parse().map_err(|_| "not a number".to_owned())?;
    if !(0.0..=1.0).contains(&ratio) {
        return Err("must be between 0 and 1".into());
    }
    Ok(())
}

fn write_codec(s: &mut TopicSettings, v: &str) -> Result<(), String> {
    s.codec = match one_of(
        v,
        &["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"],
    )? {
        "uncompressed" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        "zstd" => Some(Compression::Zstd),
        _ => None,
    };
    Ok(())
}

fn level(v: &str, min: i64, max: i64, default: i64) -> Result<Option<i32>, String> {
    let n = parse_long(v, min, max).or_else(|e| {
        if v.trim() == default.to_string() {
            Ok(default)
        } else {
            Err(e)
        }
    })?;
    Ok((n != default).then_some(n as i32))
}

/// Every topic config Kafka 4 defines, sorted by name.
pub static KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "cleanup.policy",
        kind: ConfigType::List,
        unit: Unit::Plain,
        unlimited: None,
        doc: "What happens to old segments: delete (by retention). compact is not available yet.",
        binding: Binding::Stored {
            default: "delete",
            check: check_cleanup_policy,
        },
    },
    ConfigKey {
        name: "compression.gzip.level",
        kind: ConfigType::Int,
        unit: Unit::Plain,
        unlimited: None,
        doc: "gzip level (1-9, -1 for the codec's default) when compression.type=gzip.",
        binding: Binding::Applied {
            default: "-1",
            write: |s, v| {
                s.gzip_level = level(v, 1, 9, -1)?;
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "compression.lz4.level",
        kind: ConfigType::Int,
        unit: Unit::Plain,
        unlimited: None,
        doc: "lz4 level (1-17) when compression.type=lz4.",
        binding: Binding::Applied {
            default: "9",
            write: |s, v| {
                s.lz4_level = level(v, 1, 17, 9)?;
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "compression.type",
        kind: ConfigType::String,
        unit: Unit::Plain,
        unlimited: None,
        doc: "producer keeps batches as sent; uncompressed, gzip, snappy, lz4 or zstd recompresses each batch on the broker.",
        binding: Binding::Applied {
            default: "producer",
            write: write_codec,
        },
    },
    ConfigKey {
        name: "compression.zstd.level",
        kind: ConfigType::Int,
        unit: Unit::Plain,
        unlimited: None,
        doc: "zstd level (-131072 to 22) when compression.type=zstd.",
        binding: Binding::Applied {
            default: "3",
            write: |s, v| {
                s.zstd_level = level(v, -131_072, 22, 3)?;
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "delete.retention.ms",
        kind: ConfigType::Long,
        unit: Unit::Millis,
        unlimited: None,
        doc: "How long compaction keeps delete tombstones (stored until compaction lands).",
        binding: Binding::Stored {
            default: "86400000",
            check: check_long_at_least_0,
        },
    },
    ConfigKey {
        name: "file.delete.delay.ms",
        kind: ConfigType::Long,
        unit: Unit::Millis,
        unlimited: None,
        doc: "Stored. FlyQ deletes a segment's files as soon as its last reader is done.",
        binding: Binding::Stored {
            default: "60000",
            check: check_long_at_least_0,
        },
    },
    ConfigKey {
        name: "flush.messages",
        kind: ConfigType::Long,
        unit: Unit::Plain,
        unlimited: Some(LONG_MAX),
        doc: "fsync once this many records are unsynced; 1 syncs before every acknowledgement.",
        binding: Binding::Log {
            read: |c| {
                c.flush
                    .messages
                    .map_or(LONG_MAX.to_owned(), |n| n.to_string())
            },
            write: |c, v| {
                let n = at_least(1)(v)?;
                c.flush.messages = (n < i64::MAX).then_some(n as u64);
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "flush.ms",
        kind: ConfigType::Long,
        unit: Unit::Millis,
        unlimited: Some(LONG_MAX),
        doc: "fsync in the background at most this long after an append.",
        binding: Binding::Log {
            read: |c| render_millis(c.flush.interval, LONG_MAX),
            write: |c, v| {
                c.flush = FlushPolicy {
                    interval: millis_or_never(at_least(0)(v)?),
                    ..c.flush
                };
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "follower.replication.throttled.replicas",
        kind: ConfigType::List,
        unit: Unit::Plain,
        unlimited: None,
        doc: "Stored until replication throttling exists.",
        binding: Binding::Stored {
            default: "",
            check: check_throttled_replicas,
        },
    },
    ConfigKey {
        name: "index.interval.bytes",
        kind: ConfigType::Int,
        unit: Unit::Bytes,
        unlimited: None,
        doc: "Bytes between entries of the offset and time indexes.",
        binding: Binding::Log {
            read: |c| c.index_interval_bytes.to_string(),
            write: |c, v| {
                c.index_interval_bytes = int_at_least(v, 0)? as u64;
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "leader.replication.throttled.replicas",
        kind: ConfigType::List,
        unit: Unit::Plain,
        unlimited: None,
        doc: "Stored until replication throttling exists.",
        binding: Binding::Stored {
            default: "",
            check: check_throttled_replicas,
        },
    },
    ConfigKey {
        name: "local.retention.bytes",
        kind: ConfigType::Long,
        unit: Unit::Bytes,
        unlimited: None,
        doc: "Tiered storage only; stored.",
        binding: Binding::Stored {
            default: "-2",
            check: check_long_at_least_minus_2,
        },
    },
    ConfigKey {
        name: "local.retention.ms",
        kind: ConfigType::Long,
        unit: Unit::Millis,
        unlimited: None,
        doc: "Tiered storage only; stored.",
        binding: Binding::Stored {
            default: "-2",
            check: check_long_at_least_minus_2,
        },
    },
    ConfigKey {
        name: "max.compaction.lag.ms",
        kind: ConfigType::Long,
        unit: Unit::Millis,
        unlimited: Some(LONG_MAX),
        doc: "Stored until compaction lands.",
        binding: Binding::Stored {
            default: LONG_MAX,
            check: |v| at_least(1)(v).map(drop),
        },
    },
    ConfigKey {
        name: "max.message.bytes",
        kind: ConfigType::Int,
        unit: Unit::Bytes,
        unlimited: None,
        doc: "Largest record batch a producer may send.",
        binding: Binding::Log {
            read: |c| c.max_batch_bytes.to_string(),
            write: |c, v| {
                c.max_batch_bytes = int_at_least(v, 0)? as usize;
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "message.timestamp.after.max.ms",
        kind: ConfigType::Long,
        unit: Unit::Millis,
        unlimited: Some(LONG_MAX),
        doc: "Refuse a CreateTime batch whose newest timestamp is further than this ahead of the broker's clock.",
        binding: Binding::Applied {
            default: LONG_MAX,
            write: |s, v| {
                s.timestamp_after_max = millis_or_never(at_least(0)(v)?);
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "message.timestamp.before.max.ms",
        kind: ConfigType::Long,
        unit: Unit::Millis,
        unlimited: Some(LONG_MAX),
        doc: "Only the default (no bound) is accepted yet.",
        binding: Binding::Stored {
            default: LONG_MAX,
            check: check_timestamp_before,
        },
    },
    ConfigKey {
        name: "message.timestamp.type",
        kind: ConfigType::String,
        unit: Unit::Plain,
        unlimited: None,
        doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch with the broker's clock.",
        binding: Binding::Applied {
            default: "CreateTime",
            write: |s, v| {
                s.timestamp_type = match one_of(v, &["CreateTime", "LogAppendTime"])? {
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => TimestampType::CreateTime,
                };
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "min.cleanable.dirty.ratio",
        kind: ConfigType::Double,
        unit: Unit::Plain,
        unlimited: None,
        doc: "Stored until compaction lands.",
        binding: Binding::Stored {
            default: "0.5",
            check: check_dirty_ratio,
        },
    },
    ConfigKey {
        name: "min.compaction.lag.ms",
        kind: ConfigType::Long,
        unit: Unit::Millis,
        unlimited: None,
        doc: "Stored until compaction lands.",
        binding: Binding::Stored {
            default: "0",
            check: check_long_at_least_0,
        },
    },
    ConfigKey {
        name: "min.insync.replicas",
        kind: ConfigType::Int,
        unit: Unit::Plain,
        unlimited: None,
        doc: "In-sync replicas an acks=all write needs; with fewer, it is refused (NOT_ENOUGH_REPLICAS).",
        binding: Binding::Applied {
            default: "1",
            write: |s, v| {
                s.min_insync_replicas = int_at_least(v, 1)? as i32;
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "preallocate",
        kind: ConfigType::Boolean,
        unit: Unit::Plain,
        unlimited: None,
        doc: "Stored; FlyQ does not preallocate segment files yet.",
        binding: Binding::Stored {
            default: "false",
            check: check_bool,
        },
    },
    ConfigKey {
        name: "remote.log.copy.disable",
        kind: ConfigType::Boolean,
        unit: Unit::Plain,
        unlimited: None,
        doc: "Tiered storage only; stored.",
        binding: Binding::Stored {
            default: "false",
            check: check_bool,
        },
    },
    ConfigKey {
        name: "remote.log.delete.on.disable",
        kind: ConfigType::Boolean,
        unit: Unit::Plain,
        unlimited: None,
        doc: "Tiered storage only; stored.",
        binding: Binding::Stored {
            default: "false",
            check: check_bool,
        },
    },
    ConfigKey {
        name: "remote.storage.enable",
        kind: ConfigType::Boolean,
        unit: Unit::Plain,
        unlimited: None,
        doc: "Tiered storage is not available: only false.",
        binding: Binding::Stored {
            default: "false",
            check: check_remote_storage,
        },
    },
    ConfigKey {
        name: "retention.bytes",
        kind: ConfigType::Long,
        unit: Unit::Bytes,
        unlimited: Some("-1"),
        doc: "Delete the oldest segments while a partition is larger than this (-1: no limit).",
        binding: Binding::Log {
            read: |c| c.retention_bytes.map_or("-1".to_owned(), |b| b.to_string()),
            write: |c, v| {
                let n = parse_long(v, i64::MIN, i64::MAX)?;
                c.retention_bytes = u64::try_from(n).ok();
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "retention.ms",
        kind: ConfigType::Long,
        unit: Unit::Millis,
        unlimited: Some("-1"),
        doc: "Delete segments whose newest record is older than this (-1: keep forever).",
        binding: Binding::Log {
            read: |c| render_millis(c.retention_ms, "-1"),
            write: |c, v| {
                c.retention_ms = optional_millis(at_least(-1)(v)?);
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "segment.bytes",
        kind: ConfigType::Int,
        unit: Unit::Bytes,
        unlimited: None,
        doc: "Roll to a new segment file at this size.",
        binding: Binding::Log {
            read: |c| c.segment_bytes.to_string(),
            write: |c, v| {
                c.segment_bytes = int_at_least(v, 14)? as u64;
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "segment.index.bytes",
        kind: ConfigType::Int,
        unit: Unit::Bytes,
        unlimited: None,
        doc: "Stored; FlyQ's sparse indexes are sized by the segment, not preallocated.",
        binding: Binding::Stored {
            default: "10485760",
            check: |v| int_at_least(v, 4).map(drop),
        },
    },
    ConfigKey {
        name: "segment.jitter.ms",
        kind: ConfigType::Long,
        unit: Unit::Millis,
        unlimited: None,
        doc: "Only 0 (no jitter) is accepted yet.",
        binding: Binding::Stored {
            default: "0",
            check: check_segment_jitter,
        },
    },
    ConfigKey {
        name: "segment.ms",
        kind: ConfigType::Long,
        unit: Unit::Millis,
        unlimited: Some(LONG_MAX),
        doc: "Roll to a new segment file at this age.",
        binding: Binding::Log {
            read: |c| render_millis(c.segment_ms, LONG_MAX),
            write: |c, v| {
                c.segment_ms = millis_or_never(at_least(1)(v)?);
                Ok(())
            },
        },
    },
    ConfigKey {
        name: "unclean.leader.election.enable",
        kind: ConfigType::Boolean,
        unit: Unit::Plain,
        unlimited: None,
        doc: "Stored; takes effect with replication (a single node has no elections).",
        binding: Binding::Stored {
            default: "false",
            check: check_bool,
        },
    },
];

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
        let s = resolve(
            &TopicConfigs::new(),
            &configs(&[
                ("retention.ms", "60000"),
                ("segment.bytes", "1048576"),
                ("flush.messages", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(s.log.retention_ms, Some(Duration::from_secs(60)));
        assert_eq!(s.log.segment_bytes, 1 << 20);
        assert_eq!(s.log.flush.messages, Some(1));
        let s = resolve(&TopicConfigs::new(), &configs(&[("retention.ms", "-1")])).unwrap();
        assert_eq!(s.log.retention_ms, None);
    }

    #[test]
    fn defaults_resolve_to_the_logs_defaults_and_every_key_accepts_its_default() {
        let all_defaults: TopicConfigs = KEYS
            .iter()
            .map(|k| (k.name.to_owned(), k.default_value()))
            .collect();
        assert_eq!(
            resolve(&TopicConfigs::new(), &all_defaults).unwrap(),
            TopicSettings::default()
        );
        for key in KEYS {
            key.check(&key.default_value()).unwrap();
        }
    }

    #[test]
    fn the_registry_is_sorted_and_has_no_duplicates() {
        let names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn applied_keys_resolve() {
        let s = resolve(
            &configs(&[("compression.type", "zstd")]),
            &configs(&[
                ("message.timestamp.type", "LogAppendTime"),
                ("compression.zstd.level", "7"),
                ("message.timestamp.after.max.ms", "3600000"),
                ("min.insync.replicas", "2"),
            ]),
        )
        .unwrap();
        assert_eq!(s.timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(
            s.compression,
            TargetCompression::Codec(Compression::Zstd, Some(7))
        );
        assert_eq!(s.timestamp_after_max, Some(Duration::from_secs(3600)));
        assert_eq!(s.min_insync_replicas, 2);
    }

    #[test]
    fn bad_keys_and_values_name_the_key_and_missing_features_say_so() {
        for (k, v, says) in [
            ("retention.ms", "soon", "whole number"),
            ("cleanup.policy", "compact", "compaction is not available"),
            (
                "cleanup.policy",
                "delete,compact",
                "compaction is not available",
            ),
            ("cleanup.policy", "sometimes", "one of"),
            ("remote.storage.enable", "true", "tiered storage"),
            ("no.such", "1", "not a topic config"),
            ("min.cleanable.dirty.ratio", "1.5", "between 0 and 1"),
            ("compression.gzip.level", "12", "between"),
            ("message.timestamp.type", "Now", "one of"),
            ("unclean.leader.election.enable", "maybe", "true or false"),
            (
                "leader.replication.throttled.replicas",
                "0:x",
                "partition:broker",
            ),
        ] {
            let err = resolve(&TopicConfigs::new(), &configs(&[(k, v)])).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(k) && text.contains(says), "{k}={v}: {text}");
        }
        // Combined checks name the log's rule.
        assert!(resolve(&TopicConfigs::new(), &configs(&[("segment.bytes", "10")])).is_err());
    }

    #[test]
    fn describe_layers_topic_over_broker_over_default() {
        let entries = describe(
            &configs(&[("retention.ms", "1000"), ("segment.ms", "5000")]),
            &configs(&[("retention.ms", "2000")]),
        );
        let get = |name: &str| entries.iter().find(|e| e.name == name).unwrap();
        let retention = get("retention.ms");
        assert_eq!(retention.value, "2000");
        assert_eq!(retention.source, ConfigSource::Topic);
        assert_eq!(
            retention.synonyms.iter().map(|s| s.1).collect::<Vec<_>>(),
            [
                ConfigSource::Topic,
                ConfigSource::Broker,
                ConfigSource::Default
            ]
        );
        assert_eq!(get("segment.ms").source, ConfigSource::Broker);
        assert_eq!(get("compression.type").value, "producer");
        assert!(get("compression.type").is_default());
        assert_eq!(entries.len(), KEYS.len());
    }

    #[test]
    fn append_and_subtract_start_from_the_effective_value_and_only_fit_lists() {
        let mut overrides = TopicConfigs::new();
        let throttled = "leader.replication.throttled.replicas";
        apply_change(
            &mut overrides,
            &configs(&[(throttled, "0:1")]),
            throttled,
            &ConfigChange::Append("1:1".into()),
        )
        .unwrap();
        assert_eq!(overrides[throttled], "0:1,1:1");
        apply_change(
            &mut overrides,
            &TopicConfigs::new(),
            throttled,
            &ConfigChange::Subtract("0:1".into()),
        )
        .unwrap();
        assert_eq!(overrides[throttled], "1:1");
        // cleanup.policy APPEND delete onto the default delete is a no-op, as in Kafka.
        apply_change(
            &mut overrides,
            &TopicConfigs::new(),
            "cleanup.policy",
            &ConfigChange::Append("delete".into()),
        )
        .unwrap();
        assert_eq!(overrides["cleanup.policy"], "delete");
        let err = apply_change(
            &mut overrides,
            &TopicConfigs::new(),
            "retention.ms",
            &ConfigChange::Append("5".into()),
        )
        .unwrap_err();
        assert!(err.to_string().contains("only to list configs"), "{err}");
    }

    #[test]
    fn list_edits_append_once_and_subtract() {
        assert_eq!(edit_list("delete", "compact", true), "delete,compact");
        assert_eq!(edit_list("delete,compact", "delete", false), "compact");
        assert_eq!(edit_list("", "0:1,1:1", true), "0:1,1:1");
        assert_eq!(edit_list("0:1", "0:1", true), "0:1");
    }
}
