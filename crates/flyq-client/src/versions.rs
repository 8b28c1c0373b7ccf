//! The API versions this client is written against. The version used on a connection is the
//! highest one both this table and the broker's ApiVersions answer allow.
//!
//! Caps sit below the codec's maximum where a later version changes the request's shape
//! (OffsetFetch v8 and FindCoordinator v4 batch several groups, DeleteTopics v6 names topics by
//! id, Fetch v13 drops names for ids).

use kafka_protocol::messages::ApiKey;

/// (lowest, highest) version of `key` this client can speak, or `None` if it never sends it.
pub(crate) fn client_range(key: ApiKey) -> Option<(i16, i16)> {
    Some(match key {
        // v3 is the first with RecordBatch v2.
        ApiKey::Produce => (3, 9),
        ApiKey::Fetch => (4, 12),
        ApiKey::ListOffsets => (1, 6),
        ApiKey::Metadata => (1, 12),
        ApiKey::OffsetCommit => (2, 8),
        ApiKey::OffsetFetch => (1, 7),
        ApiKey::FindCoordinator => (0, 3),
        ApiKey::JoinGroup => (0, 7),
        ApiKey::Heartbeat => (0, 4),
        ApiKey::LeaveGroup => (3, 4),
        ApiKey::SyncGroup => (0, 5),
        ApiKey::DescribeGroups => (0, 5),
        ApiKey::ListGroups => (0, 4),
        ApiKey::ApiVersions => (0, 3),
        ApiKey::CreateTopics => (2, 7),
        ApiKey::DeleteTopics => (1, 5),
        ApiKey::InitProducerId => (0, 4),
        ApiKey::DescribeConfigs => (1, 4),
        ApiKey::IncrementalAlterConfigs => (0, 1),
        ApiKey::CreatePartitions => (0, 3),
        ApiKey::DeleteGroups => (0, 2),
        ApiKey::DescribeCluster => (0, 1),
        _ => return None,
    })
}
