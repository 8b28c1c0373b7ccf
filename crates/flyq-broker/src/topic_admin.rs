//! The operations that change topics: create, delete, reconfigure, grow; and producer id
//! allocation. Each checks what it can locally, then commits one metadata command and brings
//! the topic table in line with the new image ([`Broker::commit`]). The metadata store and
//! the table do file I/O, so a commit runs on a blocking thread: front ends just await.

use std::sync::Arc;

use flyq_meta::topic_config::{self, ConfigChange, TopicConfigs};
use flyq_meta::{Applied, MetadataCommand};
use uuid::Uuid;

use crate::broker::{Broker, Topic, refuse_internal};
use crate::error::{BrokerError, Result};
use crate::topic_name::validate_topic_name;

/// How a new topic's (or new partitions') replicas are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// This many partitions (-1: the broker's default), placed by the broker.
    Count(i32),
    /// Exactly these replicas for each partition (a manual assignment).
    Assigned(Vec<Vec<i32>>),
}

/// Producer ids are reserved in the metadata in blocks of this many.
const PRODUCER_ID_BLOCK: i64 = 1000;

impl Broker {
    /// Commits a metadata command and reconciles the topic table with the result.
    async fn commit(self: &Arc<Self>, command: MetadataCommand) -> Result<Applied> {
        let broker = Arc::clone(self);
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let applied = runtime.block_on(broker.meta.submit(command))?;
            broker.table.reconcile(&broker.meta.image())?;
            Ok(applied)
        })
        .await
        .map_err(|e| BrokerError::Metadata {
            context: "committing a metadata change".into(),
            source: std::io::Error::other(e),
        })?
    }

    /// Replica lists for `placement`: on a single node every partition is this node's.
    fn place(&self, placement: &Placement) -> Result<Vec<Vec<i32>>> {
        match placement {
            Placement::Assigned(lists) => {
                self.check_replica_assignment(lists)?;
                self.check_partition_count(lists.len())?;
                Ok(lists.clone())
            }
            Placement::Count(count) => {
                let count = if *count == -1 {
                    self.config.default_partitions
                } else {
                    *count
                };
                let n =
                    usize::try_from(count).map_err(|_| BrokerError::InvalidPartitions(count))?;
                self.check_partition_count(n)?;
                Ok(vec![vec![self.config.node_id]; n])
            }
        }
    }

    fn check_partition_count(&self, count: usize) -> Result<()> {
        let max = usize::try_from(self.config.max_partitions).unwrap_or(0);
        if !(1..=max).contains(&count) {
            return Err(BrokerError::InvalidPartitions(
                i32::try_from(count).unwrap_or(i32::MAX),
            ));
        }
        Ok(())
    }

    /// Checks what [`Broker::create_topic`] would check, without creating anything; returns
    /// each partition's replicas.
    pub fn validate_new_topic(
        &self,
        name: &str,
        placement: &Placement,
        configs: &TopicConfigs,
    ) -> Result<Vec<Vec<i32>>> {
        validate_topic_name(name)?;
        if self.topic(name).is_some() {
            return Err(BrokerError::TopicExists(name.to_owned()));
        }
        let replicas = self.place(placement)?;
        topic_config::resolve(&self.config.topic_defaults, configs)?;
        Ok(replicas)
    }

    /// Creates a topic, durably, and opens its partitions.
    pub async fn create_topic(
        self: &Arc<Self>,
        name: &str,
        placement: Placement,
        configs: TopicConfigs,
    ) -> Result<Arc<Topic>> {
        let partitions = self.validate_new_topic(name, &placement, &configs)?;
        let count = partitions.len();
        self.commit(MetadataCommand::CreateTopic {
            name: name.to_owned(),
            id: Uuid::new_v4(),
            configs,
            partitions,
        })
        .await?;
        let topic = self.topic(name).ok_or_else(|| unknown(name))?;
        tracing::info!(target: "flyq::broker", topic = name, partitions = count, id = %topic.id, "created topic");
        Ok(topic)
    }

    /// A topic by name, created with the default partition count if it does not exist and
    /// auto-creation is on. `None` if it does not exist and cannot be created.
    pub async fn topic_or_auto_create(self: &Arc<Self>, name: &str) -> Result<Option<Arc<Topic>>> {
        if let Some(topic) = self.topic(name) {
            return Ok(Some(topic));
        }
        if !self.config.auto_create_topics {
            return Ok(None);
        }
        match self
            .create_topic(name, Placement::Count(-1), TopicConfigs::new())
            .await
        {
            Ok(topic) => Ok(Some(topic)),
            Err(BrokerError::TopicExists(_)) => Ok(self.topic(name)),
            Err(e) => Err(e),
        }
    }

    /// Deletes a topic and its data.
    pub async fn delete_topic(self: &Arc<Self>, name: &str) -> Result<()> {
        refuse_internal(name)?;
        if self.topic(name).is_none() {
            return Err(unknown(name));
        }
        self.commit(MetadataCommand::DeleteTopic {
            name: name.to_owned(),
        })
        .await?;
        tracing::info!(target: "flyq::broker", topic = name, "deleted topic");
        Ok(())
    }

    /// Replaces a topic's config overrides (AlterConfigs semantics: keys not given return to
    /// their defaults), durably, and applies them to its logs at once.
    pub async fn alter_topic_configs(
        self: &Arc<Self>,
        name: &str,
        configs: TopicConfigs,
        validate_only: bool,
    ) -> Result<()> {
        self.change_topic_configs(name, validate_only, |_| Ok(configs))
            .await
    }

    /// Applies single config changes, keeping the other overrides (IncrementalAlterConfigs).
    /// The change is computed from the overrides as they are under the admin lock, so
    /// concurrent changes to other keys are not lost.
    pub async fn update_topic_configs(
        self: &Arc<Self>,
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
        .await
    }

    /// Replaces a topic's overrides with `change(current overrides)`, validated, durably.
    async fn change_topic_configs(
        self: &Arc<Self>,
        name: &str,
        validate_only: bool,
        change: impl FnOnce(&TopicConfigs) -> Result<TopicConfigs, flyq_meta::MetaError>,
    ) -> Result<()> {
        refuse_internal(name)?;
        let _one_change_at_a_time = self.admin.lock().await;
        let current = self.topic(name).ok_or_else(|| unknown(name))?;
        let configs = change(&current.configs)?;
        topic_config::resolve(&self.config.topic_defaults, &configs)?;
        if validate_only {
            return Ok(());
        }
        self.commit(MetadataCommand::SetTopicConfigs {
            name: name.to_owned(),
            configs,
        })
        .await?;
        tracing::info!(target: "flyq::broker", topic = name, "altered topic configs");
        Ok(())
    }

    /// Grows a topic to `total` partitions (CreatePartitions), placed by `assignment` (one
    /// replica list per new partition) or by the broker; partitions are never removed.
    pub async fn create_partitions(
        self: &Arc<Self>,
        name: &str,
        total: i32,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<()> {
        refuse_internal(name)?;
        let _one_change_at_a_time = self.admin.lock().await;
        let current = self.topic(name).ok_or_else(|| unknown(name))?;
        let from = i32::try_from(current.partitions.len()).unwrap_or(i32::MAX);
        if total <= from || total > self.config.max_partitions {
            return Err(BrokerError::InvalidPartitions(total));
        }
        let added = usize::try_from(total - from).unwrap_or(0);
        let partitions = match assignment {
            Some(lists) if lists.len() != added => {
                return Err(BrokerError::InvalidReplicaAssignment(format!(
                    "{} replica lists for {added} new partitions",
                    lists.len()
                )));
            }
            Some(lists) => {
                self.check_replica_assignment(&lists)?;
                lists
            }
            None => vec![vec![self.config.node_id]; added],
        };
        if validate_only {
            return Ok(());
        }
        self.commit(MetadataCommand::AddPartitions {
            name: name.to_owned(),
            partitions,
        })
        .await?;
        tracing::info!(target: "flyq::broker", topic = name, from, to = total, "added partitions");
        Ok(())
    }

    /// Hands out a producer id and epoch (InitProducerId). With `existing` (a producer that
    /// restarts its session, KIP-360), the same id comes back with the next epoch, or a new id
    /// once the epoch would overflow. Ids are reserved in blocks recorded in the metadata, so
    /// none is ever handed out twice, restarts included.
    pub async fn init_producer_id(
        self: &Arc<Self>,
        existing: Option<(i64, i16)>,
    ) -> Result<(i64, i16)> {
        let mut ids = self.producer_ids.lock().await;
        let (next, end) = *ids;
        if let Some((id, epoch)) = existing
            && (0..next).contains(&id)
            && (0..i16::MAX - 1).contains(&epoch)
        {
            return Ok((id, epoch + 1));
        }
        if next >= end {
            let applied = self
                .commit(MetadataCommand::AllocateProducerIds {
                    count: PRODUCER_ID_BLOCK,
                })
                .await?;
            if let Applied::ProducerIds { first } = applied {
                *ids = (first, first + PRODUCER_ID_BLOCK);
            }
        }
        let id = ids.0;
        ids.0 += 1;
        Ok((id, 0))
    }
}

fn unknown(name: &str) -> BrokerError {
    BrokerError::UnknownTopicOrPartition {
        topic: name.to_owned(),
        partition: -1,
    }
}
