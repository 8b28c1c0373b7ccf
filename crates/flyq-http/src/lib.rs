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
mod error;
mod groups;
mod health;
mod listener;
mod metrics;
mod openapi;
mod records;
mod routes;
mod state;
mod state_metrics;
mod topics;

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;

pub use error::ApiError;
pub use metrics::{REQUEST_SECONDS, REQUESTS_TOTAL, describe as describe_metrics};
pub use openapi::OPENAPI_JSON;
pub use routes::router;
pub use state::{HttpState, Phase};

/// Most HTTP connections open at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 256;
/// A connection that sends nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A connection is closed once this old, busy or not (clients reconnect; a trickling client
/// cannot hold a slot for longer).
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(600);

/// Serves the HTTP API on `listener` until `shutdown` resolves, then finishes the requests
/// in flight and returns.
pub async fn serve(
    listener: TcpListener,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener =
        listener::Bounded::new(listener, MAX_CONNECTIONS, IDLE_TIMEOUT, MAX_CONNECTION_AGE);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
