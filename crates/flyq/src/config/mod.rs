//! `flyq serve`'s configuration: one TOML file, `FLYQ_*` environment variables and
//! command-line flags, in rising precedence, resolved into the settings of the broker, the
//! Kafka listener, the HTTP listener and logging.
//!
//! Every key of the file has an environment variable named after its path: `FLYQ_`, then the
//! section and the key in upper case with `.` turned into `_` (`kafka.max_connections` is
//! `FLYQ_KAFKA_MAX_CONNECTIONS`, `topic_defaults."retention.ms"` is
//! `FLYQ_TOPIC_DEFAULTS_RETENTION_MS`). Values are read as TOML (so `false` and `500` are a
//! boolean and a number) or, failing that, as a string. Sizes and durations are written in
//! human units ("1GiB", "7d", "500ms"); see [`units`].
//!
//! Unknown keys are errors, as are settings that contradict each other; every message names
//! the key. The config holds no secrets yet (TLS and SASL will add some, printed redacted).

pub mod topic_defaults;
pub mod units;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use flyq_broker::{BrokerConfig, GroupConfig};
use flyq_log::LogConfig;
use serde::{Deserialize, Serialize};
pub use topic_defaults::TopicDefaults;
use units::{Size, Span};

/// The whole configuration of a `flyq serve` process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This node's id in the cluster.
    pub node_id: i32,
    /// Where topics, offsets and metadata are kept.
    pub data_dir: PathBuf,
    /// The Kafka-protocol listener.
    pub kafka: KafkaSection,
    /// The HTTP listener (health, metrics, admin API).
    pub http: HttpSection,
    /// Log output.
    pub log: LogSection,
    /// Topic management.
    pub topics: TopicsSection,
    /// Consumer group coordination.
    pub groups: GroupsSection,
    /// Defaults for topic configs, by their Kafka names; topics may override each.
    pub topic_defaults: TopicDefaults,
}

/// `[kafka]`: the Kafka-protocol listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSection {
    /// Address to bind (port 0 picks a free port).
    pub addr: SocketAddr,
    /// `host:port` clients are told to connect to; default: the bound address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertised_addr: Option<String>,
    /// Most client connections open at once.
    pub max_connections: usize,
    /// Largest request accepted; larger ones close the connection.
    pub max_request_size: Size,
    /// Once a request starts arriving, the rest must arrive within this.
    pub request_read_timeout: Span,
    /// Most bytes one Fetch response carries.
    pub max_fetch_size: Size,
    /// Longest a Fetch waits for data.
    pub max_fetch_wait: Span,
    /// On shutdown, how long in-flight requests may take to finish.
    pub shutdown_grace: Span,
}

/// `[http]`: the operator listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Address to bind (port 0 picks a free port).
    pub addr: SocketAddr,
}

/// `[log]`: what the process logs, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// A `tracing` filter: a level ("info") or per-target directives ("info,flyq::kafka=debug").
    pub level: String,
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

/// `[topics]`: creating topics and running retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsSection {
    /// Create a topic when a client produces to it or asks for its metadata.
    pub auto_create: bool,
    /// Partitions of a topic created without a count.
    pub default_partitions: i32,
    /// Most partitions one topic may have.
    pub max_partitions: i32,
    /// How often retention runs over every partition.
    pub retention_check_interval: Span,
}

/// `[groups]`: the consumer group coordinator (Kafka's `group.*` broker settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupsSection {
    /// An empty group's first rebalance waits this long for more members to join.
    pub initial_rebalance_delay: Span,
    /// Smallest session timeout a member may ask for.
    pub min_session_timeout: Span,
    /// Largest session timeout a member may ask for.
    pub max_session_timeout: Span,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            node_id: 1,
            data_dir: PathBuf::from("flyq-data"),
            kafka: KafkaSection::default(),
            http: HttpSection::default(),
            log: LogSection::default(),
            topics: TopicsSection::default(),
            groups: GroupsSection::default(),
            topic_defaults: TopicDefaults::default(),
        }
    }
}

impl Default for KafkaSection {
    fn default() -> Self {
        let listener = flyq_kafka::KafkaConfig::new(SocketAddr::from(([127, 0, 0, 1], 9092)));
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 9092)),
            advertised_addr: None,
            max_connections: listener.max_connections,
            max_request_size: Size(listener.max_request_bytes as u64),
            request_read_timeout: Span(listener.request_read_timeout),
            max_fetch_size: Size(listener.max_fetch_bytes as u64),
            max_fetch_wait: Span(listener.max_fetch_wait),
            shutdown_grace: Span(listener.shutdown_grace),
        }
    }
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 9644)),
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl Default for TopicsSection {
    fn default() -> Self {
        let broker = BrokerConfig::new("");
        Self {
            auto_create: broker.auto_create_topics,
            default_partitions: broker.default_partitions,
            max_partitions: broker.max_partitions,
            retention_check_interval: Span(broker.retention_check_interval),
        }
    }
}

impl Default for GroupsSection {
    fn default() -> Self {
        let groups = GroupConfig::default();
        Self {
            initial_rebalance_delay: Span(groups.initial_rebalance_delay),
            min_session_timeout: Span(groups.min_session_timeout),
            max_session_timeout: Span(groups.max_session_timeout),
        }
    }
}

/// Keys the environment may set that the default config does not print (they have no
/// default value).
const OPTIONAL_KEYS: &[&[&str]] = &[&["kafka", "advertised_addr"]];

impl Config {
    /// Reads `file` (if given), applies `FLYQ_*` variables from `env`, and validates the result.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the config file {}", path.display()))?;
                toml::from_str::<toml::Table>(&text)
                    .with_context(|| format!("in the config file {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut table, &env)?;
        // The path of a bad value is tracked, so the message names its key.
        // The path of a bad value is tracked, so the message names its key and its source.
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            let var = env_var(std::slice::from_ref(&key));
            let source = match (env(&var), file) {
                (Some(_), _) => var,
                (None, Some(path)) => path.display().to_string(),
                (None, None) => "the defaults".to_owned(),
            };
            anyhow::anyhow!("{key} (in {source}): {}", e.inner().message())
        })
    }

    /// Rejects settings that contradict each other or that the broker cannot honour; the
    /// message names the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        let kafka = &self.kafka;
        if kafka.max_connections == 0 {
            bail!("kafka.max_connections must be at least 1");
        }
        if kafka.addr.port() != 0 && kafka.addr == self.http.addr {
            bail!(
                "kafka.addr and http.addr are both {}: give each listener its own port",
                kafka.addr
            );
        }
        match &kafka.advertised_addr {
            Some(advertised) => {
                parse_advertised(advertised)?;
            }
            None if kafka.addr.ip().is_unspecified() => bail!(
                "kafka.addr {} listens on every interface, which clients cannot connect to: set \
                 kafka.advertised_addr to the host:port clients should use",
                kafka.addr
            ),
            None => {}
        }
        let log = self.log_config()?;
        if (kafka.max_request_size.0 as usize) < log.max_batch_bytes {
            bail!(
                "kafka.max_request_size ({}) is smaller than topic_defaults.\"max.message.bytes\" \
                 ({}): a batch of the allowed size could never arrive",
                kafka.max_request_size,
                Size(log.max_batch_bytes as u64)
            );
        }
        let min_insync = self.topic_defaults.get("min.insync.replicas");
        if min_insync != Some("1") {
            bail!(
                "topic_defaults.\"min.insync.replicas\" is {}, but a single node holds one replica: \
                 it must be 1",
                min_insync.unwrap_or("unset")
            );
        }
        let topics = &self.topics;
        if topics.max_partitions < 1 {
            bail!("topics.max_partitions must be at least 1");
        }
        if !(1..=topics.max_partitions).contains(&topics.default_partitions) {
            bail!(
                "topics.default_partitions ({}) must be between 1 and topics.max_partitions ({})",
                topics.default_partitions,
                topics.max_partitions
            );
        }
        let groups = &self.groups;
        if groups.min_session_timeout > groups.max_session_timeout {
            bail!(
                "groups.min_session_timeout ({}) is longer than groups.max_session_timeout ({})",
                groups.min_session_timeout,
                groups.max_session_timeout
            );
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| {
            anyhow::anyhow!("log.level `{}` is not a log filter: {e}", self.log.level)
        })?;
        Ok(())
    }

    /// The log settings every topic starts from.
    pub fn log_config(&self) -> anyhow::Result<LogConfig> {
        flyq_broker::topic_config::resolve(
            &self.topic_defaults.overrides(),
            &flyq_broker::TopicConfigs::new(),
        )
        .map(|settings| settings.log)
        .map_err(|e| anyhow::anyhow!("topic_defaults: {e}"))
    }

    /// The broker's settings.
    pub fn broker_config(&self) -> anyhow::Result<BrokerConfig> {
        let mut broker = BrokerConfig::new(&self.data_dir);
        broker.node_id = self.node_id;
        self.log_config()?;
        broker.topic_defaults = self.topic_defaults.overrides();
        broker.auto_create_topics = self.topics.auto_create;
        broker.default_partitions = self.topics.default_partitions;
        broker.max_partitions = self.topics.max_partitions;
        broker.retention_check_interval = self.topics.retention_check_interval.0;
        broker.groups = GroupConfig {
            initial_rebalance_delay: self.groups.initial_rebalance_delay.0,
            min_session_timeout: self.groups.min_session_timeout.0,
            max_session_timeout: self.groups.max_session_timeout.0,
            ..GroupConfig::default()
        };
        Ok(broker)
    }

    /// The Kafka listener's settings, once it is bound to `bound`.
    pub fn kafka_config(&self, bound: SocketAddr) -> anyhow::Result<flyq_kafka::KafkaConfig> {
        let mut listener = flyq_kafka::KafkaConfig::new(bound);
        if let Some(advertised) = &self.kafka.advertised_addr {
            listener.advertised = parse_advertised(advertised)?;
        }
        listener.max_connections = self.kafka.max_connections;
        listener.max_request_bytes =
            usize::try_from(self.kafka.max_request_size.0).unwrap_or(usize::MAX);
        listener.request_read_timeout = self.kafka.request_read_timeout.0;
        listener.max_fetch_bytes =
            usize::try_from(self.kafka.max_fetch_size.0).unwrap_or(usize::MAX);
        listener.max_fetch_wait = self.kafka.max_fetch_wait.0;
        listener.shutdown_grace = self.kafka.shutdown_grace.0;
        Ok(listener)
    }

    /// The config as a TOML document (human units; secrets, once there are any, redacted).
    pub fn to_toml(&self) -> anyhow::Result<String> {
        toml::to_string(self).context("printing the config")
    }
}

/// `host:port` with a host clients can reach and a real port.
fn parse_advertised(advertised: &str) -> anyhow::Result<(String, u16)> {
    let bad = |why: &str| anyhow::anyhow!("kafka.advertised_addr `{advertised}` {why}");
    let (host, port) = advertised
        .rsplit_once(':')
        .ok_or_else(|| bad("is not host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad("has no valid port"))?;
    if port == 0 {
        return Err(bad("has port 0, which clients cannot connect to"));
    }
    if host.is_empty()
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified())
    {
        return Err(bad("names no host clients can connect to"));
    }
    Ok((host.to_owned(), port))
}

/// Overlays `FLYQ_*` variables onto `table`, one for every key the config has.
fn apply_env(table: &mut toml::Table, env: &impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    let defaults = toml::Table::try_from(Config::default()).context("listing the config keys")?;
    let mut keys = Vec::new();
    leaf_keys(&defaults, &mut Vec::new(), &mut keys);
    keys.extend(
        OPTIONAL_KEYS
            .iter()
            .map(|k| k.iter().map(|s| s.to_string()).collect()),
    );
    for key in keys {
        let Some(raw) = env(&env_var(&key)) else {
            continue;
        };
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(raw));
        let (last, sections) = key.split_last().context("an empty config key")?;
        let mut at = &mut *table;
        for section in sections {
            let entry = at
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            at = match entry {
                toml::Value::Table(t) => t,
                _ => bail!(
                    "config key `{section}` must be a section, set by {}",
                    env_var(&key)
                ),
            };
        }
        at.insert(last.clone(), value);
    }
    Ok(())
}

/// The environment variable for a key path: `FLYQ_KAFKA_MAX_CONNECTIONS`.
pub fn env_var(key: &[String]) -> String {
    let mut name = String::from("FLYQ");
    for part in key {
        name.push('_');
        name.push_str(&part.replace('.', "_").to_uppercase());
    }
    name
}

fn leaf_keys(table: &toml::Table, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (key, value) in table {
        path.push(key.clone());
        match value {
            toml::Value::Table(inner) => leaf_keys(inner, path, out),
            _ => out.push(path.clone()),
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write;

    use super::*;

    const SHIPPED: &str = include_str!("../../../../config/flyq.toml");

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// Loads `text` with `vars` as the environment, validated; the error message on failure.
    fn load(text: &str, vars: &[(&str, &str)]) -> Result<Config, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let f = file(text);
        Config::load(Some(f.path()), |name| vars.get(name).cloned())
            .and_then(|c| c.validate().map(|()| c))
            .map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn the_shipped_example_lists_every_key_with_its_default() {
        let shipped: toml::Table = toml::from_str(SHIPPED).unwrap();
        let mut listed = Vec::new();
        leaf_keys(&shipped, &mut Vec::new(), &mut listed);
        let mut all = Vec::new();
        leaf_keys(
            &toml::Table::try_from(Config::default()).unwrap(),
            &mut Vec::new(),
            &mut all,
        );
        listed.sort();
        all.sort();
        assert_eq!(listed, all);
        // The one key without a default is there, commented out.
        assert!(SHIPPED.contains("# advertised_addr = "));
        assert_eq!(load(SHIPPED, &[]).unwrap(), Config::default());
    }

    #[test]
    fn defaults_need_no_file_and_round_trip_through_toml() {
        let config = Config::load(None, no_env).unwrap();
        assert_eq!(config, Config::default());
        config.validate().unwrap();
        let printed = config.to_toml().unwrap();
        assert_eq!(load(&printed, &[]).unwrap(), config);
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let text = "node_id = 3\n[kafka]\nmax_connections = 5\n[topic_defaults]\n\"retention.ms\" = \"1d\"\n";
        let config = load(text, &[]).unwrap();
        assert_eq!(config.node_id, 3);
        assert_eq!(config.kafka.max_connections, 5);
        assert_eq!(config.topic_defaults.get("retention.ms"), Some("86400000"));
        let config = load(
            text,
            &[
                ("FLYQ_KAFKA_MAX_CONNECTIONS", "9"),
                ("FLYQ_TOPIC_DEFAULTS_RETENTION_MS", "unlimited"),
                ("FLYQ_TOPICS_AUTO_CREATE", "false"),
                ("FLYQ_KAFKA_ADVERTISED_ADDR", "broker1.example.com:19092"),
                ("FLYQ_LOG_FORMAT", "json"),
            ],
        )
        .unwrap();
        assert_eq!(
            config.node_id, 3,
            "the file still applies where no variable is set"
        );
        assert_eq!(config.kafka.max_connections, 9);
        assert_eq!(config.topic_defaults.get("retention.ms"), Some("-1"));
        assert!(!config.topics.auto_create);
        assert_eq!(config.log.format, LogFormat::Json);
        let listener = config.kafka_config("127.0.0.1:1".parse().unwrap()).unwrap();
        assert_eq!(
            listener.advertised,
            ("broker1.example.com".to_owned(), 19092)
        );
    }

    #[test]
    fn topic_defaults_reach_the_broker_as_log_settings() {
        let text = "[topic_defaults]\n\"segment.bytes\" = \"64MiB\"\n\"flush.messages\" = 1\n\"retention.bytes\" = \"10GiB\"\n";
        let config = load(text, &[]).unwrap();
        let log = config.log_config().unwrap();
        assert_eq!(log.segment_bytes, 64 << 20);
        assert_eq!(log.flush.messages, Some(1));
        assert_eq!(log.retention_bytes, Some(10 << 30));
        let broker = config.broker_config().unwrap();
        assert_eq!(
            broker
                .topic_defaults
                .get("segment.bytes")
                .map(String::as_str),
            Some("67108864")
        );
        assert_eq!(
            broker.topic_defaults.len(),
            3,
            "only what differs from the defaults"
        );
    }

    #[test]
    fn every_invalid_setting_is_refused_naming_its_key() {
        /// A config file, FLYQ_* variables, and what the error must name.
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("colour = \"blue\"\n", &[], "colour"),
            ("[kafka]\nport = 1\n", &[], "kafka.port"),
            (
                "[kafka]\nmax_connections = \"many\"\n",
                &[],
                "kafka.max_connections",
            ),
            (
                "",
                &[("FLYQ_KAFKA_MAX_CONNECTIONS", "many")],
                "FLYQ_KAFKA_MAX_CONNECTIONS",
            ),
            (
                "[kafka]\nmax_connections = 0\n",
                &[],
                "kafka.max_connections",
            ),
            (
                "[kafka]\nrequest_read_timeout = 30\n",
                &[],
                "kafka.request_read_timeout",
            ),
            (
                "[kafka]\nmax_request_size = \"big\"\n",
                &[],
                "kafka.max_request_size",
            ),
            ("[kafka]\naddr = \"localhost\"\n", &[], "kafka.addr"),
            (
                "[kafka]\naddr = \"127.0.0.1:7000\"\n[http]\naddr = \"127.0.0.1:7000\"\n",
                &[],
                "http.addr",
            ),
            (
                "[kafka]\naddr = \"0.0.0.0:9092\"\n",
                &[],
                "kafka.advertised_addr",
            ),
            (
                "[kafka]\nadvertised_addr = \"0.0.0.0:9092\"\n",
                &[],
                "kafka.advertised_addr",
            ),
            (
                "[kafka]\nadvertised_addr = \"host:0\"\n",
                &[],
                "kafka.advertised_addr",
            ),
            (
                "[kafka]\nadvertised_addr = \"host\"\n",
                &[],
                "kafka.advertised_addr",
            ),
            (
                "[kafka]\nmax_request_size = \"1KiB\"\n",
                &[],
                "kafka.max_request_size",
            ),
            ("[log]\nformat = \"xml\"\n", &[], "log.format"),
            ("[log]\nlevel = \"info,=[\"\n", &[], "log.level"),
            (
                "[topics]\ndefault_partitions = 0\n",
                &[],
                "topics.default_partitions",
            ),
            (
                "[topics]\nmax_partitions = 0\n",
                &[],
                "topics.max_partitions",
            ),
            (
                "[groups]\nmin_session_timeout = \"1h\"\nmax_session_timeout = \"1m\"\n",
                &[],
                "groups.min_session_timeout",
            ),
            (
                "[topic_defaults]\n\"segment.bytes\" = \"10B\"\n",
                &[],
                "segment.bytes",
            ),
            (
                "[topic_defaults]\n\"cleanup.policy\" = \"compact\"\n",
                &[],
                "cleanup.policy",
            ),
            (
                "[topic_defaults]\n\"min.insync.replicas\" = 2\n",
                &[],
                "min.insync.replicas",
            ),
            (
                "[topic_defaults]\n\"retention.ms\" = \"soon\"\n",
                &[],
                "retention.ms",
            ),
            (
                "[topic_defaults]\n\"flush.messages\" = 0\n",
                &[],
                "flush.messages",
            ),
            (
                "[topic_defaults]\n\"max.message.bytes\" = \"1TiB\"\n",
                &[],
                "max.message.bytes",
            ),
            ("[kafka\n", &[], "config file"),
        ];
        for (text, vars, key) in cases {
            let error = load(text, vars).expect_err(text);
            assert!(
                error.contains(key),
                "{text:?}: the error does not name {key}: {error}"
            );
        }
    }
}
