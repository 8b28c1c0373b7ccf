//! The API versions this broker advertises and serves.
//!
//! Ranges follow what Kafka 4.x advertises where clients depend on it: librdkafka before 2.11.1
//! looks for Produce v0 in the advertised range (else it silently disables compression), so
//! Produce is advertised from 0 although only v3+ (RecordBatch v2) is served; every modern
//! client picks v3 or later. A request for an advertised but unserved version, or for anything
//! outside the ranges, closes the connection (ApiVersions answers instead, see its handler).

use kafka_protocol::messages::ApiKey;

/// (API, lowest advertised version, highest advertised version).
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 11),
    (ApiKey::Fetch, 4, 12),
    // v7-9 add the MAX_TIMESTAMP (-3), EARLIEST_LOCAL (-4) and LATEST_TIERED (-5) specs; v10
    // a timeout for tiered reads, which a log with nothing tiered never waits for.
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
];

/// Whether a request of this API and version is answered.
pub(crate) fn servable(key: ApiKey, version: i16) -> bool {
    let advertised = SUPPORTED_APIS
        .iter()
        .any(|(k, min, max)| *k == key && (*min..=*max).contains(&version));
    let decodable = key.valid_versions();
    advertised && (decodable.min..=decodable.max).contains(&version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_ranges_are_within_what_the_codec_handles_except_old_produce() {
        for (key, min, max) in SUPPORTED_APIS {
            assert!(servable(*key, *max), "{key:?} v{max}");
            let lowest_served = if *key == ApiKey::Produce { 3 } else { *min };
            assert!(servable(*key, lowest_served), "{key:?} v{lowest_served}");
        }
        assert!(!servable(ApiKey::Produce, 2));
        assert!(!servable(ApiKey::Fetch, 13));
        assert!(!servable(ApiKey::JoinGroup, 10));
    }
}
