//! FlyQ's HTTP operator API: Kubernetes health probes, Prometheus `/metrics`, the admin REST
//! API under `/api/v1` (cluster, topics, consumer groups), the message browser and the
//! OpenAPI document that describes all of it.
//!
//! The listener starts before the broker has recovered its storage: probes answer at once,
//! and the admin API answers 503 until [`HttpState::attach`] hands it the broker. Every
//! operation calls the same broker functions as the Kafka handlers, so both APIs see one
//! state. This crate owns no broker logic; it must not do blocking file I/O on async worker
//! threads (see `blocking`).

mod cluster;
mod connection;
mod error;
mod groups;
mod health;
mod metrics;
mod openapi;
mod records;
mod routes;
mod state;
mod state_metrics;
mod topics;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use flyq_listener::{ConnectionCounters, Listener, Plaintext, ProblemLog, Settings, WhenFull};
use tokio::net::TcpListener;

pub use error::ApiError;
pub use metrics::{REQUEST_SECONDS, REQUESTS_TOTAL, install_recorder as install_metrics_recorder};
pub use openapi::OPENAPI_JSON;
pub use routes::router;
pub use state::{HttpState, Phase};

/// Most HTTP connections open at once; more wait in the listen backlog (file descriptors are
/// shared with the Kafka listener, which needs them more).
pub const MAX_CONNECTIONS: usize = 256;
/// A connection that sends nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A connection is closed once this old, busy or not (clients reconnect; a trickling client
/// cannot hold a slot for longer).
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(600);
/// On shutdown, how long requests in flight get to finish before their connections close.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves the HTTP API on `listener` until `shutdown` resolves, then lets the requests in
/// flight finish (up to [`SHUTDOWN_GRACE`]) and returns.
pub async fn serve(
    listener: TcpListener,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router(state);
    let listener = Listener {
        tcp: listener,
        settings: Settings {
            name: "http",
            max_connections: MAX_CONNECTIONS,
            when_full: WhenFull::Wait,
            idle_timeout: Some(IDLE_TIMEOUT),
            max_age: Some(MAX_CONNECTION_AGE),
            shutdown_grace: SHUTDOWN_GRACE,
        },
        handshake: Plaintext,
        counters: ConnectionCounters::none(),
        problems: Arc::new(ProblemLog::new()),
    };
    listener
        .serve(
            move |stream, _peer, closing| connection::serve(router.clone(), stream, closing),
            shutdown,
        )
        .await;
    Ok(())
}
