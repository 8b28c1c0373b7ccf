//! The Kafka wire-protocol listener.
//!
//! Accepting, the connection cap and draining on shutdown are the shared listener's
//! (`flyq-listener`): over `max_connections`, a new connection is closed at once. Then one
//! task per connection reads a frame (4-byte length, bounded by `max_request_bytes`, read
//! within `request_read_timeout` once it has begun), checks the API key and version, decodes
//! the header and the request with the `kafka-protocol` crate, runs the API's handler (one file
//! per API in `handlers/`) and writes the response. Requests on a connection are answered in
//! order, one at a time, as Kafka clients expect. Anything malformed closes that connection
//! with a log line naming the peer; other connections are untouched.

mod authorized;
mod connection;
mod errors;
mod frame;
mod handlers;
mod metrics;
mod versions;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use flyq_broker::Broker;
use flyq_listener::{Listener, Plaintext, ProblemLog, Settings, WhenFull};
use tokio::net::TcpListener;

pub use versions::SUPPORTED_APIS;

/// Settings of the Kafka listener.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Largest request frame accepted; larger ones close the connection unread.
    pub max_request_bytes: usize,
    /// Once a request has started to arrive, the rest of it must arrive within this.
    pub request_read_timeout: Duration,
    /// Host and port clients are told to connect to (Metadata).
    pub advertised: (String, u16),
    /// Most bytes one Fetch response carries, whatever the client asks for.
    pub max_fetch_bytes: usize,
    /// Most time a Fetch may wait for data, whatever the client asks for.
    pub max_fetch_wait: Duration,
    /// How long shutdown waits for in-flight requests before closing connections.
    pub shutdown_grace: Duration,
    /// Most client connections open at once; more are closed as they arrive.
    pub max_connections: usize,
}

impl KafkaConfig {
    /// Defaults for a listener whose clients connect to `advertised`.
    pub fn new(advertised: SocketAddr) -> Self {
        Self {
            max_request_bytes: 100 << 20,
            request_read_timeout: Duration::from_secs(30),
            advertised: (advertised.ip().to_string(), advertised.port()),
            max_fetch_bytes: 50 << 20,
            max_fetch_wait: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}

/// What every connection's handlers share.
pub(crate) struct Context {
    pub broker: Arc<Broker>,
    pub config: KafkaConfig,
    pub metrics: metrics::ListenerMetrics,
    /// Rate limit for lines about misbehaving connections, shared with the listener.
    pub problems: Arc<ProblemLog>,
}

/// Serves Kafka clients on `listener` until `shutdown` resolves; then stops accepting, lets
/// every connection finish the request it is handling (up to `shutdown_grace`), and returns.
pub async fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
    config: KafkaConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let settings = Settings {
        name: "kafka",
        max_connections: config.max_connections,
        when_full: WhenFull::Refuse,
        // Idle clients may wait for ever; a started request is timed by `frame`.
        idle_timeout: None,
        max_age: None,
        shutdown_grace: config.shutdown_grace,
    };
    let problems = Arc::new(ProblemLog::new());
    let context = Arc::new(Context {
        broker,
        config,
        metrics: metrics::ListenerMetrics::new(),
        problems: Arc::clone(&problems),
    });
    let listener = Listener {
        tcp: listener,
        settings,
        handshake: Plaintext,
        counters: metrics::connection_counters(),
        problems,
    };
    listener
        .serve(
            move |stream, peer, closing| {
                connection::run(stream, peer, Arc::clone(&context), closing)
            },
            shutdown,
        )
        .await;
    Ok(())
}
