//! The one place where internal errors become Kafka error codes.

use flyq_broker::BrokerError;
use flyq_broker::group::GroupCode;
use flyq_log::{BatchError, LogError};
use kafka_protocol::ResponseError;

/// The Kafka error code for a broker error.
pub(crate) fn error_code(error: &BrokerError) -> i16 {
    let code = match error {
        BrokerError::UnknownTopicOrPartition { .. } => ResponseError::UnknownTopicOrPartition,
        BrokerError::TopicExists(_) => ResponseError::TopicAlreadyExists,
        BrokerError::InvalidTopic { .. } | BrokerError::InternalTopic(_) => {
            ResponseError::InvalidTopicException
        }
        BrokerError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        BrokerError::InvalidConfig { .. } => ResponseError::InvalidConfig,
        BrokerError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        BrokerError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        BrokerError::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas,
        BrokerError::UnknownLeaderEpoch { .. } => ResponseError::UnknownLeaderEpoch,
        BrokerError::InvalidTimestamp { .. } => ResponseError::InvalidTimestamp,
        BrokerError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
        BrokerError::InvalidReplicationFactor { .. } => ResponseError::InvalidReplicationFactor,
        BrokerError::Log(log) => return log_error_code(log),
        BrokerError::Metadata { .. } => ResponseError::UnknownServerError,
    };
    super::metrics::count_response_error(code);
    code.code()
}

/// The Kafka error code for a storage error.
pub(crate) fn log_error_code(error: &LogError) -> i16 {
    let code = match error {
        LogError::InvalidBatch(BatchError::TooLarge { .. }) => ResponseError::MessageTooLarge,
        LogError::InvalidBatch(BatchError::UnsupportedCompression(_)) => {
            ResponseError::UnsupportedCompressionType
        }
        LogError::InvalidBatch(_) => ResponseError::CorruptMessage,
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::DiskFull { .. }
        | LogError::Io { .. }
        | LogError::Poisoned(_)
        | LogError::CorruptSegment { .. } => ResponseError::KafkaStorageError,
        LogError::Config(_) => ResponseError::InvalidConfig,
    };
    super::metrics::count_response_error(code);
    code.code()
}

/// The Kafka error code for the outcome of a group operation.
pub(crate) fn group_code(code: GroupCode) -> i16 {
    let error = match code {
        GroupCode::Ok => return 0,
        GroupCode::IllegalGeneration => ResponseError::IllegalGeneration,
        GroupCode::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupCode::UnknownMemberId => ResponseError::UnknownMemberId,
        GroupCode::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        GroupCode::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        GroupCode::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupCode::GroupIdNotFound => ResponseError::GroupIdNotFound,
        GroupCode::NonEmptyGroup => ResponseError::NonEmptyGroup,
        GroupCode::MemberIdRequired => ResponseError::MemberIdRequired,
        GroupCode::FencedInstanceId => ResponseError::FencedInstanceId,
        GroupCode::InvalidGroupId => ResponseError::InvalidGroupId,
        GroupCode::OffsetMetadataTooLarge => ResponseError::OffsetMetadataTooLarge,
        GroupCode::StorageFailed => ResponseError::UnknownServerError,
    };
    super::metrics::count_response_error(error);
    error.code()
}
