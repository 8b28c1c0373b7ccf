//! Offset lookups and group offset storage, shared by the consumer and the admin client:
//! ListOffsets (per partition leader), FindCoordinator, OffsetFetch and OffsetCommit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    BrokerId, GroupId, ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::cluster::Cluster;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::types::{OffsetSpec, TopicPartition};

/// Attempts for operations that fail with retriable errors (coordinator moving, leader unknown).
const ATTEMPTS: usize = 10;

pub(crate) fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

pub(crate) fn group_id(s: &str) -> GroupId {
    GroupId(StrBytes::from_string(s.to_owned()))
}

/// Retries `op` while it fails with a retriable error, refreshing between attempts the metadata
/// of `topics` (the brokers only when there are none: coordinators are looked up anew by `op`).
pub(crate) async fn with_retries<T, F, Fut>(
    cluster: &Cluster,
    topics: &[String],
    mut op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if e.is_retriable() && attempt + 1 < ATTEMPTS => {
                attempt += 1;
                tracing::debug!(target: "flyq_client", error = %e, attempt, "retrying");
                let wait = cluster
                    .config
                    .reconnect_backoff
                    .saturating_mul(1 << attempt.min(5));
                tokio::time::sleep(wait.min(cluster.config.reconnect_backoff_max)).await;
                if matches!(e, Error::NoBrokerReachable { .. }) {
                    // Nothing to ask.
                } else if topics.is_empty() {
                    let _ = cluster.refresh_brokers().await;
                } else {
                    let _ = cluster.refresh_metadata(topics, false).await;
                }
            }
            other => return other,
        }
    }
}

/// A leader's connection and the partitions to look up there, by topic.
type LeaderRequest = (Arc<Connection>, BTreeMap<String, Vec<ListOffsetsPartition>>);

/// Offset (and its record timestamp, -1 if none) of each partition per `spec`.
pub(crate) async fn list_offsets(
    cluster: &Cluster,
    partitions: &[(TopicPartition, OffsetSpec)],
) -> Result<HashMap<TopicPartition, (i64, i64)>> {
    let mut topics: Vec<String> = partitions.iter().map(|(tp, _)| tp.topic.clone()).collect();
    topics.sort();
    topics.dedup();
    with_retries(cluster, &topics, || list_offsets_once(cluster, partitions)).await
}

async fn list_offsets_once(
    cluster: &Cluster,
    partitions: &[(TopicPartition, OffsetSpec)],
) -> Result<HashMap<TopicPartition, (i64, i64)>> {
    let mut by_leader: BTreeMap<i32, LeaderRequest> = BTreeMap::new();
    for (tp, spec) in partitions {
        let (node, conn) = cluster.leader(&tp.topic, tp.partition).await?;
        by_leader
            .entry(node)
            .or_insert_with(|| (conn, BTreeMap::new()))
            .1
            .entry(tp.topic.clone())
            .or_default()
            .push(
                ListOffsetsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(spec.wire()),
            );
    }
    let mut out = HashMap::new();
    for (_, (conn, topics)) in by_leader {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(topic_name(&t))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let response = conn.send(&request).await?;
        for t in response.topics {
            for p in t.partitions {
                let tp = TopicPartition::new(t.name.0.as_str(), p.partition_index);
                Error::check(p.error_code, || format!("ListOffsets for {tp}"))?;
                out.insert(tp, (p.offset, p.timestamp));
            }
        }
    }
    Ok(out)
}

/// The connection to `group`'s coordinator.
pub(crate) async fn coordinator(cluster: &Cluster, group: &str) -> Result<Arc<Connection>> {
    with_retries(cluster, &[], || async {
        let conn = cluster.any().await?;
        let response = conn
            .send(
                &FindCoordinatorRequest::default()
                    .with_key(StrBytes::from_string(group.to_owned()))
                    .with_key_type(0),
            )
            .await?;
        Error::check(response.error_code, || {
            format!("FindCoordinator for group {group}")
        })?;
        cluster
            .connection_to(&format!("{}:{}", response.host.as_str(), response.port))
            .await
    })
    .await
}

/// Committed offsets of `group` (only partitions with a commit); all partitions when `filter`
/// is `None`.
pub(crate) async fn fetch_committed(
    conn: &Connection,
    group: &str,
    filter: Option<&[TopicPartition]>,
) -> Result<BTreeMap<TopicPartition, i64>> {
    let topics = filter.map(|tps| {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in tps {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                OffsetFetchRequestTopic::default()
                    .with_name(topic_name(t))
                    .with_partition_indexes(ps)
            })
            .collect()
    });
    let response = conn
        .send(
            &OffsetFetchRequest::default()
                .with_group_id(group_id(group))
                .with_topics(topics),
        )
        .await?;
    Error::check(response.error_code, || {
        format!("OffsetFetch for group {group}")
    })?;
    let mut out = BTreeMap::new();
    for t in response.topics {
        for p in t.partitions {
            let tp = TopicPartition::new(t.name.0.as_str(), p.partition_index);
            Error::check(p.error_code, || {
                format!("OffsetFetch for group {group} {tp}")
            })?;
            if p.committed_offset >= 0 {
                out.insert(tp, p.committed_offset);
            }
        }
    }
    Ok(out)
}

/// Commits `offsets` (the next offset to consume, per partition) for `group`. A consumer that
/// is not a group member passes generation -1 and an empty member id.
pub(crate) async fn commit(
    conn: &Connection,
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &BTreeMap<TopicPartition, i64>,
) -> Result<()> {
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, offset) in offsets {
        by_topic.entry(&tp.topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(*offset)
                .with_committed_leader_epoch(-1),
        );
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(StrBytes::from_string(member_id.to_owned()))
        .with_retention_time_ms(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let response = conn.send(&request).await?;
    for t in response.topics {
        for p in t.partitions {
            Error::check(p.error_code, || {
                format!(
                    "OffsetCommit for group {group} {}/{}",
                    t.name.0.as_str(),
                    p.partition_index
                )
            })?;
        }
    }
    Ok(())
}
