//! The one error type of the client: what went wrong, what to do about it, the Kafka error code
//! where the broker sent one, and whether retrying can help.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ApiKey;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the client.
///
/// Errors are `Clone` because one failed produce batch fails the delivery future of every record
/// in it; sources are kept behind `Arc` for that reason.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// None of the bootstrap addresses accepted a connection.
    #[error("no broker reachable at {addrs}: is `flyq serve` running and listening there?")]
    NoBrokerReachable {
        /// The addresses tried, comma separated.
        addrs: String,
        /// The last connection error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Connecting to, writing to or reading from one broker failed.
    #[error(
        "connection to broker {addr} failed: {source}; the client reconnects on the next request"
    )]
    Io {
        /// The broker address.
        addr: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The connection closed while a request was waiting for its answer.
    #[error(
        "connection to broker {addr} closed before {api:?} was answered; it may or may not have been applied"
    )]
    Disconnected {
        /// The broker address.
        addr: String,
        /// The request that was in flight.
        api: ApiKey,
    },
    /// The broker did not answer in time.
    #[error(
        "{api:?} request to broker {addr} got no answer within {timeout:?}: the broker is overloaded or stuck; raise the request timeout or check the broker"
    )]
    Timeout {
        /// The broker address.
        addr: String,
        /// The request that timed out.
        api: ApiKey,
        /// How long the client waited.
        timeout: Duration,
    },
    /// The broker answered with a Kafka error code.
    #[error("{context}: broker returned {error} (Kafka error code {}){}", error.code(), retry_hint(*error))]
    Kafka {
        /// What the client was doing.
        context: String,
        /// The broker's error.
        error: ResponseError,
    },
    /// The broker does not speak any version of an API this client needs.
    #[error(
        "broker {addr} does not support {api:?} versions {client_min}..={client_max} (it offers {broker}); upgrade the broker"
    )]
    UnsupportedVersion {
        /// The broker address.
        addr: String,
        /// The API.
        api: ApiKey,
        /// Lowest version this client can speak.
        client_min: i16,
        /// Highest version this client can speak.
        client_max: i16,
        /// What the broker offers, e.g. "none" or "0..=2".
        broker: String,
    },
    /// A request could not be encoded or a response not decoded: a client bug or a broker
    /// speaking something else than Kafka.
    #[error("protocol error with broker {addr}: {what}")]
    Protocol {
        /// The broker address (empty when no broker was involved).
        addr: String,
        /// What failed.
        what: String,
    },
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A topic or partition is not known to the cluster.
    #[error(
        "unknown topic or partition {topic}/{partition}: create the topic first or check its name"
    )]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition (-1 when the topic itself is unknown).
        partition: i32,
    },
    /// A record is larger than the producer may buffer or send.
    #[error(
        "record of {size} bytes exceeds the {limit}-byte limit; raise batch_size/buffer_memory or send smaller records"
    )]
    RecordTooLarge {
        /// The record's encoded size.
        size: usize,
        /// The limit it exceeds.
        limit: usize,
    },
    /// The producer or consumer was closed.
    #[error("the {0} is closed")]
    Closed(&'static str),
    /// The operation did not complete in time (e.g. a delivery, a rebalance).
    #[error("{0} did not complete in time")]
    DeadlineExceeded(String),
}

fn retry_hint(error: ResponseError) -> &'static str {
    if error.is_retriable() {
        "; retriable, the client retries it"
    } else {
        ""
    }
}

impl Error {
    /// The Kafka error code, if the broker sent one.
    pub fn code(&self) -> Option<i16> {
        match self {
            Error::Kafka { error, .. } => Some(error.code()),
            Error::UnknownPartition { .. } => Some(ResponseError::UnknownTopicOrPartition.code()),
            _ => None,
        }
    }

    /// Whether retrying the same operation may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Kafka { error, .. } => error.is_retriable(),
            Error::NoBrokerReachable { .. }
            | Error::Io { .. }
            | Error::Disconnected { .. }
            | Error::Timeout { .. }
            | Error::UnknownPartition { .. } => true,
            _ => false,
        }
    }

    /// The Kafka error, if the broker sent one.
    pub fn kafka_error(&self) -> Option<ResponseError> {
        match self {
            Error::Kafka { error, .. } => Some(*error),
            _ => None,
        }
    }

    pub(crate) fn kafka(context: impl Into<String>, error: ResponseError) -> Self {
        Error::Kafka {
            context: context.into(),
            error,
        }
    }

    /// `Ok` for code 0, else the Kafka error with `context`.
    pub(crate) fn check(code: i16, context: impl FnOnce() -> String) -> Result<()> {
        match ResponseError::try_from_code(code) {
            None => Ok(()),
            Some(error) => Err(Error::kafka(context(), error)),
        }
    }
}

impl From<flyq_protocol::consumer_protocol::CodecError> for Error {
    fn from(e: flyq_protocol::consumer_protocol::CodecError) -> Self {
        Self::Protocol {
            addr: String::new(),
            what: e.to_string(),
        }
    }
}
