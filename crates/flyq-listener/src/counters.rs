//! Counting connections in the front end's metrics.

use metrics::{Counter, Gauge};
use tokio::sync::OwnedSemaphorePermit;

/// The metric handles a listener counts its connections in. The front end names them
/// (`flyq_kafka_connections`, ...), so each keeps its own series.
#[derive(Clone)]
pub struct ConnectionCounters {
    /// Connections open now.
    pub open: Gauge,
    /// Connections closed on arrival because every slot was taken ([`crate::WhenFull::Refuse`]).
    pub refused: Counter,
}

impl ConnectionCounters {
    /// Counts nothing: for a front end without connection metrics.
    pub fn none() -> Self {
        Self {
            open: Gauge::noop(),
            refused: Counter::noop(),
        }
    }

    /// Counts a connection as open for as long as the returned value lives.
    pub(crate) fn opened(&self, slot: OwnedSemaphorePermit) -> OpenConnection {
        self.open.increment(1.0);
        OpenConnection {
            open: self.open.clone(),
            _slot: slot,
        }
    }
}

/// One open connection: holds its slot and counts as open until dropped, so both are given
/// back however the connection's task ends (finished, or aborted when the grace period ends).
pub(crate) struct OpenConnection {
    open: Gauge,
    _slot: OwnedSemaphorePermit,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.open.decrement(1.0);
    }
}
