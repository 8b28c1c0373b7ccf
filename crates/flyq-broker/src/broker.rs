//! [`Broker`]: this node's topics and partitions, and the produce and read paths.
//!
//! The topics come from the cluster metadata ([`flyq_meta`]): the broker keeps one [`Topic`]
//! per topic of the metadata image, with a [`Partition`] (and its log) for each partition, and
//! brings that table in line with the image after every change ([`TopicTable::reconcile`]);
//! the operations that change topics are in `topic_admin.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flyq_meta::topic_config::{ConfigEntry, TopicConfigs, TopicSettings};
use flyq_meta::{LocalStore, MetadataCommand, MetadataImage, MetadataStore, topic_config};
use uuid::Uuid;

use crate::CONSUMER_OFFSETS_TOPIC;
use crate::append_policy;
use crate::error::{BrokerError, Result};
use crate::group::{GroupConfig, GroupCoordinator};
use crate::log_manager::LogManager;
use crate::partition::Partition;
use crate::topic_table::TopicTable;

/// Settings of a broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Where topics and metadata live.
    pub data_dir: PathBuf,
    /// This node's id.
    pub node_id: i32,
    /// The broker's defaults for topic configs, by Kafka name (`[topic_defaults]`); keys not
    /// given take FlyQ's built-in default ([`topic_config::KEYS`]).
    pub topic_defaults: TopicConfigs,
    /// Create a topic when a client produces to it or asks for its metadata.
    pub auto_create_topics: bool,
    /// Partitions of an auto-created topic, and of one created without a count.
    pub default_partitions: i32,
    /// Most partitions a topic may have.
    pub max_partitions: i32,
    /// How often retention runs over every log.
    pub retention_check_interval: Duration,
    /// Consumer group coordinator settings.
    pub groups: GroupConfig,
}

impl BrokerConfig {
    /// Defaults for a broker keeping its data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            node_id: 1,
            topic_defaults: TopicConfigs::new(),
            auto_create_topics: true,
            default_partitions: 1,
            max_partitions: 10_000,
            retention_check_interval: Duration::from_secs(60),
            groups: GroupConfig::default(),
        }
    }
}

/// A topic and its partitions.
#[derive(Debug)]
pub struct Topic {
    /// Name.
    pub name: Arc<str>,
    /// Topic id (Kafka's topic UUID).
    pub id: Uuid,
    /// Config overrides, by Kafka name.
    pub configs: TopicConfigs,
    /// What the broker's defaults and the overrides resolve to.
    pub settings: TopicSettings,
    /// Partitions, by index.
    pub partitions: Vec<Arc<Partition>>,
}

impl Topic {
    /// Whether this is an internal topic (clients cannot produce to it).
    pub fn is_internal(&self) -> bool {
        self.name.starts_with("__")
    }
}

/// What a produce appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceOutcome {
    /// Offset of the first record.
    pub base_offset: i64,
    /// The partition's log start offset.
    pub log_start_offset: i64,
    /// The broker's append time stamped into the batch, for a `LogAppendTime` topic.
    pub log_append_time: Option<i64>,
}

/// How many replicas must have a produced batch before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// None: the producer wants no answer (acks = 0).
    None,
    /// The leader's (acks = 1).
    Leader,
    /// Every in-sync replica's, and at least `min.insync.replicas` (acks = -1, "all").
    All,
}

impl Acks {
    /// Kafka's acks value, if valid.
    pub fn from_kafka(acks: i16) -> Option<Self> {
        match acks {
            0 => Some(Acks::None),
            1 => Some(Acks::Leader),
            -1 => Some(Acks::All),
            _ => None,
        }
    }
}

/// This node's topics, and the operations Kafka requests need on them.
pub struct Broker {
    pub(crate) config: BrokerConfig,
    pub(crate) table: TopicTable,
    pub(crate) meta: Arc<dyn MetadataStore>,
    groups: Arc<GroupCoordinator>,
    /// Held by topic changes that read, then replace, what the metadata holds.
    pub(crate) admin: tokio::sync::Mutex<()>,
    /// Producer ids handed out so far, and the end of the reserved block.
    pub(crate) producer_ids: tokio::sync::Mutex<(i64, i64)>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("data_dir", &self.config.data_dir)
            .finish_non_exhaustive()
    }
}

/// Replicas in sync with every partition's leader: on a single node, the leader alone.
const IN_SYNC_REPLICAS: i32 = 1;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Internal topics (`__...`) are the broker's: clients may not delete, reconfigure or grow them.
pub fn refuse_internal(name: &str) -> Result<()> {
    if name.starts_with("__") {
        return Err(BrokerError::InternalTopic(name.to_owned()));
    }
    Ok(())
}

/// `__consumer_offsets`: every commit fsynced; nothing expires by age or size (the group
/// coordinator's state is replayed from it).
fn consumer_offsets_topic(node_id: i32) -> MetadataCommand {
    MetadataCommand::CreateTopic {
        name: CONSUMER_OFFSETS_TOPIC.to_owned(),
        id: Uuid::new_v4(),
        configs: [("flush.messages", "1"), ("retention.ms", "-1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        partitions: vec![vec![node_id]],
    }
}

impl Broker {
    /// Opens (creating if needed) the broker's data directory and metadata, recovering every
    /// partition log.
    pub fn open(config: BrokerConfig) -> Result<Arc<Self>> {
        let logs = LogManager::open(&config.data_dir)?;
        let store = LocalStore::open(
            logs.env().shared_storage(),
            &config.data_dir,
            config.node_id,
        )?;
        if !store.image().topics.contains_key(CONSUMER_OFFSETS_TOPIC) {
            store.apply(&consumer_offsets_topic(config.node_id))?;
        }
        let image = store.image();
        let block_end = image.producer_id_block_end;
        logs.remove_orphans(|topic, partition| {
            image
                .topics
                .get(topic)
                .is_some_and(|t| usize::try_from(partition).is_ok_and(|p| p < t.partitions.len()))
        });
        let table = TopicTable::new(&config, logs);
        table.reconcile(&image)?;
        let groups = Arc::new(GroupCoordinator::load(
            table.partition(CONSUMER_OFFSETS_TOPIC, 0)?,
            config.groups.clone(),
        )?);
        let broker = Arc::new(Self {
            config,
            table,
            meta: Arc::new(store),
            groups,
            admin: tokio::sync::Mutex::new(()),
            // Ids of the block in use before a restart may have been handed out: start after it.
            producer_ids: tokio::sync::Mutex::new((block_end, block_end)),
        });
        LogManager::every(
            "flyq-retention",
            broker.config.retention_check_interval,
            Arc::downgrade(&broker),
            Broker::apply_retention,
        );
        tracing::info!(
            target: "flyq::broker",
            data_dir = %broker.config.data_dir.display(),
            topics = image.topics.len(),
            "broker opened"
        );
        Ok(broker)
    }

    /// Opens the broker (on a blocking thread: recovery reads every log) and starts its
    /// background tasks on the current runtime: the group coordinator's ticker (session
    /// expiry, overdue rebalances, `__consumer_offsets` compaction). The retention thread runs
    /// from [`Broker::open`] on.
    pub async fn start(config: BrokerConfig) -> Result<Arc<Self>> {
        let broker = tokio::task::spawn_blocking(move || Self::open(config))
            .await
            .map_err(|e| BrokerError::Metadata {
                context: "opening the broker".into(),
                source: std::io::Error::other(e),
            })??;
        broker.groups.start_ticker();
        Ok(broker)
    }

    /// One retention pass over every log.
    fn apply_retention(&self) {
        for topic in self.topics() {
            for partition in &topic.partitions {
                if let Err(e) = partition.log.apply_retention() {
                    tracing::warn!(target: "flyq::broker", topic = %topic.name, partition = partition.index, error = %e, "retention failed");
                }
            }
        }
    }

    /// The consumer group coordinator.
    pub fn groups(&self) -> &Arc<GroupCoordinator> {
        &self.groups
    }

    /// The broker's settings.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// This node's id.
    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    /// The cluster id, generated on first start.
    pub fn cluster_id(&self) -> String {
        self.meta.image().cluster_id.clone()
    }

    /// The metadata image as this node knows it.
    pub fn metadata(&self) -> Arc<MetadataImage> {
        self.meta.image()
    }

    /// All topics, by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.table.topics()
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.table.topic(name)
    }

    /// The broker's default for every topic config (the registry's defaults under the broker's
    /// `[topic_defaults]`).
    pub fn default_configs(&self) -> Vec<ConfigEntry> {
        topic_config::describe(&self.config.topic_defaults, &TopicConfigs::new())
    }

    /// A topic's effective configs (overrides, else broker defaults, else FlyQ's), by Kafka name.
    pub fn describe_topic_configs(&self, name: &str) -> Result<Vec<ConfigEntry>> {
        let topic = self
            .topic(name)
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: name.to_owned(),
                partition: -1,
            })?;
        Ok(topic_config::describe(
            &self.config.topic_defaults,
            &topic.configs,
        ))
    }

    /// Syncs every partition's log (shutdown).
    pub fn flush_all(&self) -> Result<()> {
        for topic in self.topics() {
            for partition in &topic.partitions {
                partition.log.flush()?;
            }
        }
        Ok(())
    }

    /// A partition of a topic.
    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>> {
        self.table.partition(topic, partition)
    }

    /// Appends a producer's batch to a partition. The topic's policies (timestamps,
    /// recompression) and the append run on a blocking thread: recompression is CPU work, and
    /// an append may wait for an fsync under `flush.messages`.
    pub async fn produce(
        &self,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: Acks,
    ) -> Result<ProduceOutcome> {
        refuse_internal(topic)?;
        // One lookup: the topic gives both its settings and the partition.
        let unknown = || BrokerError::UnknownTopicOrPartition {
            topic: topic.to_owned(),
            partition,
        };
        let owner = self.topic(topic).ok_or_else(unknown)?;
        let partition = usize::try_from(partition)
            .ok()
            .and_then(|i| owner.partitions.get(i).cloned())
            .ok_or_else(unknown)?;
        let required = owner.settings.min_insync_replicas;
        if acks == Acks::All && required > IN_SYNC_REPLICAS {
            return Err(BrokerError::NotEnoughReplicas {
                required,
                in_sync: IN_SYNC_REPLICAS,
            });
        }
        let task = tokio::task::spawn_blocking(move || {
            let prepared = append_policy::prepare(&owner.settings, batch, now_ms())?;
            let info = partition.append(&prepared.batch)?;
            Ok::<_, BrokerError>(ProduceOutcome {
                base_offset: info.base_offset,
                log_start_offset: partition.log.log_start_offset(),
                log_append_time: prepared.log_append_time,
            })
        });
        task.await.map_err(|e| BrokerError::Metadata {
            context: "running an append".into(),
            source: std::io::Error::other(e),
        })?
    }

    /// The brokers a replica assignment may name: on a single node, this node.
    pub fn live_brokers(&self) -> Vec<i32> {
        vec![self.config.node_id]
    }

    /// Checks a manual replica assignment (CreateTopics, CreatePartitions) for partitions
    /// `first..first + assignment.len()`: every list names live brokers, none twice, and all
    /// lists have one length (the replication factor, which is returned).
    pub fn check_replica_assignment(&self, assignment: &[Vec<i32>]) -> Result<i32> {
        let live = self.live_brokers();
        let factor = assignment.first().map_or(0, Vec::len);
        for (index, replicas) in assignment.iter().enumerate() {
            let problem = if replicas.is_empty() {
                Some("an empty replica list".to_owned())
            } else if replicas.len() != factor {
                Some(format!(
                    "{} replicas where the first partition has {factor}",
                    replicas.len()
                ))
            } else if let Some(unknown) = replicas.iter().find(|b| !live.contains(b)) {
                Some(format!("broker {unknown} is not a live broker"))
            } else if (1..replicas.len()).any(|i| replicas[..i].contains(&replicas[i])) {
                Some("a broker listed twice".to_owned())
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(BrokerError::InvalidReplicaAssignment(format!(
                    "partition {index}: {problem}"
                )));
            }
        }
        i32::try_from(factor)
            .map_err(|_| BrokerError::InvalidReplicaAssignment("too many replicas".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use flyq_meta::topic_config::ConfigChange;

    use super::*;
    use crate::Placement;

    #[test]
    fn replica_assignments_must_name_live_brokers_once_with_one_length() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(BrokerConfig::new(dir.path())).unwrap();
        assert_eq!(
            broker
                .check_replica_assignment(&[vec![1], vec![1]])
                .unwrap(),
            1
        );
        for (bad, says) in [
            (vec![vec![1], vec![]], "empty"),
            (vec![vec![2]], "not a live broker"),
            (vec![vec![1, 1]], "twice"),
            (vec![vec![1], vec![1, 1]], "first partition has 1"),
        ] {
            let err = broker.check_replica_assignment(&bad).unwrap_err();
            assert!(err.to_string().contains(says), "{bad:?}: {err}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logs_of_a_topic_deleted_just_before_a_crash_are_not_adopted_by_its_successor() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(BrokerConfig::new(dir.path())).unwrap();
        let topic = broker
            .create_topic("ghost", Placement::Count(1), TopicConfigs::new())
            .await
            .unwrap();
        let batch = flyq_protocol::builder::filler_batch(0, 3, 10);
        topic.partitions[0].append(&batch).unwrap();
        // The deletion is committed, but the process dies before the logs are removed.
        let kept = dir.path().join("kept");
        std::fs::rename(dir.path().join("topics").join("ghost-0"), &kept).unwrap();
        broker.delete_topic("ghost").await.unwrap();
        drop((broker, topic));
        std::fs::rename(&kept, dir.path().join("topics").join("ghost-0")).unwrap();
        let broker = Broker::open(BrokerConfig::new(dir.path())).unwrap();
        assert!(!dir.path().join("topics").join("ghost-0").exists());
        let reborn = broker
            .create_topic("ghost", Placement::Count(1), TopicConfigs::new())
            .await
            .unwrap();
        assert_eq!(reborn.partitions[0].log.log_end_offset(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn update_topic_configs_sets_and_deletes_keys_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(BrokerConfig::new(dir.path())).unwrap();
        let initial = [("retention.ms", "60000"), ("segment.ms", "1000")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        broker
            .create_topic("t", Placement::Count(1), initial)
            .await
            .unwrap();
        let set = [(
            "retention.bytes".to_owned(),
            ConfigChange::Set("1024".to_owned()),
        )];
        let changes = [
            set[0].clone(),
            ("segment.ms".to_owned(), ConfigChange::Delete),
        ];
        broker
            .update_topic_configs("t", &changes, false)
            .await
            .unwrap();
        let configs = &broker.topic("t").unwrap().configs;
        let expected: TopicConfigs = [
            ("retention.bytes".to_owned(), "1024".to_owned()),
            ("retention.ms".to_owned(), "60000".to_owned()),
        ]
        .into();
        assert_eq!(configs, &expected);
        // Validated like AlterConfigs; nothing changes on failure.
        let bad = [(
            "retention.ms".to_owned(),
            ConfigChange::Set("soon".to_owned()),
        )];
        assert!(matches!(
            broker.update_topic_configs("t", &bad, false).await,
            Err(BrokerError::InvalidConfig { .. })
        ));
        assert_eq!(&broker.topic("t").unwrap().configs, &expected);
        assert!(matches!(
            broker
                .update_topic_configs("__consumer_offsets", &set, false)
                .await,
            Err(BrokerError::InternalTopic(_))
        ));
    }
}
