//! [`TopicTable`]: the topics and partitions this node holds, derived from the metadata image.
//!
//! [`TopicTable::reconcile`] brings the table in line with an image: it opens the logs of new
//! topics and partitions, applies changed configs to open logs, and removes the logs of deleted
//! topics. It is idempotent, so running it after every metadata change (made here or, in
//! clustered mode, anywhere) is always right.

use std::collections::BTreeMap;
use std::sync::Arc;

use flyq_meta::topic_config::{self, TopicConfigs};
use flyq_meta::{MetadataImage, TopicImage};
use parking_lot::{Mutex, RwLock};

use crate::broker::{BrokerConfig, Topic};
use crate::error::{BrokerError, Result};
use crate::log_manager::LogManager;
use crate::partition::Partition;

/// The open topics of this node.
#[derive(Debug)]
pub(crate) struct TopicTable {
    topic_defaults: TopicConfigs,
    logs: LogManager,
    topics: RwLock<BTreeMap<Arc<str>, Arc<Topic>>>,
    /// Held while the table is brought in line with an image.
    reconciling: Mutex<()>,
}

impl TopicTable {
    pub fn new(config: &BrokerConfig, logs: LogManager) -> Self {
        Self {
            topic_defaults: config.topic_defaults.clone(),
            logs,
            topics: RwLock::new(BTreeMap::new()),
            reconciling: Mutex::new(()),
        }
    }

    /// All topics, by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics.read().values().cloned().collect()
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
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

    /// Brings the table in line with `image` (blocking: opens and removes files).
    pub fn reconcile(&self, image: &MetadataImage) -> Result<()> {
        let _one_at_a_time = self.reconciling.lock();
        let open = self.topics.read().clone();
        for (name, wanted) in &image.topics {
            let next = match open.get(name.as_str()) {
                Some(current) if current.id == wanted.id => self.update(current, wanted)?,
                Some(stale) => {
                    // Deleted and created again under the same name: a new topic.
                    self.remove(stale)?;
                    Some(self.open_topic(wanted)?)
                }
                None => Some(self.open_topic(wanted)?),
            };
            if let Some(topic) = next {
                self.topics.write().insert(Arc::clone(&topic.name), topic);
            }
        }
        for (name, stale) in &open {
            if !image.topics.contains_key(name.as_ref()) {
                self.remove(stale)?;
            }
        }
        Ok(())
    }

    /// Opens (recovering) every partition log of a topic.
    fn open_topic(&self, wanted: &TopicImage) -> Result<Arc<Topic>> {
        let settings = topic_config::resolve(&self.topic_defaults, &wanted.configs)?;
        let name: Arc<str> = Arc::from(wanted.name.as_str());
        let partitions = self.open_partitions(&name, wanted, 0, &settings.log)?;
        tracing::debug!(target: "flyq::broker", topic = %name, partitions = partitions.len(), id = %wanted.id, "opened topic");
        Ok(Arc::new(Topic {
            name,
            id: wanted.id,
            configs: wanted.configs.clone(),
            settings,
            partitions,
        }))
    }

    fn open_partitions(
        &self,
        name: &Arc<str>,
        wanted: &TopicImage,
        from: usize,
        config: &flyq_log::LogConfig,
    ) -> Result<Vec<Arc<Partition>>> {
        wanted
            .partitions
            .iter()
            .enumerate()
            .skip(from)
            .map(|(index, placement)| {
                let index = i32::try_from(index).unwrap_or(i32::MAX);
                let log = self.logs.open_log(name, index, config.clone())?;
                Ok(Arc::new(Partition::new(
                    Arc::clone(name),
                    index,
                    log,
                    placement.clone(),
                )))
            })
            .collect()
    }

    /// The topic changed in place (configs, partition count): the updated topic, or `None`
    /// if nothing changed.
    fn update(&self, current: &Arc<Topic>, wanted: &TopicImage) -> Result<Option<Arc<Topic>>> {
        for (partition, placement) in current.partitions.iter().zip(&wanted.partitions) {
            partition.set_placement(placement);
        }
        let grown = wanted.partitions.len() > current.partitions.len();
        if current.configs == wanted.configs && !grown {
            return Ok(None);
        }
        let settings = topic_config::resolve(&self.topic_defaults, &wanted.configs)?;
        if settings.log != current.settings.log {
            for partition in &current.partitions {
                partition.log.set_config(settings.log.clone())?;
            }
        }
        let mut partitions = current.partitions.clone();
        partitions.extend(self.open_partitions(
            &current.name,
            wanted,
            current.partitions.len(),
            &settings.log,
        )?);
        Ok(Some(Arc::new(Topic {
            name: Arc::clone(&current.name),
            id: current.id,
            configs: wanted.configs.clone(),
            settings,
            partitions,
        })))
    }

    /// Drops a deleted topic and removes its logs.
    fn remove(&self, stale: &Arc<Topic>) -> Result<()> {
        self.topics.write().remove(stale.name.as_ref());
        let partitions = i32::try_from(stale.partitions.len()).unwrap_or(i32::MAX);
        self.logs.remove_topic(&stale.name, stale.id, partitions)?;
        tracing::info!(target: "flyq::broker", topic = %stale.name, id = %stale.id, "removed topic data");
        Ok(())
    }
}
