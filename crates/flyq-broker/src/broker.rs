//! [`Broker`]: the topics of this node and the operations on them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use flyq_log::{Flusher, Log, LogEnv, LogRead};
use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use crate::CONSUMER_OFFSETS_TOPIC;
use crate::append_policy;
use crate::error::{BrokerError, Result};
use crate::group::{GroupConfig, GroupCoordinator};
use crate::metadata::{MetadataImage, MetadataStore, TopicRecord};
use crate::partition::Partition;
use crate::topic_config::{self, ConfigChange, ConfigEntry, TopicConfigs, TopicSettings};
use crate::topic_name::validate_topic_name;

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
    config: BrokerConfig,
    groups: Arc<GroupCoordinator>,
    env: Arc<LogEnv>,
    flusher: Flusher,
    store: MetadataStore,
    image: Mutex<MetadataImage>,
    /// The next producer id to hand out.
    next_producer_id: Mutex<i64>,
    topics: RwLock<BTreeMap<Arc<str>, Arc<Topic>>>,
    /// An exclusive lock on `<data_dir>/.lock`, held while the broker lives: two processes
    /// appending to the same logs would corrupt them.
    _data_dir_lock: std::fs::File,
}

/// Takes the data directory's lock, creating the directory if needed.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File> {
    let path = data_dir.join(".lock");
    let io = |context: String| move |source| BrokerError::Metadata { context, source };
    std::fs::create_dir_all(data_dir).map_err(io(format!(
        "creating the data directory {}",
        data_dir.display()
    )))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(format!("opening {}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(BrokerError::Metadata {
            context: format!(
                "locking the data directory {}: another flyq process is using it",
                data_dir.display()
            ),
            source: std::io::Error::from(std::io::ErrorKind::WouldBlock),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io(format!("locking {}", path.display()))(e)),
    }
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("data_dir", &self.config.data_dir)
            .finish_non_exhaustive()
    }
}

fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join("topics").join(format!("{topic}-{partition}"))
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

/// Where topic `name` is in the stored metadata.
fn topic_index(image: &MetadataImage, name: &str) -> Result<usize> {
    image
        .topics
        .iter()
        .position(|t| t.name == name)
        .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
            topic: name.to_owned(),
            partition: -1,
        })
}

/// Removes a deleted topic's data (moved aside by `delete_topic`, or left by a crash).
fn remove_trash(trash: &Path) {
    if let Err(e) = std::fs::remove_dir_all(trash) {
        tracing::warn!(target: "flyq::broker", dir = %trash.display(), error = %e, "could not remove a deleted topic's data");
    }
}

/// Opens (recovering) every partition log of a topic.
fn open_topic(
    config: &BrokerConfig,
    env: &Arc<LogEnv>,
    flusher: &Flusher,
    record: &TopicRecord,
) -> Result<Arc<Topic>> {
    let settings = topic_config::resolve(&config.topic_defaults, &record.configs)?;
    let name: Arc<str> = Arc::from(record.name.as_str());
    let mut partitions = Vec::with_capacity(record.partitions.max(0) as usize);
    for index in 0..record.partitions {
        let dir = partition_dir(&config.data_dir, &record.name, index);
        let log = Arc::new(Log::open(&dir, settings.log.clone(), Arc::clone(env))?);
        report_recovery(&record.name, index, log.recovery_report());
        flusher.register(&log);
        partitions.push(Arc::new(Partition::new(Arc::clone(&name), index, log)));
    }
    Ok(Arc::new(Topic {
        name,
        id: record.id,
        configs: record.configs.clone(),
        settings,
        partitions,
    }))
}

/// One line per partition that recovery had to change or fence (the storage engine has logged
/// the details by file already; this names the topic and partition).
fn report_recovery(topic: &str, partition: i32, report: &flyq_log::RecoveryReport) {
    if let Some(cut) = &report.truncation {
        tracing::warn!(
            target: "flyq::broker", topic, partition,
            first_dropped_offset = cut.first_dropped_offset, bytes_dropped = cut.bytes_dropped,
            segments_removed = cut.segments_removed.len(), reason = %cut.reason,
            "recovery truncated a torn tail (data not yet fsynced when the process stopped)"
        );
    }
    if let Some(damage) = &report.corruption {
        tracing::error!(
            target: "flyq::broker", topic, partition,
            segment_base_offset = damage.segment_base_offset, position = damage.position,
            detail = %damage.detail,
            "partition fenced: durable data is damaged; reads stop before it and writes are refused (inspect with `flyq log check`)"
        );
    }
}

impl Broker {
    /// Opens (creating if needed) the broker's data directory, recovering every partition log.
    pub fn open(config: BrokerConfig) -> Result<Arc<Self>> {
        let data_dir_lock = lock_data_dir(&config.data_dir)?;
        let store = MetadataStore::new(&config.data_dir);
        let mut image = store.load_or_init()?;
        let env = LogEnv::os();
        let flusher =
            Flusher::start(Duration::from_millis(10)).map_err(|e| BrokerError::Metadata {
                context: "starting the flusher thread".into(),
                source: e,
            })?;
        // The internal offsets topic: created on first start; every commit is fsynced.
        if !image
            .topics
            .iter()
            .any(|t| t.name == CONSUMER_OFFSETS_TOPIC)
        {
            // Every commit fsynced; nothing expires by age or size (state is replayed from it).
            let configs = [("flush.messages", "1"), ("retention.ms", "-1")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            image.topics.push(TopicRecord {
                name: CONSUMER_OFFSETS_TOPIC.to_owned(),
                id: Uuid::new_v4(),
                partitions: 1,
                configs,
            });
            store.save(&image)?;
        }
        if let Ok(entries) = std::fs::read_dir(config.data_dir.join("topics")) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".deleted-") {
                    remove_trash(&entry.path());
                }
            }
        }
        let mut topics = BTreeMap::new();
        for record in &image.topics {
            let topic = open_topic(&config, &env, &flusher, record)?;
            topics.insert(Arc::clone(&topic.name), topic);
        }
        let offsets_partition = topics
            .get(CONSUMER_OFFSETS_TOPIC)
            .and_then(|t| t.partitions.first().cloned())
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: CONSUMER_OFFSETS_TOPIC.into(),
                partition: 0,
            })?;
        let groups = Arc::new(GroupCoordinator::load(
            offsets_partition,
            config.groups.clone(),
        )?);
        let broker = Arc::new(Self {
            config,
            groups,
            env,
            flusher,
            store,
            next_producer_id: Mutex::new(image.producer_id_block_end),
            image: Mutex::new(image.clone()),
            topics: RwLock::new(topics),
            _data_dir_lock: data_dir_lock,
        });
        Self::start_retention(&broker);
        tracing::info!(
            target: "flyq::broker",
            data_dir = %broker.config.data_dir.display(),
            topics = image.topics.len(),
            "broker opened"
        );
        Ok(broker)
    }

    fn open_topic(&self, record: &TopicRecord) -> Result<Arc<Topic>> {
        open_topic(&self.config, &self.env, &self.flusher, record)
    }

    /// The consumer group coordinator.
    pub fn groups(&self) -> &Arc<GroupCoordinator> {
        &self.groups
    }

    /// Runs retention over every log on a thread of its own, while the broker lives.
    fn start_retention(broker: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(broker);
        let interval = broker.config.retention_check_interval;
        let spawned = std::thread::Builder::new().name("flyq-retention".into()).spawn(move || {
            loop {
                std::thread::sleep(interval);
                let Some(broker) = weak.upgrade() else { return };
                for topic in broker.topics() {
                    for partition in &topic.partitions {
                        if let Err(e) = partition.log.apply_retention() {
                            tracing::warn!(target: "flyq::broker", topic = %topic.name, partition = partition.index, error = %e, "retention failed");
                        }
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(target: "flyq::broker", error = %e, "could not start the retention thread");
        }
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
        self.image.lock().cluster_id.clone()
    }

    /// All topics, by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics.read().values().cloned().collect()
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    /// A topic by name, created with the default partition count if it does not exist and
    /// auto-creation is on. `None` if it does not exist and cannot be created.
    pub fn topic_or_auto_create(&self, name: &str) -> Result<Option<Arc<Topic>>> {
        if let Some(topic) = self.topic(name) {
            return Ok(Some(topic));
        }
        if !self.config.auto_create_topics {
            return Ok(None);
        }
        match self.create_topic(name, self.config.default_partitions, TopicConfigs::new()) {
            Ok(topic) => Ok(Some(topic)),
            Err(BrokerError::TopicExists(_)) => Ok(self.topic(name)),
            Err(e) => Err(e),
        }
    }

    /// Checks what [`Broker::create_topic`] would check, without creating anything.
    pub fn validate_new_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: &TopicConfigs,
    ) -> Result<()> {
        validate_topic_name(name)?;
        if self.topic(name).is_some() {
            return Err(BrokerError::TopicExists(name.to_owned()));
        }
        if partitions < 1 || partitions > self.config.max_partitions {
            return Err(BrokerError::InvalidPartitions(partitions));
        }
        topic_config::resolve(&self.config.topic_defaults, configs)?;
        Ok(())
    }

    /// Creates a topic, durably, and opens its partitions.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: TopicConfigs,
    ) -> Result<Arc<Topic>> {
        let mut image = self.image.lock();
        self.validate_new_topic(name, partitions, &configs)?;
        let record = TopicRecord {
            name: name.to_owned(),
            id: Uuid::new_v4(),
            partitions,
            configs,
        };
        let topic = self.open_topic(&record)?;
        let mut next = image.clone();
        next.topics.push(record);
        self.store.save(&next)?;
        *image = next;
        self.topics
            .write()
            .insert(Arc::clone(&topic.name), Arc::clone(&topic));
        tracing::info!(target: "flyq::broker", topic = name, partitions, id = %topic.id, "created topic");
        Ok(topic)
    }

    /// Hands out a producer id and epoch (InitProducerId). With `existing` (a producer that
    /// restarts its session, KIP-360), the same id comes back with the next epoch, or a new id
    /// once the epoch would overflow. Ids are reserved in blocks recorded in the metadata, so
    /// none is ever handed out twice, restarts included.
    pub fn init_producer_id(&self, existing: Option<(i64, i16)>) -> Result<(i64, i16)> {
        let issued = *self.next_producer_id.lock();
        if let Some((id, epoch)) = existing
            && (0..issued).contains(&id)
            && (0..i16::MAX - 1).contains(&epoch)
        {
            return Ok((id, epoch + 1));
        }
        const BLOCK: i64 = 1000;
        let mut next = self.next_producer_id.lock();
        let mut image = self.image.lock();
        if *next >= image.producer_id_block_end {
            let mut reserved = image.clone();
            reserved.producer_id_block_end = *next + BLOCK;
            self.store.save(&reserved)?;
            *image = reserved;
        }
        let id = *next;
        *next += 1;
        Ok((id, 0))
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

    /// Replaces a topic's config overrides (AlterConfigs semantics: keys not given return to
    /// their defaults), durably, and applies them to its logs at once.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        configs: TopicConfigs,
        validate_only: bool,
    ) -> Result<()> {
        self.change_topic_configs(name, validate_only, |_| Ok(configs))
    }

    /// Applies single config changes, keeping the other overrides (IncrementalAlterConfigs).
    /// The change is computed from the overrides as they are under the metadata lock, so
    /// concurrent changes to other keys are not lost.
    pub fn update_topic_configs(
        &self,
        name: &str,
        changes: &[(String, ConfigChange)],
        validate_only: bool,
    ) -> Result<()> {
        let defaults = &self.config.topic_defaults;
        self.change_topic_configs(name, validate_only, |current| {
            let mut configs = current.clone();
            for (key, change) in changes {
                topic_config::apply_change(&mut configs, defaults, key, change)?;
            }
            Ok(configs)
        })
    }

    /// Replaces a topic's overrides with `change(current overrides)`, validated, durably.
    fn change_topic_configs(
        &self,
        name: &str,
        validate_only: bool,
        change: impl FnOnce(&TopicConfigs) -> Result<TopicConfigs>,
    ) -> Result<()> {
        refuse_internal(name)?;
        let mut image = self.image.lock();
        let index = topic_index(&image, name)?;
        let configs = change(&image.topics[index].configs)?;
        let settings = topic_config::resolve(&self.config.topic_defaults, &configs)?;
        if validate_only {
            return Ok(());
        }
        let mut next = image.clone();
        next.topics[index].configs = configs.clone();
        self.store.save(&next)?;
        *image = next;
        let mut topics = self.topics.write();
        if let Some(old) = topics.get(name).cloned() {
            for partition in &old.partitions {
                partition.log.set_config(settings.log.clone())?;
            }
            let updated = Topic {
                name: Arc::clone(&old.name),
                id: old.id,
                configs,
                settings,
                partitions: old.partitions.clone(),
            };
            topics.insert(Arc::clone(&old.name), Arc::new(updated));
        }
        tracing::info!(target: "flyq::broker", topic = name, "altered topic configs");
        Ok(())
    }

    /// Grows a topic to `total` partitions (CreatePartitions); partitions are never removed.
    pub fn create_partitions(&self, name: &str, total: i32, validate_only: bool) -> Result<()> {
        refuse_internal(name)?;
        let mut image = self.image.lock();
        let index = topic_index(&image, name)?;
        let current = image.topics[index].partitions;
        if total <= current || total > self.config.max_partitions {
            return Err(BrokerError::InvalidPartitions(total));
        }
        if validate_only {
            return Ok(());
        }
        let Some(old) = self.topic(name) else {
            return Err(BrokerError::UnknownTopicOrPartition {
                topic: name.to_owned(),
                partition: -1,
            });
        };
        let mut partitions = old.partitions.clone();
        for p in current..total {
            let dir = partition_dir(&self.config.data_dir, name, p);
            let log = Arc::new(Log::open(
                &dir,
                old.settings.log.clone(),
                Arc::clone(&self.env),
            )?);
            self.flusher.register(&log);
            partitions.push(Arc::new(Partition::new(Arc::clone(&old.name), p, log)));
        }
        let mut next = image.clone();
        next.topics[index].partitions = total;
        self.store.save(&next)?;
        *image = next;
        let updated = Topic {
            name: Arc::clone(&old.name),
            id: old.id,
            configs: old.configs.clone(),
            settings: old.settings.clone(),
            partitions,
        };
        self.topics
            .write()
            .insert(Arc::clone(&old.name), Arc::new(updated));
        tracing::info!(target: "flyq::broker", topic = name, from = current, to = total, "added partitions");
        Ok(())
    }

    /// Deletes a topic and its data.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        refuse_internal(name)?;
        let mut image = self.image.lock();
        let Some(topic) = self.topic(name) else {
            return Err(BrokerError::UnknownTopicOrPartition {
                topic: name.to_owned(),
                partition: -1,
            });
        };
        // Move the data aside first: a crash after the metadata is saved must not leave
        // directories that a topic created later under the same name would adopt.
        let trash = self
            .config
            .data_dir
            .join("topics")
            .join(format!(".deleted-{}", topic.id.simple()));
        std::fs::create_dir_all(&trash).map_err(|e| BrokerError::Metadata {
            context: format!("creating {}", trash.display()),
            source: e,
        })?;
        for partition in &topic.partitions {
            let dir = partition_dir(&self.config.data_dir, name, partition.index);
            match std::fs::rename(&dir, trash.join(partition.index.to_string())) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(BrokerError::Metadata {
                        context: format!("moving {} aside", dir.display()),
                        source: e,
                    });
                }
            }
        }
        let mut next = image.clone();
        next.topics.retain(|t| t.name != name);
        self.store.save(&next)?;
        *image = next;
        self.topics.write().remove(name);
        remove_trash(&trash);
        tracing::info!(target: "flyq::broker", topic = name, "deleted topic");
        Ok(())
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
        self.topic(topic)
            .and_then(|t| {
                usize::try_from(partition)
                    .ok()
                    .and_then(|i| t.partitions.get(i).cloned())
            })
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: topic.to_owned(),
                partition,
            })
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
        let settings = self
            .topic(topic)
            .map(|t| t.settings.clone())
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: topic.to_owned(),
                partition,
            })?;
        let partition = self.partition(topic, partition)?;
        if acks == Acks::All && settings.min_insync_replicas > IN_SYNC_REPLICAS {
            return Err(BrokerError::NotEnoughReplicas {
                required: settings.min_insync_replicas,
                in_sync: IN_SYNC_REPLICAS,
            });
        }
        let task = tokio::task::spawn_blocking(move || {
            let prepared = append_policy::prepare(&settings, batch, now_ms())?;
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

    /// Reads whole batches from a partition, up to its high watermark.
    pub fn read(&self, partition: &Partition, offset: i64, max_bytes: usize) -> Result<LogRead> {
        let log = &partition.log;
        Ok(log.read(offset, max_bytes, log.high_watermark())?)
    }

    /// Waits until the high watermark of any watched partition moves, or `timeout` passes.
    /// The receivers come from [`Partition::watch_high_watermark`], taken before reading.
    pub async fn wait_for_data(
        mut watches: Vec<tokio::sync::watch::Receiver<i64>>,
        timeout: Duration,
    ) {
        if watches.is_empty() {
            tokio::time::sleep(timeout).await;
            return;
        }
        let waits = watches.iter_mut().map(|w| Box::pin(w.changed()));
        let _ = tokio::time::timeout(timeout, futures::future::select_all(waits)).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

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

    #[test]
    fn update_topic_configs_sets_and_deletes_keys_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(BrokerConfig::new(dir.path())).unwrap();
        let initial = [("retention.ms", "60000"), ("segment.ms", "1000")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        broker.create_topic("t", 1, initial).unwrap();
        let set = [(
            "retention.bytes".to_owned(),
            ConfigChange::Set("1024".to_owned()),
        )];
        let changes = [
            set[0].clone(),
            ("segment.ms".to_owned(), ConfigChange::Delete),
        ];
        broker.update_topic_configs("t", &changes, false).unwrap();
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
            broker.update_topic_configs("t", &bad, false),
            Err(BrokerError::InvalidConfig { .. })
        ));
        assert_eq!(&broker.topic("t").unwrap().configs, &expected);
        assert!(matches!(
            broker.update_topic_configs("__consumer_offsets", &set, false),
            Err(BrokerError::InternalTopic(_))
        ));
    }
}
