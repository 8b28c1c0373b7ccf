//! Settings shared by the producer, the consumer and the admin client: where the cluster is and
//! how patiently to talk to it.

use std::time::Duration;

use crate::error::{Error, Result};

/// Connection settings common to every client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// "host:port" addresses used to discover the cluster.
    pub bootstrap: Vec<String>,
    /// Sent in every request header; shows up in broker logs.
    pub client_id: String,
    /// How long to wait for any one answer before giving up on it.
    pub request_timeout: Duration,
    /// First wait before reconnecting to a broker that refused or dropped a connection.
    pub reconnect_backoff: Duration,
    /// Upper bound of the exponentially growing reconnect wait.
    pub reconnect_backoff_max: Duration,
    /// Metadata older than this is refreshed even without errors.
    pub metadata_max_age: Duration,
    /// Largest response frame accepted; a bigger length prefix closes the connection instead of
    /// allocating what the network asked for.
    pub max_response_size: usize,
}

impl ClientConfig {
    /// Settings for the cluster at `bootstrap`, a comma-separated list of "host:port".
    pub fn new(bootstrap: &str) -> Self {
        Self {
            bootstrap: bootstrap
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            client_id: "flyq-client".to_owned(),
            request_timeout: Duration::from_secs(30),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            metadata_max_age: Duration::from_secs(300),
            max_response_size: 256 * 1024 * 1024,
        }
    }

    /// Sets the client id.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// Sets the request timeout.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.bootstrap.is_empty() {
            return Err(Error::Config(
                "bootstrap: no \"host:port\" given (e.g. \"127.0.0.1:9092\")".to_owned(),
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(Error::Config(
                "request_timeout must be above zero".to_owned(),
            ));
        }
        Ok(())
    }
}
