//! The accept loop: admit connections up to the cap, run each through the handshake and its
//! front end on a task of its own, and drain when told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::counters::ConnectionCounters;
use crate::drain::{Closing, Connections};
use crate::handshake::Handshake;
use crate::problem_log::ProblemLog;
use crate::timed::TimedStream;
use crate::{Settings, WhenFull};

/// How long to back off after a failed accept (out of file descriptors and the like) before
/// trying again; the connections already open keep being served meanwhile.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// A bound TCP listener with the rules of one front end.
pub struct Listener<H> {
    /// The bound socket; dropped as soon as shutdown begins.
    pub tcp: TcpListener,
    /// Cap, time limits and grace period.
    pub settings: Settings,
    /// What every connection goes through before the front end sees it.
    pub handshake: H,
    /// Where open and refused connections are counted.
    pub counters: ConnectionCounters,
    /// Rate limit for the lines about refused connections; the front end shares it for its
    /// own lines about misbehaving connections.
    pub problems: Arc<ProblemLog>,
}

impl<H: Handshake> Listener<H> {
    /// Serves connections until `shutdown` resolves, then drains: stops accepting, signals
    /// [`Closing`] to every connection, waits up to the grace period for their tasks to end,
    /// and closes the rest.
    ///
    /// Each admitted connection gets a task of its own, which runs the handshake and then
    /// `serve_connection(stream, peer, closing)`. The connection's slot is held, and it counts
    /// as open, until that task ends, however it ends.
    pub async fn serve<C, F>(self, serve_connection: C, shutdown: impl Future<Output = ()>)
    where
        C: Fn(H::Stream, SocketAddr, Closing) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let Self {
            tcp,
            settings,
            handshake,
            counters,
            problems,
        } = self;
        let slots = Arc::new(Semaphore::new(
            settings.max_connections.clamp(1, Semaphore::MAX_PERMITS),
        ));
        let handshake = Arc::new(handshake);
        let serve_connection = Arc::new(serve_connection);
        let mut connections = Connections::new();
        tokio::pin!(shutdown);
        loop {
            let admitted = tokio::select! {
                () = &mut shutdown => break,
                Some(()) = connections.reap(), if !connections.is_empty() => continue,
                admitted = admit(&tcp, &slots, &settings, &counters, &problems) => admitted,
            };
            let Some((stream, peer, slot)) = admitted else {
                break;
            };
            // Request/response protocols write whole answers; Nagle's delay only slows them.
            let _ = stream.set_nodelay(true);
            let open = counters.opened(slot);
            let stream = TimedStream::new(stream, settings.idle_timeout, settings.max_age);
            let closing = connections.closing();
            let handshake = Arc::clone(&handshake);
            let serve_connection = Arc::clone(&serve_connection);
            let name = settings.name;
            connections.spawn(async move {
                let _open = open;
                match handshake.handshake(stream, peer).await {
                    Ok(stream) => serve_connection(stream, peer, closing).await,
                    Err(e) => {
                        tracing::debug!(target: "flyq::listener", listener = name, %peer, error = %e, "handshake failed");
                    }
                }
            });
        }
        // Refuse new connections at once rather than leave them queued while we drain.
        drop(tcp);
        connections
            .drain(settings.shutdown_grace, settings.name)
            .await;
    }
}

/// Waits for the next connection that gets a slot: with [`WhenFull::Wait`] a slot is taken
/// before accepting, with [`WhenFull::Refuse`] connections over the cap are closed as they
/// come. `None` if slots can no longer be had (the semaphore was closed, which this crate
/// never does): the listener then stops accepting.
async fn admit(
    tcp: &TcpListener,
    slots: &Arc<Semaphore>,
    settings: &Settings,
    counters: &ConnectionCounters,
    problems: &ProblemLog,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    loop {
        let reserved = match settings.when_full {
            WhenFull::Wait => Some(Arc::clone(slots).acquire_owned().await.ok()?),
            WhenFull::Refuse => None,
        };
        let (stream, peer) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(target: "flyq::listener", listener = settings.name, error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let slot = match reserved {
            Some(slot) => slot,
            None => match Arc::clone(slots).try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    counters.refused.increment(1);
                    if let Some(suppressed) = problems.admit() {
                        tracing::warn!(target: "flyq::listener", listener = settings.name, %peer, suppressed, "connection limit reached; closing a new connection");
                    }
                    drop(stream);
                    continue;
                }
            },
        };
        return Some((stream, peer, slot));
    }
}
