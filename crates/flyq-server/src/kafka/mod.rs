//! The Kafka wire-protocol listener.
//!
//! One task per connection reads a frame (4-byte length, bounded by `max_request_bytes`, read
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
mod problem_log;
mod versions;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use flyq_broker::Broker;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

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
    /// Rate limit for lines about misbehaving connections.
    pub problems: problem_log::ProblemLog,
}

/// Serves Kafka clients on `listener` until `shutdown` resolves; then stops accepting, lets
/// every connection finish the request it is handling (up to `shutdown_grace`), and returns.
pub async fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
    config: KafkaConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let grace = config.shutdown_grace;
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
    let context = Arc::new(Context {
        broker,
        config,
        metrics: metrics::ListenerMetrics::new(),
        problems: problem_log::ProblemLog::new(),
    });
    let (closing_tx, closing) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        // Over the limit: close at once.
                        context.metrics.refused.increment(1);
                        if let Some(suppressed) = context.problems.admit() {
                            tracing::warn!(target: "flyq::kafka", %peer, suppressed, "connection limit reached; closing a new connection");
                        }
                        drop(stream);
                        continue;
                    };
                    let context = Arc::clone(&context);
                    let closing = closing.clone();
                    context.metrics.connections.increment(1.0);
                    connections.spawn(async move {
                        connection::run(stream, peer, Arc::clone(&context), closing).await;
                        context.metrics.connections.decrement(1.0);
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!(target: "flyq::kafka", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    // Refuse new connections at once rather than leave them queued while we drain.
    drop(listener);
    let _ = closing_tx.send(true);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(target: "flyq::kafka", "shutdown grace period over; closing remaining connections");
        connections.shutdown().await;
    }
    Ok(())
}
