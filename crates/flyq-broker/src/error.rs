//! The broker's error type. The server maps each variant to one Kafka error code.

use std::io;

use thiserror::Error;

/// What a broker operation can fail with.
#[derive(Debug, Error)]
pub enum BrokerError {
    /// No such topic, or no such partition in it.
    #[error("unknown topic or partition {topic}-{partition}")]
    UnknownTopicOrPartition {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
    /// The topic exists already.
    #[error("topic {0} already exists")]
    TopicExists(String),
    /// The topic name is not allowed.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopic {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A partition count below 1 or above the broker's limit.
    #[error("invalid number of partitions {0}")]
    InvalidPartitions(i32),
    /// A topic config key or value the broker does not accept.
    #[error("invalid config {key}={value}: {reason}")]
    InvalidConfig {
        /// Config key.
        key: String,
        /// Value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// Clients may not write to internal topics.
    #[error("topic {0} is internal; clients cannot produce to it")]
    InternalTopic(String),
    /// A batch from an idempotent producer whose epoch was superseded.
    #[error("producer {producer_id} has been fenced by a newer epoch")]
    InvalidProducerEpoch {
        /// The producer.
        producer_id: i64,
    },
    /// A batch from an idempotent producer that does not follow its last one.
    #[error("producer {producer_id}: expected sequence {expected}, got {received}")]
    OutOfOrderSequence {
        /// The producer.
        producer_id: i64,
        /// The sequence that would have been accepted.
        expected: i32,
        /// The batch's first sequence.
        received: i32,
    },
    /// An acks=all write to a partition with fewer in-sync replicas than its
    /// `min.insync.replicas`.
    #[error("{in_sync} in-sync replicas, fewer than min.insync.replicas={required}")]
    NotEnoughReplicas {
        /// The topic's `min.insync.replicas`.
        required: i32,
        /// Replicas in sync now.
        in_sync: i32,
    },
    /// A record timestamp the topic's timestamp bounds refuse.
    #[error("timestamp {timestamp} refused: {reason}")]
    InvalidTimestamp {
        /// The offending timestamp (ms).
        timestamp: i64,
        /// Which bound it broke.
        reason: String,
    },
    /// A client knows of a leader epoch newer than this node's.
    #[error("leader epoch {asked} is newer than this node's {known}")]
    UnknownLeaderEpoch {
        /// This node's current epoch.
        known: i32,
        /// The epoch the client named.
        asked: i32,
    },
    /// A replica assignment that names unknown brokers, repeats one, or differs in length.
    #[error("invalid replica assignment: {0}")]
    InvalidReplicaAssignment(String),
    /// A replication factor the cluster cannot honour.
    #[error("invalid replication factor {factor}: {reason}")]
    InvalidReplicationFactor {
        /// The factor asked for.
        factor: i32,
        /// Why it is refused.
        reason: String,
    },
    /// The storage engine refused or failed.
    #[error(transparent)]
    Log(#[from] flyq_log::LogError),
    /// Reading or writing the broker's metadata failed.
    #[error("metadata I/O while {context}")]
    Metadata {
        /// What the broker was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Result type of broker operations.
pub type Result<T, E = BrokerError> = std::result::Result<T, E>;

impl From<flyq_meta::MetaError> for BrokerError {
    fn from(error: flyq_meta::MetaError) -> Self {
        use flyq_meta::MetaError;
        match error {
            MetaError::InvalidConfig { key, value, reason } => {
                BrokerError::InvalidConfig { key, value, reason }
            }
            MetaError::TopicExists(name) => BrokerError::TopicExists(name),
            MetaError::UnknownTopic(topic) => BrokerError::UnknownTopicOrPartition {
                topic,
                partition: -1,
            },
            MetaError::InvalidPartitions { topic, reason } => BrokerError::Metadata {
                context: format!("changing the partitions of {topic}"),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, reason),
            },
            MetaError::Io { context, source } => BrokerError::Metadata { context, source },
        }
    }
}
