//! Decodes the opaque member metadata and assignments of groups that use Kafka's consumer
//! protocol (protocol type `consumer`), for display. Anything else stays undecoded.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use kafka_protocol::protocol::Decodable;
use serde::Serialize;

/// Newest consumer protocol version kafka-protocol knows; newer ones only append fields, so
/// they decode as this one.
const NEWEST: i16 = 3;

/// Partitions of one topic assigned to a member.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct AssignedTopic {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// Splits off the version prefix; `None` for a truncated or negative one.
fn versioned(mut bytes: Bytes) -> Option<(Bytes, i16)> {
    if bytes.len() < 2 {
        return None;
    }
    let version = bytes.get_i16();
    (version >= 0).then_some((bytes, version.min(NEWEST)))
}

/// The topics a member subscribes to, from its JoinGroup metadata.
pub(crate) fn subscription(metadata: Bytes) -> Option<Vec<String>> {
    let (mut bytes, version) = versioned(metadata)?;
    let decoded = ConsumerProtocolSubscription::decode(&mut bytes, version).ok()?;
    Some(decoded.topics.iter().map(|t| t.to_string()).collect())
}

/// The partitions assigned to a member, from its SyncGroup assignment. An empty assignment
/// (none yet) decodes as no topics.
pub(crate) fn assignment(assignment: Bytes) -> Option<Vec<AssignedTopic>> {
    if assignment.is_empty() {
        return Some(Vec::new());
    }
    let (mut bytes, version) = versioned(assignment)?;
    let decoded = ConsumerProtocolAssignment::decode(&mut bytes, version).ok()?;
    Some(
        decoded
            .assigned_partitions
            .into_iter()
            .map(|tp| AssignedTopic {
                topic: tp.topic.to_string(),
                partitions: tp.partitions,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bytes::BufMut;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn assignment_round_trips_and_garbage_is_none() {
        let assigned = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("orders")))
                .with_partitions(vec![0, 2]),
        ]);
        let mut buf = bytes::BytesMut::new();
        buf.put_i16(1);
        assigned.encode(&mut buf, 1).unwrap();
        assert_eq!(
            assignment(buf.freeze()),
            Some(vec![AssignedTopic {
                topic: "orders".into(),
                partitions: vec![0, 2]
            }])
        );
        assert_eq!(assignment(Bytes::from_static(b"\x00")), None);
        assert_eq!(
            assignment(Bytes::from_static(b"\x00\x00\xff\xff\xff\x7f")),
            None
        );
        assert_eq!(subscription(Bytes::from_static(b"\xff\xff")), None);
    }
}
