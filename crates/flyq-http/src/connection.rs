//! Serving one HTTP connection: HTTP/1.1 (keep-alive) with hyper, the router as its service,
//! closed gracefully when the listener drains.
//!
//! The shared listener (`flyq-listener`) owns accepting, the connection cap, the idle and age
//! limits and the drain; this is only what happens on a connection it hands over.

use axum::Router;
use flyq_listener::Closing;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};

/// Answers requests on `stream` until the client leaves or, once the listener drains
/// (`closing`), the response in progress is written.
pub(crate) async fn serve(
    router: Router,
    stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    mut closing: Closing,
) {
    let service = TowerToHyperService::new(router);
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = closing.wait() => {
            // Finish the request in progress (if any), then close.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        // Clients that vanish, and connections over their idle or age limit, end here.
        tracing::debug!(target: "flyq::http", error = %e, "HTTP connection ended");
    }
}
