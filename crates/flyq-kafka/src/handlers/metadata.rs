//! Metadata (3): brokers, and topics with their partitions, leaders and topic ids.
//!
//! Each partition's leader, leader epoch, replicas and in-sync replicas come from its
//! [`flyq_broker::PartitionView`] (on a single node: this node, epoch 0).
//! Topics asked for by name are auto-created when the client allows it (v4+) and the broker
//! is configured to. Authorized operations (v8+) are returned when asked for (see
//! `kafka/authorized.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use flyq_broker::{Topic, validate_topic_name};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::{Close, Request, str_bytes};
use crate::authorized::{Resource, authorized_operations};
use crate::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: MetadataRequest = request.decode()?;
    let broker = &request.context.broker;
    let node = broker.node_id();
    // v0: an empty list means every topic; v1+: null means every topic.
    let wanted = match req.topics {
        None => None,
        Some(list) if list.is_empty() && request.version == 0 => None,
        Some(list) => Some(list),
    };
    let allow_auto_create = request.version < 4 || req.allow_auto_topic_creation;
    // The codec decodes these flags only at the versions whose response carries the fields.
    let (include_topic_operations, include_cluster_operations) = (
        req.include_topic_authorized_operations,
        req.include_cluster_authorized_operations,
    );
    let mut topics = Vec::new();
    match wanted {
        None => {
            for topic in broker.topics() {
                topics.push(describe(&topic, request.version));
            }
        }
        Some(list) => {
            // Topics asked for by id (v10+) are found through one map, built on first need.
            let mut by_id: Option<HashMap<_, _>> = None;
            for wanted in list {
                let found = match &wanted.name {
                    Some(name) => lookup(request.context, name.as_str(), allow_auto_create).await,
                    None if request.version < 10 => Ok(None),
                    None => Ok(by_id
                        .get_or_insert_with(|| {
                            broker.topics().into_iter().map(|t| (t.id, t)).collect()
                        })
                        .get(&wanted.topic_id)
                        .cloned()),
                };
                let entry = match found {
                    Ok(Some(topic)) => describe(&topic, request.version),
                    // Asked by name: unknown topic. Asked by id (v10+): unknown id, and a name
                    // field that v10-11 cannot leave null.
                    Ok(None) => match &wanted.name {
                        Some(name) => MetadataResponseTopic::default()
                            .with_name(Some(name.clone()))
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code()),
                        None => MetadataResponseTopic::default()
                            .with_name(Some(TopicName(str_bytes(""))))
                            .with_topic_id(wanted.topic_id)
                            .with_error_code(ResponseError::UnknownTopicId.code()),
                    },
                    Err(code) => MetadataResponseTopic::default()
                        .with_name(wanted.name.clone())
                        .with_error_code(code),
                };
                topics.push(entry);
            }
        }
    }
    if include_topic_operations {
        // As Kafka does: for every topic answered by name, found or not (creating it may be
        // allowed); not for an unknown topic id, which names no resource.
        let unknown_id = ResponseError::UnknownTopicId.code();
        for topic in topics.iter_mut().filter(|t| t.error_code != unknown_id) {
            topic.topic_authorized_operations = authorized_operations(Resource::Topic);
        }
    }
    let (host, port) = &request.context.config.advertised;
    let mut response = MetadataResponse::default()
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(node))
                .with_host(str_bytes(host.clone()))
                .with_port(i32::from(*port)),
        ])
        .with_topics(topics);
    if request.version >= 1 {
        response = response.with_controller_id(BrokerId(node));
    }
    if request.version >= 2 {
        response = response.with_cluster_id(Some(str_bytes(broker.cluster_id())));
    }
    if include_cluster_operations {
        response =
            response.with_cluster_authorized_operations(authorized_operations(Resource::Cluster));
    }
    request.respond(&response)
}

async fn lookup(
    context: &crate::Context,
    name: &str,
    auto_create: bool,
) -> Result<Option<Arc<Topic>>, i16> {
    validate_topic_name(name).map_err(|e| error_code(&e))?;
    if auto_create {
        context
            .broker
            .topic_or_auto_create(name)
            .await
            .map_err(|e| error_code(&e))
    } else {
        Ok(context.broker.topic(name))
    }
}

/// A topic as `version` of the response can carry it (leader epochs from v7, topic ids from
/// v10, the internal flag from v1).
fn describe(topic: &Topic, version: i16) -> MetadataResponseTopic {
    let brokers = |ids: Vec<i32>| ids.into_iter().map(BrokerId).collect::<Vec<_>>();
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            let view = p.view();
            let partition = MetadataResponsePartition::default()
                .with_partition_index(p.index)
                .with_leader_id(BrokerId(view.leader))
                .with_replica_nodes(brokers(view.replicas))
                .with_isr_nodes(brokers(view.isr));
            if version >= 7 {
                partition.with_leader_epoch(view.leader_epoch)
            } else {
                partition
            }
        })
        .collect();
    let mut described = MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(topic.name.to_string()))))
        .with_partitions(partitions);
    if version >= 10 {
        described = described.with_topic_id(topic.id);
    }
    if version >= 1 {
        described = described.with_is_internal(topic.is_internal());
    }
    described
}
