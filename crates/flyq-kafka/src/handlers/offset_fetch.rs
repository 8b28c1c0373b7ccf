//! OffsetFetch (9): a group's committed offsets (-1 where none). v8+ asks for several groups.

use bytes::Bytes;
use flyq_broker::GroupCoordinator;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::{Close, Request, str_bytes};

type Wanted = Option<Vec<(String, Vec<i32>)>>;

/// A committed position as the response carries it: (partition, offset, leader epoch, metadata),
/// with -1s where nothing is committed.
struct Position {
    partition: i32,
    offset: i64,
    epoch: i32,
    metadata: String,
}

/// The group's offsets grouped by topic.
fn lookup(groups: &GroupCoordinator, group: &str, wanted: Wanted) -> Vec<(String, Vec<Position>)> {
    let mut by_topic: Vec<(String, Vec<Position>)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (topic, partition, committed) in groups.committed(group, wanted) {
        let (offset, epoch, metadata) = committed.map_or((-1, -1, String::new()), |c| {
            (c.offset, c.leader_epoch, c.metadata)
        });
        let position = Position {
            partition,
            offset,
            epoch,
            metadata,
        };
        match index.get(&topic) {
            Some(&i) => by_topic[i].1.push(position),
            None => {
                index.insert(topic.clone(), by_topic.len());
                by_topic.push((topic, vec![position]));
            }
        }
    }
    by_topic
}

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: OffsetFetchRequest = request.decode()?;
    let version = request.version;
    let groups = request.context.broker.groups();
    if version >= 8 {
        let results = req
            .groups
            .into_iter()
            .map(|g| {
                let wanted = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.as_str().to_owned(), t.partition_indexes))
                        .collect()
                });
                let topics = lookup(groups, g.group_id.as_str(), wanted)
                    .into_iter()
                    .map(|(topic, partitions)| {
                        let partitions = partitions
                            .into_iter()
                            .map(|p| {
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(p.partition)
                                    .with_committed_offset(p.offset)
                                    .with_committed_leader_epoch(p.epoch)
                                    .with_metadata(Some(str_bytes(p.metadata)))
                            })
                            .collect();
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(str_bytes(topic)))
                            .with_partitions(partitions)
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_topics(topics)
            })
            .collect();
        return request.respond(&OffsetFetchResponse::default().with_groups(results));
    }
    let wanted = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.as_str().to_owned(), t.partition_indexes))
            .collect()
    });
    let topics = lookup(groups, req.group_id.as_str(), wanted)
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|p| {
                    let partition = OffsetFetchResponsePartition::default()
                        .with_partition_index(p.partition)
                        .with_committed_offset(p.offset)
                        .with_metadata(Some(str_bytes(p.metadata)));
                    if version >= 5 {
                        partition.with_committed_leader_epoch(p.epoch)
                    } else {
                        partition
                    }
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(topic)))
                .with_partitions(partitions)
        })
        .collect();
    request.respond(&OffsetFetchResponse::default().with_topics(topics))
}
