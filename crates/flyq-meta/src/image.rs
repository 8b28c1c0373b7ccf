//! The metadata image and the commands that change it.
//!
//! [`MetadataImage::apply`] is the whole state machine: deterministic, no I/O, no clock. A
//! command carries every choice made for it (a new topic's id, its replica placement) so that
//! applying it again, on this node after a restart or on another node, gives the same image.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{MetaError, Result};
use crate::topic_config::TopicConfigs;

/// One partition's placement and leadership.
///
/// Invariants: `leader` is in `replicas` (or -1 when no replica can lead); `isr` is a subset of
/// `replicas` holding the leader; `leader_epoch` grows with every leader change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionImage {
    /// Nodes holding a replica, preferred leader first.
    pub replicas: Vec<i32>,
    /// The node leading the partition.
    pub leader: i32,
    /// Epoch of the current leadership.
    pub leader_epoch: i32,
    /// Replicas in sync with the leader.
    pub isr: Vec<i32>,
}

impl PartitionImage {
    /// A new partition on `replicas`, led by the first.
    pub fn new(replicas: Vec<i32>) -> Self {
        Self {
            leader: replicas.first().copied().unwrap_or(-1),
            leader_epoch: 0,
            isr: replicas.clone(),
            replicas,
        }
    }
}

/// A topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    /// Name.
    pub name: String,
    /// Kafka's topic UUID.
    pub id: Uuid,
    /// Config overrides by Kafka name.
    #[serde(default)]
    pub configs: TopicConfigs,
    /// Partitions by index.
    pub partitions: Vec<PartitionImage>,
}

/// The cluster's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataImage {
    /// The cluster id, chosen when the cluster was first started.
    pub cluster_id: String,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicImage>,
    /// Producer ids below this were (possibly) handed out; the next block starts here.
    pub producer_id_block_end: i64,
}

/// A change to the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataCommand {
    /// Creates a topic; `partitions` holds each partition's replicas.
    CreateTopic {
        /// Name (already checked by the caller).
        name: String,
        /// Its new id.
        id: Uuid,
        /// Config overrides (already checked against the registry).
        configs: TopicConfigs,
        /// Replicas of each partition.
        partitions: Vec<Vec<i32>>,
    },
    /// Deletes a topic.
    DeleteTopic {
        /// Name.
        name: String,
    },
    /// Replaces a topic's config overrides.
    SetTopicConfigs {
        /// Name.
        name: String,
        /// The new overrides (already checked against the registry).
        configs: TopicConfigs,
    },
    /// Adds partitions to a topic; `partitions` holds the replicas of each new one.
    AddPartitions {
        /// Name.
        name: String,
        /// Replicas of each new partition.
        partitions: Vec<Vec<i32>>,
    },
    /// Reserves a block of `count` producer ids.
    AllocateProducerIds {
        /// Ids in the block.
        count: i64,
    },
}

/// What applying a command produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Nothing beyond the change itself.
    Done,
    /// The first producer id of a reserved block (`count` ids from here).
    ProducerIds {
        /// First id of the block.
        first: i64,
    },
}

impl MetadataImage {
    /// A new cluster's image.
    pub fn new(cluster_id: String) -> Self {
        Self {
            cluster_id,
            ..Self::default()
        }
    }

    /// Applies `command`, or leaves the image unchanged and says why not.
    pub fn apply(&mut self, command: &MetadataCommand) -> Result<Applied> {
        match command {
            MetadataCommand::CreateTopic {
                name,
                id,
                configs,
                partitions,
            } => {
                if self.topics.contains_key(name) {
                    return Err(MetaError::TopicExists(name.clone()));
                }
                if partitions.is_empty() {
                    return Err(MetaError::InvalidPartitions {
                        topic: name.clone(),
                        reason: "a topic needs at least one partition".into(),
                    });
                }
                self.topics.insert(
                    name.clone(),
                    TopicImage {
                        name: name.clone(),
                        id: *id,
                        configs: configs.clone(),
                        partitions: partitions
                            .iter()
                            .cloned()
                            .map(PartitionImage::new)
                            .collect(),
                    },
                );
            }
            MetadataCommand::DeleteTopic { name } => {
                self.topics
                    .remove(name)
                    .ok_or_else(|| MetaError::UnknownTopic(name.clone()))?;
            }
            MetadataCommand::SetTopicConfigs { name, configs } => {
                self.topic_mut(name)?.configs = configs.clone();
            }
            MetadataCommand::AddPartitions { name, partitions } => {
                if partitions.is_empty() {
                    return Err(MetaError::InvalidPartitions {
                        topic: name.clone(),
                        reason: "no partitions to add".into(),
                    });
                }
                self.topic_mut(name)?
                    .partitions
                    .extend(partitions.iter().cloned().map(PartitionImage::new));
            }
            MetadataCommand::AllocateProducerIds { count } => {
                let first = self.producer_id_block_end;
                self.producer_id_block_end = first.saturating_add((*count).max(1));
                return Ok(Applied::ProducerIds { first });
            }
        }
        Ok(Applied::Done)
    }

    fn topic_mut(&mut self, name: &str) -> Result<&mut TopicImage> {
        self.topics
            .get_mut(name)
            .ok_or_else(|| MetaError::UnknownTopic(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(name: &str, partitions: usize) -> MetadataCommand {
        MetadataCommand::CreateTopic {
            name: name.into(),
            id: Uuid::new_v4(),
            configs: TopicConfigs::new(),
            partitions: vec![vec![1]; partitions],
        }
    }

    #[test]
    fn commands_change_the_image_or_leave_it_as_it_was() {
        let mut image = MetadataImage::new("c".into());
        image.apply(&create("t", 2)).unwrap();
        let before = image.clone();
        assert!(matches!(
            image.apply(&create("t", 1)),
            Err(MetaError::TopicExists(_))
        ));
        assert!(matches!(
            image.apply(&MetadataCommand::DeleteTopic { name: "x".into() }),
            Err(MetaError::UnknownTopic(_))
        ));
        assert_eq!(image, before);
        image
            .apply(&MetadataCommand::AddPartitions {
                name: "t".into(),
                partitions: vec![vec![1]],
            })
            .unwrap();
        let topic = &image.topics["t"];
        assert_eq!(topic.partitions.len(), 3);
        assert_eq!(topic.partitions[2], PartitionImage::new(vec![1]));
        assert_eq!(topic.partitions[2].leader, 1);
        image
            .apply(&MetadataCommand::DeleteTopic { name: "t".into() })
            .unwrap();
        assert!(image.topics.is_empty());
    }

    #[test]
    fn producer_id_blocks_never_overlap() {
        let mut image = MetadataImage::new("c".into());
        let first = image
            .apply(&MetadataCommand::AllocateProducerIds { count: 1000 })
            .unwrap();
        let second = image
            .apply(&MetadataCommand::AllocateProducerIds { count: 1000 })
            .unwrap();
        assert_eq!(first, Applied::ProducerIds { first: 0 });
        assert_eq!(second, Applied::ProducerIds { first: 1000 });
        assert_eq!(image.producer_id_block_end, 2000);
    }
}
