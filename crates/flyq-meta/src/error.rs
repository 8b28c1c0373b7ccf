//! The metadata layer's error type.

use std::io;

use thiserror::Error;

/// Why a metadata command or the store failed.
#[derive(Debug, Error)]
pub enum MetaError {
    /// A topic config key or value that is not accepted.
    #[error("invalid config {key}={value}: {reason}")]
    InvalidConfig {
        /// Config key.
        key: String,
        /// Value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The topic exists already.
    #[error("topic {0} already exists")]
    TopicExists(String),
    /// No such topic.
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    /// A partition change that would not grow the topic, or an empty assignment.
    #[error("invalid partitions for {topic}: {reason}")]
    InvalidPartitions {
        /// The topic.
        topic: String,
        /// Why it is refused.
        reason: String,
    },
    /// Reading or writing the stored metadata failed.
    #[error("metadata I/O while {context}")]
    Io {
        /// What the store was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Result type of metadata operations.
pub type Result<T, E = MetaError> = std::result::Result<T, E>;
