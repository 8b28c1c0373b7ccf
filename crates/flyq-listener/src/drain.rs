//! The connection tasks of one listener, and how they are drained on shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

/// Tells a connection that its listener is draining: the connection should stop once it has
/// finished what it is doing (the Kafka front end between two requests; the HTTP front end
/// after the response in progress), before the grace period ends.
#[derive(Debug, Clone)]
pub struct Closing(watch::Receiver<bool>);

impl Closing {
    /// Resolves once the listener has begun to drain (at once if it already has). Cancel
    /// safe: it can be one branch of a `select!` that runs again and again.
    pub async fn wait(&mut self) {
        // An error means the listener is gone, which closes its connections too.
        let _ = self.0.wait_for(|closing| *closing).await;
    }
}

/// Every connection task of a listener, and the signal that tells them to close.
pub(crate) struct Connections {
    tasks: JoinSet<()>,
    closing: watch::Sender<bool>,
}

impl Connections {
    pub(crate) fn new() -> Self {
        Self {
            tasks: JoinSet::new(),
            closing: watch::Sender::new(false),
        }
    }

    /// The signal for a new connection.
    pub(crate) fn closing(&self) -> Closing {
        Closing(self.closing.subscribe())
    }

    pub(crate) fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Waits for a connection task to end and forgets it (finished tasks are kept until
    /// reaped); `None` if there are none.
    pub(crate) async fn reap(&mut self) -> Option<()> {
        // A panic in a connection task is reported by the panic hook and ends that connection
        // only; nothing more to do here.
        self.tasks.join_next().await.map(|_| ())
    }

    /// Tells every connection to close, waits up to `grace` for them, then aborts the rest.
    pub(crate) async fn drain(mut self, grace: Duration, listener: &'static str) {
        self.closing.send_replace(true);
        let drained = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(target: "flyq::listener", listener, remaining = self.tasks.len(), "shutdown grace period over; closing remaining connections");
            self.tasks.shutdown().await;
        }
    }
}
