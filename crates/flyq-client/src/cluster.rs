//! What the client knows about the cluster: brokers, topic leaders, and one connection per
//! broker, reconnected with exponential backoff.
//!
//! Metadata is refreshed on demand (an unknown topic, NOT_LEADER_OR_FOLLOWER) and when it is
//! older than `metadata_max_age`; readers take a cheap `Arc` snapshot.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use parking_lot::{Mutex, RwLock};

use crate::config::ClientConfig;
use crate::connection::Connection;
use crate::error::{Error, Result};

/// One partition as the cluster last described it.
#[derive(Debug, Clone)]
pub(crate) struct PartitionMetadata {
    pub(crate) id: i32,
    pub(crate) leader: i32,
    pub(crate) replicas: Vec<i32>,
    pub(crate) isr: Vec<i32>,
}

/// One topic as the cluster last described it; `partitions` is sorted by id.
#[derive(Debug, Clone)]
pub(crate) struct TopicMetadata {
    pub(crate) error: i16,
    pub(crate) internal: bool,
    pub(crate) partitions: Vec<PartitionMetadata>,
    /// When the Metadata request that brought this was sent.
    pub(crate) asked_at: Option<Instant>,
}

/// A snapshot of cluster metadata.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    /// Node id -> "host:port".
    pub(crate) brokers: BTreeMap<i32, String>,
    pub(crate) topics: HashMap<String, TopicMetadata>,
    pub(crate) controller: i32,
    pub(crate) cluster_id: Option<String>,
    fetched_at: Option<Instant>,
    /// When the last all-topics Metadata request was sent.
    all_asked_at: Option<Instant>,
    /// When the last Metadata request of any kind (each brings the brokers) was sent.
    brokers_asked_at: Option<Instant>,
}

impl Metadata {
    /// Takes the brokers, controller and cluster id of a Metadata answer to a request sent at
    /// `asked`.
    fn set_brokers(&mut self, response: &MetadataResponse, asked: Instant) {
        self.brokers = response
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect();
        self.controller = response.controller_id.0;
        self.cluster_id = response.cluster_id.as_ref().map(|s| s.to_string());
        self.brokers_asked_at = Some(asked);
    }

    /// Whether a Metadata request sent at or after `since` brought `topics` (all topics when
    /// empty): a refresh asked for then can use that answer instead of asking again.
    fn refreshed_since(&self, topics: &[String], since: Instant) -> bool {
        let fresh = |asked: Option<Instant>| asked.is_some_and(|a| a >= since);
        if topics.is_empty() {
            fresh(self.all_asked_at)
        } else {
            topics
                .iter()
                .all(|t| self.topics.get(t).is_some_and(|t| fresh(t.asked_at)))
        }
    }

    /// The leader of `topic`/`partition`, if known and elected.
    pub(crate) fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let p = self
            .topics
            .get(topic)?
            .partitions
            .get(usize::try_from(partition).ok()?)?;
        (p.id == partition && p.leader >= 0).then_some(p.leader)
    }

    /// Partition count of a topic that exists without error.
    pub(crate) fn partition_count(&self, topic: &str) -> Option<i32> {
        let t = self.topics.get(topic)?;
        (t.error == 0 && !t.partitions.is_empty())
            .then(|| i32::try_from(t.partitions.len()).ok())
            .flatten()
    }
}

/// The connection to one address, if open; locked while (re)connecting.
type ConnectionSlot = tokio::sync::Mutex<Option<Arc<Connection>>>;

#[cfg(test)]
impl Metadata {
    /// Broker 1 leads every partition of `topics` (name, partition count).
    pub(crate) fn single_broker(topics: &[(&str, i32)]) -> Self {
        Self {
            brokers: BTreeMap::from([(1, "127.0.0.1:9092".to_owned())]),
            topics: topics
                .iter()
                .map(|(name, n)| {
                    let partitions = (0..*n)
                        .map(|id| PartitionMetadata {
                            id,
                            leader: 1,
                            replicas: vec![1],
                            isr: vec![1],
                        })
                        .collect();
                    let t = TopicMetadata {
                        error: 0,
                        internal: false,
                        partitions,
                        asked_at: None,
                    };
                    ((*name).to_owned(), t)
                })
                .collect(),
            controller: 1,
            cluster_id: None,
            fetched_at: None,
            all_asked_at: None,
            brokers_asked_at: None,
        }
    }
}

#[derive(Default)]
struct Backoff {
    failures: u32,
    last: Option<Instant>,
}

/// Connections and metadata shared by every part of one client.
pub(crate) struct Cluster {
    pub(crate) config: ClientConfig,
    metadata: RwLock<Arc<Metadata>>,
    /// Counts metadata updates, so callers can cache what they read from it and tell when it
    /// may have changed.
    generation: AtomicU64,
    /// One slot per address; each has its own lock so a slow connect to one broker does not
    /// hold up requests to the others.
    conns: Mutex<HashMap<String, Arc<ConnectionSlot>>>,
    backoff: Mutex<HashMap<String, Backoff>>,
    refresh: tokio::sync::Mutex<()>,
}

impl Cluster {
    /// A cluster handle; connects lazily.
    pub(crate) fn new(config: ClientConfig) -> Result<Arc<Self>> {
        config.validate()?;
        Ok(Arc::new(Self {
            config,
            metadata: RwLock::new(Arc::new(Metadata {
                brokers: BTreeMap::new(),
                topics: HashMap::new(),
                controller: -1,
                cluster_id: None,
                fetched_at: None,
                all_asked_at: None,
                brokers_asked_at: None,
            })),
            generation: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
            backoff: Mutex::new(HashMap::new()),
            refresh: tokio::sync::Mutex::new(()),
        }))
    }

    /// The current metadata snapshot.
    pub(crate) fn metadata(&self) -> Arc<Metadata> {
        self.metadata.read().clone()
    }

    /// The number of metadata updates so far: read it before the metadata, and a value read
    /// from that metadata stays current while this does not change.
    pub(crate) fn metadata_generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether the snapshot is older than `metadata_max_age` (or was never fetched).
    pub(crate) fn metadata_stale(&self) -> bool {
        self.metadata
            .read()
            .fetched_at
            .is_none_or(|t| t.elapsed() >= self.config.metadata_max_age)
    }

    /// The connection to `addr`, opened (after any backoff) if needed.
    pub(crate) async fn connection_to(&self, addr: &str) -> Result<Arc<Connection>> {
        let slot = self
            .conns
            .lock()
            .entry(addr.to_owned())
            .or_default()
            .clone();
        let mut conn = slot.lock().await;
        if let Some(c) = conn.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        if let Some(wait) = self.backoff_left(addr) {
            tokio::time::sleep(wait).await;
        }
        match Connection::connect(addr, &self.config).await {
            Ok(c) => {
                self.backoff.lock().remove(addr);
                let c = Arc::new(c);
                *conn = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                let mut backoff = self.backoff.lock();
                let b = backoff.entry(addr.to_owned()).or_default();
                b.failures = b.failures.saturating_add(1);
                b.last = Some(Instant::now());
                Err(e)
            }
        }
    }

    fn backoff_left(&self, addr: &str) -> Option<Duration> {
        let backoff = self.backoff.lock();
        let b = backoff.get(addr)?;
        let exp = b.failures.saturating_sub(1).min(16);
        let wait = self
            .config
            .reconnect_backoff
            .saturating_mul(1 << exp)
            .min(self.config.reconnect_backoff_max);
        wait.checked_sub(b.last?.elapsed())
    }

    /// The connection to broker `node`.
    pub(crate) async fn broker(&self, node: i32) -> Result<Arc<Connection>> {
        let addr = self.metadata().brokers.get(&node).cloned();
        match addr {
            Some(addr) => self.connection_to(&addr).await,
            None => {
                self.refresh_brokers().await?;
                let addr =
                    self.metadata()
                        .brokers
                        .get(&node)
                        .cloned()
                        .ok_or_else(|| Error::Protocol {
                            addr: String::new(),
                            what: format!("broker {node} is not in the cluster metadata"),
                        })?;
                self.connection_to(&addr).await
            }
        }
    }

    /// A connection to any live broker: known brokers first, then the bootstrap list.
    pub(crate) async fn any(&self) -> Result<Arc<Connection>> {
        let mut candidates: Vec<String> = self.metadata().brokers.values().cloned().collect();
        for b in &self.config.bootstrap {
            if !candidates.contains(b) {
                candidates.push(b.clone());
            }
        }
        let mut last = None;
        for addr in &candidates {
            match self.connection_to(addr).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        let source = match last {
            Some(Error::Io { source, .. }) => source,
            Some(other) => Arc::new(std::io::Error::other(other.to_string())),
            None => Arc::new(std::io::Error::other("no address to try")),
        };
        Err(Error::NoBrokerReachable {
            addrs: self.config.bootstrap.join(","),
            source,
        })
    }

    /// The controller, where topic and config changes go.
    pub(crate) async fn controller(&self) -> Result<Arc<Connection>> {
        if self.metadata_stale() {
            self.refresh_brokers().await?;
        }
        let controller = self.metadata().controller;
        if controller >= 0 {
            self.broker(controller).await
        } else {
            self.any().await
        }
    }

    /// Fetches metadata for `topics` (all topics when empty) and merges it into the cache.
    /// `auto_create` asks the broker to create missing topics (what producers do).
    pub(crate) async fn refresh_metadata(
        &self,
        topics: &[String],
        auto_create: bool,
    ) -> Result<()> {
        // Taken before waiting for the lock: concurrent callers (every fetch and produce
        // task seeing NOT_LEADER at once) share one refresh instead of queueing up N.
        let since = Instant::now();
        let _one_at_a_time = self.refresh.lock().await;
        if self.metadata().refreshed_since(topics, since) {
            return Ok(());
        }
        let conn = self.any().await?;
        let asked = Instant::now();
        let request = MetadataRequest::default()
            .with_topics((!topics.is_empty()).then(|| {
                topics
                    .iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(auto_create);
        let response = conn.send(&request).await?;
        let mut fresh = (*self.metadata()).clone();
        fresh.set_brokers(&response, asked);
        if topics.is_empty() {
            fresh.topics.clear();
            fresh.all_asked_at = Some(asked);
        }
        for t in response.topics {
            let Some(name) = t.name else { continue };
            let mut partitions: Vec<PartitionMetadata> = t
                .partitions
                .iter()
                .map(|p| PartitionMetadata {
                    id: p.partition_index,
                    leader: p.leader_id.0,
                    replicas: p.replica_nodes.iter().map(|n| n.0).collect(),
                    isr: p.isr_nodes.iter().map(|n| n.0).collect(),
                })
                .collect();
            partitions.sort_by_key(|p| p.id);
            let unknown = t.error_code == ResponseError::UnknownTopicOrPartition.code();
            if unknown {
                fresh.topics.remove(name.0.as_str());
                continue;
            }
            fresh.topics.insert(
                name.0.to_string(),
                TopicMetadata {
                    error: t.error_code,
                    internal: t.is_internal,
                    partitions,
                    asked_at: Some(asked),
                },
            );
        }
        fresh.fetched_at = Some(Instant::now());
        self.publish(fresh);
        Ok(())
    }

    /// Refreshes the broker list and the controller only: a Metadata request for no topics,
    /// whose answer stays small however many topics the cluster has.
    pub(crate) async fn refresh_brokers(&self) -> Result<()> {
        let since = Instant::now();
        let _one_at_a_time = self.refresh.lock().await;
        if self.metadata().brokers_asked_at.is_some_and(|a| a >= since) {
            return Ok(());
        }
        let conn = self.any().await?;
        let asked = Instant::now();
        let request = MetadataRequest::default()
            .with_topics(Some(Vec::new()))
            .with_allow_auto_topic_creation(false);
        let response = conn.send(&request).await?;
        let mut fresh = (*self.metadata()).clone();
        fresh.set_brokers(&response, asked);
        self.publish(fresh);
        Ok(())
    }

    fn publish(&self, metadata: Metadata) {
        *self.metadata.write() = Arc::new(metadata);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Partition count of `topic`, fetching metadata (and creating the topic if `auto_create`)
    /// when it is not cached.
    pub(crate) async fn partition_count(&self, topic: &str, auto_create: bool) -> Result<i32> {
        if let Some(n) = self.metadata().partition_count(topic) {
            return Ok(n);
        }
        self.refresh_metadata(&[topic.to_owned()], auto_create)
            .await?;
        let md = self.metadata();
        match md.topics.get(topic) {
            Some(t) if t.error != 0 => {
                Error::check(t.error, || format!("metadata for topic {topic}"))?;
                Err(Error::UnknownPartition {
                    topic: topic.to_owned(),
                    partition: -1,
                })
            }
            _ => md
                .partition_count(topic)
                .ok_or_else(|| Error::UnknownPartition {
                    topic: topic.to_owned(),
                    partition: -1,
                }),
        }
    }

    /// The connection to the leader of `topic`/`partition`.
    pub(crate) async fn leader(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<(i32, Arc<Connection>)> {
        let mut leader = self.metadata().leader(topic, partition);
        if leader.is_none() {
            self.refresh_metadata(&[topic.to_owned()], false).await?;
            leader = self.metadata().leader(topic, partition);
        }
        let node = leader.ok_or_else(|| Error::UnknownPartition {
            topic: topic.to_owned(),
            partition,
        })?;
        Ok((node, self.broker(node).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_asked_after_the_caller_started_waiting_covers_it() {
        let t = |name: &str| name.to_owned();
        let before = Instant::now();
        let mut md = Metadata::single_broker(&[("a", 1), ("b", 1)]);
        assert!(!md.refreshed_since(&[t("a")], before));
        let asked = Instant::now();
        if let Some(a) = md.topics.get_mut("a") {
            a.asked_at = Some(asked);
        }
        assert!(md.refreshed_since(&[t("a")], before));
        // Another topic's refresh, or one asked before the caller started, does not count.
        assert!(!md.refreshed_since(&[t("a"), t("b")], before));
        assert!(!md.refreshed_since(&[t("a")], asked + Duration::from_millis(1)));
        // Only an all-topics refresh covers an all-topics request.
        assert!(!md.refreshed_since(&[], before));
        md.all_asked_at = Some(asked);
        assert!(md.refreshed_since(&[], before));
    }
}
