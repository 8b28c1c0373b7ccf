//! The admin client: topics, partitions, configs, consumer groups, offsets and the cluster.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteGroupsRequest, DeleteTopicsRequest,
    DescribeClusterRequest, DescribeConfigsRequest, DescribeGroupsRequest,
    IncrementalAlterConfigsRequest, ListGroupsRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::cluster::Cluster;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::offsets::{self, group_id, topic_name, with_retries};
use crate::types::{OffsetSpec, TopicPartition};
use flyq_protocol::consumer_protocol::decode_assignment;

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Number of partitions (-1: the broker's default).
    pub partitions: i32,
    /// Replication factor (-1: the broker's default).
    pub replication_factor: i16,
    /// Topic configs, e.g. ("retention.ms", "3600000").
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `partitions` partitions and the broker's default replication.
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        Self {
            name: name.into(),
            partitions,
            replication_factor: -1,
            configs: Vec::new(),
        }
    }

    /// Adds a topic config.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// A partition as described by the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// Partition index.
    pub partition: i32,
    /// Leader node id (-1 if none).
    pub leader: i32,
    /// Replica node ids.
    pub replicas: Vec<i32>,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
}

/// A topic as described by the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// Topic name.
    pub name: String,
    /// Whether it is an internal topic (e.g. `__consumer_offsets`).
    pub internal: bool,
    /// Partitions sorted by index.
    pub partitions: Vec<PartitionDescription>,
}

/// Something that has configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigResource {
    /// A topic's configs.
    Topic(String),
    /// A broker's configs.
    Broker(i32),
}

impl ConfigResource {
    fn wire(&self) -> (i8, StrBytes) {
        match self {
            ConfigResource::Topic(t) => (2, StrBytes::from_string(t.clone())),
            ConfigResource::Broker(id) => (4, StrBytes::from_string(id.to_string())),
        }
    }
}

/// One config value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Value (`None` if unset or sensitive).
    pub value: Option<String>,
    /// Whether it cannot be changed.
    pub read_only: bool,
    /// Whether the value is at its default.
    pub is_default: bool,
    /// Whether the value is hidden.
    pub sensitive: bool,
}

/// An incremental config change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Sets `key` to `value`.
    Set(String, String),
    /// Resets `key` to its default.
    Delete(String),
    /// Appends `value` to the list config `key`.
    Append(String, String),
    /// Removes `value` from the list config `key`.
    Subtract(String, String),
}

impl AlterConfigOp {
    fn wire(&self) -> AlterableConfig {
        let (op, key, value) = match self {
            AlterConfigOp::Set(k, v) => (0, k, Some(v)),
            AlterConfigOp::Delete(k) => (1, k, None),
            AlterConfigOp::Append(k, v) => (2, k, Some(v)),
            AlterConfigOp::Subtract(k, v) => (3, k, Some(v)),
        };
        AlterableConfig::default()
            .with_name(StrBytes::from_string(key.clone()))
            .with_config_operation(op)
            .with_value(value.map(|v| StrBytes::from_string(v.clone())))
    }
}

/// A group as listed by the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// "consumer" for consumer groups.
    pub protocol_type: String,
    /// State, e.g. "Stable" or "Empty" (empty if the broker does not say).
    pub state: String,
}

/// A member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// Member id given by the coordinator.
    pub member_id: String,
    /// The member's client id.
    pub client_id: String,
    /// The member's host.
    pub client_host: String,
    /// Partitions assigned to it (decoded for consumer groups).
    pub assignment: Vec<TopicPartition>,
}

/// A group as described by its coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// State, e.g. "Stable", "Empty", "Dead".
    pub state: String,
    /// Protocol type ("consumer").
    pub protocol_type: String,
    /// The chosen assignor, e.g. "range".
    pub protocol: String,
    /// Current members.
    pub members: Vec<GroupMember>,
}

/// A broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerDescription {
    /// Node id.
    pub id: i32,
    /// Host.
    pub host: String,
    /// Port.
    pub port: i32,
}

/// The cluster as described by DescribeCluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// Cluster id.
    pub cluster_id: String,
    /// Controller node id.
    pub controller: i32,
    /// Brokers.
    pub brokers: Vec<BrokerDescription>,
}

/// The result of an offset lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset (-1 if no record matches a timestamp lookup).
    pub offset: i64,
    /// The record timestamp for timestamp lookups, else -1.
    pub timestamp: i64,
}

/// Admin client. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Admin {
    cluster: Arc<Cluster>,
}

fn each_ok<'a>(
    results: impl IntoIterator<Item = (&'a str, i16, Option<&'a StrBytes>)>,
    what: &str,
) -> Result<()> {
    for (name, code, message) in results {
        Error::check(code, || match message {
            Some(m) => format!("{what} {name} ({m})"),
            None => format!("{what} {name}"),
        })?;
    }
    Ok(())
}

impl Admin {
    /// An admin client for the cluster in `config`; connects on first use.
    pub fn new(config: ClientConfig) -> Result<Self> {
        Ok(Self {
            cluster: Cluster::new(config)?,
        })
    }

    fn timeout_ms(&self) -> i32 {
        i32::try_from(self.cluster.config.request_timeout.as_millis()).unwrap_or(i32::MAX)
    }

    /// Creates topics; fails with the first topic's error (e.g. TOPIC_ALREADY_EXISTS).
    pub async fn create_topics(&self, topics: &[NewTopic]) -> Result<()> {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_topics(
                topics
                    .iter()
                    .map(|t| {
                        CreatableTopic::default()
                            .with_name(topic_name(&t.name))
                            .with_num_partitions(t.partitions)
                            .with_replication_factor(t.replication_factor)
                            .with_configs(
                                t.configs
                                    .iter()
                                    .map(|(k, v)| {
                                        CreatableTopicConfig::default()
                                            .with_name(StrBytes::from_string(k.clone()))
                                            .with_value(Some(StrBytes::from_string(v.clone())))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let response = self.cluster.controller().await?.send(&request).await?;
        each_ok(
            response
                .topics
                .iter()
                .map(|t| (t.name.0.as_str(), t.error_code, t.error_message.as_ref())),
            "CreateTopics",
        )?;
        self.cluster.refresh_metadata(&[], false).await
    }

    /// Deletes topics.
    pub async fn delete_topics(&self, topics: &[&str]) -> Result<()> {
        let request = DeleteTopicsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_topic_names(topics.iter().map(|t| topic_name(t)).collect());
        let response = self.cluster.controller().await?.send(&request).await?;
        each_ok(
            response.responses.iter().map(|t| {
                (
                    t.name.as_ref().map_or("?", |n| n.0.as_str()),
                    t.error_code,
                    t.error_message.as_ref(),
                )
            }),
            "DeleteTopics",
        )?;
        self.cluster.refresh_metadata(&[], false).await
    }

    /// Names of all topics, sorted.
    pub async fn list_topics(&self) -> Result<Vec<String>> {
        self.cluster.refresh_metadata(&[], false).await?;
        let mut names: Vec<String> = self.cluster.metadata().topics.keys().cloned().collect();
        names.sort();
        Ok(names)
    }

    /// Describes topics; an unknown topic is an [`Error::UnknownPartition`] error.
    pub async fn describe_topics(&self, topics: &[&str]) -> Result<Vec<TopicDescription>> {
        let names: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        self.cluster.refresh_metadata(&names, false).await?;
        let md = self.cluster.metadata();
        names
            .iter()
            .map(|name| {
                let t = md.topics.get(name).ok_or_else(|| Error::UnknownPartition {
                    topic: name.clone(),
                    partition: -1,
                })?;
                Error::check(t.error, || format!("describing topic {name}"))?;
                Ok(TopicDescription {
                    name: name.clone(),
                    internal: t.internal,
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| PartitionDescription {
                            partition: p.id,
                            leader: p.leader,
                            replicas: p.replicas.clone(),
                            isr: p.isr.clone(),
                        })
                        .collect(),
                })
            })
            .collect()
    }

    /// Grows `topic` to `total` partitions.
    pub async fn create_partitions(&self, topic: &str, total: i32) -> Result<()> {
        let request = CreatePartitionsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(topic_name(topic))
                    .with_count(total),
            ]);
        let response = self.cluster.controller().await?.send(&request).await?;
        each_ok(
            response
                .results
                .iter()
                .map(|t| (t.name.0.as_str(), t.error_code, t.error_message.as_ref())),
            "CreatePartitions",
        )?;
        self.cluster
            .refresh_metadata(&[topic.to_owned()], false)
            .await
    }

    /// All configs of `resource`, by name.
    pub async fn describe_configs(
        &self,
        resource: &ConfigResource,
    ) -> Result<BTreeMap<String, ConfigEntry>> {
        let (kind, name) = resource.wire();
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(name)
                // None asks for every key; the codec's default is an empty list.
                .with_configuration_keys(None),
        ]);
        let response = self.cluster.controller().await?.send(&request).await?;
        let mut out = BTreeMap::new();
        for r in response.results {
            Error::check(r.error_code, || format!("DescribeConfigs {resource:?}"))?;
            for c in r.configs {
                out.insert(
                    c.name.to_string(),
                    ConfigEntry {
                        value: c.value.map(|v| v.to_string()),
                        read_only: c.read_only,
                        // 5 = DEFAULT_CONFIG in DescribeConfigs v1+.
                        is_default: c.config_source == 5,
                        sensitive: c.is_sensitive,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Applies incremental config changes to `resource`.
    pub async fn alter_configs(
        &self,
        resource: &ConfigResource,
        ops: &[AlterConfigOp],
    ) -> Result<()> {
        let (kind, name) = resource.wire();
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(name)
                .with_configs(ops.iter().map(AlterConfigOp::wire).collect()),
        ]);
        let response = self.cluster.controller().await?.send(&request).await?;
        each_ok(
            response.responses.iter().map(|r| {
                (
                    r.resource_name.as_str(),
                    r.error_code,
                    r.error_message.as_ref(),
                )
            }),
            "IncrementalAlterConfigs",
        )
    }

    /// Every group in the cluster: each broker is asked for the groups it coordinates.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>> {
        // Each broker lists the groups it coordinates: ask them all.
        self.cluster.refresh_brokers().await?;
        let brokers: Vec<i32> = self.cluster.metadata().brokers.keys().copied().collect();
        let mut groups = Vec::new();
        for broker in brokers {
            let response = self
                .cluster
                .broker(broker)
                .await?
                .send(&ListGroupsRequest::default())
                .await?;
            Error::check(response.error_code, || {
                format!("ListGroups on broker {broker}")
            })?;
            groups.extend(response.groups.into_iter().map(|g| GroupListing {
                group_id: g.group_id.0.to_string(),
                protocol_type: g.protocol_type.to_string(),
                state: g.group_state.to_string(),
            }));
        }
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(groups)
    }

    /// Describes one group.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        let conn = offsets::coordinator(&self.cluster, group).await?;
        let response = conn
            .send(&DescribeGroupsRequest::default().with_groups(vec![group_id(group)]))
            .await?;
        let g = response
            .groups
            .into_iter()
            .next()
            .ok_or_else(|| Error::Protocol {
                addr: conn.addr().to_owned(),
                what: "DescribeGroups answered without the group".to_owned(),
            })?;
        Error::check(g.error_code, || format!("DescribeGroups {group}"))?;
        let consumer = g.protocol_type.as_str() == "consumer";
        let members = g
            .members
            .into_iter()
            .map(|m| {
                Ok(GroupMember {
                    member_id: m.member_id.to_string(),
                    client_id: m.client_id.to_string(),
                    client_host: m.client_host.to_string(),
                    assignment: if consumer {
                        decode_assignment(m.member_assignment)?
                    } else {
                        Vec::new()
                    },
                })
            })
            .collect::<Result<_>>()?;
        Ok(GroupDescription {
            group_id: group.to_owned(),
            state: g.group_state.to_string(),
            protocol_type: g.protocol_type.to_string(),
            protocol: g.protocol_data.to_string(),
            members,
        })
    }

    /// Deletes groups (they must have no members).
    pub async fn delete_groups(&self, groups: &[&str]) -> Result<()> {
        for group in groups {
            let conn = offsets::coordinator(&self.cluster, group).await?;
            let response = conn
                .send(&DeleteGroupsRequest::default().with_groups_names(vec![group_id(group)]))
                .await?;
            each_ok(
                response
                    .results
                    .iter()
                    .map(|r| (r.group_id.0.as_str(), r.error_code, None)),
                "DeleteGroups",
            )?;
        }
        Ok(())
    }

    /// Committed offsets of `group`.
    pub async fn list_group_offsets(&self, group: &str) -> Result<BTreeMap<TopicPartition, i64>> {
        with_retries(&self.cluster, &[], || async {
            let conn = offsets::coordinator(&self.cluster, group).await?;
            offsets::fetch_committed(&conn, group, None).await
        })
        .await
    }

    /// Commits `offsets` for `group` (a reset); the group must have no active members.
    pub async fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<()> {
        with_retries(&self.cluster, &[], || async {
            let conn = offsets::coordinator(&self.cluster, group).await?;
            offsets::commit(&conn, group, -1, "", offsets).await
        })
        .await
    }

    /// Looks up offsets per partition.
    pub async fn list_offsets(
        &self,
        partitions: &[(TopicPartition, OffsetSpec)],
    ) -> Result<HashMap<TopicPartition, ListedOffset>> {
        Ok(offsets::list_offsets(&self.cluster, partitions)
            .await?
            .into_iter()
            .map(|(tp, (offset, timestamp))| (tp, ListedOffset { offset, timestamp }))
            .collect())
    }

    /// Describes the cluster.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let response = self
            .cluster
            .any()
            .await?
            .send(&DescribeClusterRequest::default())
            .await?;
        Error::check(response.error_code, || "DescribeCluster".to_owned())?;
        Ok(ClusterDescription {
            cluster_id: response.cluster_id.to_string(),
            controller: response.controller_id.0,
            brokers: response
                .brokers
                .iter()
                .map(|b| BrokerDescription {
                    id: b.broker_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                })
                .collect(),
        })
    }
}
