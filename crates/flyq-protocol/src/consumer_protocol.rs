//! The standard ConsumerProtocol encodings of group member metadata (subscription) and
//! assignment, so FlyQ consumers can share groups with Java and librdkafka consumers.
//!
//! Both are an int16 version followed by the versioned struct. Versions newer than the codec
//! knows are decoded as the newest known one: later versions only append fields.

use std::collections::BTreeMap;
use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// The version written: v1 carries owned partitions, which cooperative-sticky needs.
const SUBSCRIPTION_VERSION: i16 = 1;
const ASSIGNMENT_VERSION: i16 = 1;
const NEWEST_KNOWN: i16 = 3;

/// A topic partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`/`partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// Member metadata or an assignment that could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(String);

type Result<T> = std::result::Result<T, CodecError>;

/// A member's subscription as carried in JoinGroup metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// The topics subscribed to.
    pub topics: Vec<String>,
    /// The partitions the member owns (v1 and later; cooperative rebalancing).
    pub owned: Vec<TopicPartition>,
}

fn group_by_topic(tps: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    by_topic
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

fn versioned(mut bytes: Bytes, what: &str) -> Result<(i16, Bytes)> {
    if bytes.remaining() < 2 {
        return Err(CodecError(format!("{what} shorter than its version")));
    }
    let version = bytes.get_i16();
    if version < 0 {
        return Err(CodecError(format!("{what} has negative version {version}")));
    }
    Ok((version.min(NEWEST_KNOWN), bytes))
}

/// Encodes a subscription.
pub fn encode_subscription(sub: &Subscription) -> Result<Bytes> {
    let msg = ConsumerProtocolSubscription::default()
        .with_topics(
            sub.topics
                .iter()
                .map(|t| StrBytes::from_string(t.clone()))
                .collect(),
        )
        .with_owned_partitions(
            group_by_topic(&sub.owned)
                .into_iter()
                .map(|(t, ps)| {
                    OwnedTopic::default()
                        .with_topic(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let mut buf = BytesMut::new();
    buf.put_i16(SUBSCRIPTION_VERSION);
    msg.encode(&mut buf, SUBSCRIPTION_VERSION)
        .map_err(|e| CodecError(format!("encoding subscription: {e}")))?;
    Ok(buf.freeze())
}

/// Decodes a member's subscription (JoinGroup member metadata of protocol type `consumer`).
pub fn decode_subscription(bytes: Bytes) -> Result<Subscription> {
    let (version, mut body) = versioned(bytes, "subscription")?;
    let msg = ConsumerProtocolSubscription::decode(&mut body, version)
        .map_err(|e| CodecError(format!("decoding subscription: {e}")))?;
    Ok(Subscription {
        topics: msg.topics.iter().map(|t| t.to_string()).collect(),
        owned: msg
            .owned_partitions
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| TopicPartition::new(t.topic.0.as_str(), *p))
            })
            .collect(),
    })
}

/// Encodes an assignment.
pub fn encode_assignment(partitions: &[TopicPartition]) -> Result<Bytes> {
    let msg = ConsumerProtocolAssignment::default().with_assigned_partitions(
        group_by_topic(partitions)
            .into_iter()
            .map(|(t, ps)| {
                AssignedTopic::default()
                    .with_topic(topic_name(t))
                    .with_partitions(ps)
            })
            .collect(),
    );
    let mut buf = BytesMut::new();
    buf.put_i16(ASSIGNMENT_VERSION);
    msg.encode(&mut buf, ASSIGNMENT_VERSION)
        .map_err(|e| CodecError(format!("encoding assignment: {e}")))?;
    Ok(buf.freeze())
}

/// Decodes an assignment (SyncGroup, protocol type `consumer`) into partitions sorted by topic
/// and partition; an empty byte string (no assignment) is an empty list.
pub fn decode_assignment(bytes: Bytes) -> Result<Vec<TopicPartition>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let (version, mut body) = versioned(bytes, "assignment")?;
    let msg = ConsumerProtocolAssignment::decode(&mut body, version)
        .map_err(|e| CodecError(format!("decoding assignment: {e}")))?;
    let mut out: Vec<TopicPartition> = msg
        .assigned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| TopicPartition::new(t.topic.0.as_str(), *p))
        })
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn subscription_round_trips_with_owned_partitions() {
        let sub = Subscription {
            topics: vec!["a".into(), "b".into()],
            owned: vec![TopicPartition::new("a", 0), TopicPartition::new("a", 2)],
        };
        let bytes = encode_subscription(&sub).unwrap();
        assert_eq!(&bytes[..2], &[0, 1]);
        assert_eq!(decode_subscription(bytes).unwrap(), sub);
    }

    #[test]
    fn assignment_round_trips_and_empty_bytes_mean_nothing_assigned() {
        let tps = vec![TopicPartition::new("a", 1), TopicPartition::new("b", 0)];
        assert_eq!(
            decode_assignment(encode_assignment(&tps).unwrap()).unwrap(),
            tps
        );
        assert!(decode_assignment(Bytes::new()).unwrap().is_empty());
        assert!(decode_assignment(Bytes::from_static(&[0])).is_err());
    }
}
