//! What every HTTP handler shares: the process's lifecycle phase and, once storage is
//! recovered and the Kafka listener is bound, the broker.
//!
//! The HTTP listener starts before the broker has opened (recovery can take a while), so the
//! broker arrives later through [`HttpState::attach`]; until then the admin API answers 503.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use flyq_broker::Broker;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::error::ApiError;

/// Where the process is in its life, as the readiness probe reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Recovering storage or binding the Kafka listener: alive, not ready.
    Starting,
    /// Storage recovered and the Kafka listener serving.
    Ready,
    /// Shutting down: not ready, so load balancers stop sending clients here first.
    Stopping,
}

impl Phase {
    /// The name `/health` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Stopping => "stopping",
        }
    }
}

/// The running broker and how Kafka clients reach it.
#[derive(Debug)]
pub(crate) struct Running {
    pub broker: Arc<Broker>,
    /// Host and port Kafka clients are told to connect to.
    pub advertised: (String, u16),
}

/// State shared by the HTTP handlers; cheap to clone.
#[derive(Clone)]
pub struct HttpState {
    inner: Arc<Inner>,
}

struct Inner {
    phase: AtomicU8,
    started: Instant,
    node_id: i32,
    data_dir: PathBuf,
    running: OnceLock<Running>,
    metrics: Option<PrometheusHandle>,
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpState")
            .field("phase", &self.phase())
            .field("data_dir", &self.inner.data_dir)
            .finish_non_exhaustive()
    }
}

impl HttpState {
    /// State of a process that is starting, keeping its data in `data_dir`. `metrics` renders
    /// `/metrics` (the global recorder's handle); without it `/metrics` answers 503.
    pub fn new(node_id: i32, data_dir: PathBuf, metrics: Option<PrometheusHandle>) -> Self {
        Self {
            inner: Arc::new(Inner {
                phase: AtomicU8::new(Phase::Starting as u8),
                started: Instant::now(),
                node_id,
                data_dir,
                running: OnceLock::new(),
                metrics,
            }),
        }
    }

    /// Hands over the opened broker and the address Kafka clients are told to use; the admin
    /// API serves from now on. Call once; later calls are ignored.
    pub fn attach(&self, broker: Arc<Broker>, advertised: (String, u16)) {
        let _ = self.inner.running.set(Running { broker, advertised });
    }

    /// Moves to `phase` (the readiness probe follows it).
    pub fn set_phase(&self, phase: Phase) {
        self.inner.phase.store(phase as u8, Ordering::SeqCst);
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.inner.phase.load(Ordering::SeqCst) {
            x if x == Phase::Ready as u8 => Phase::Ready,
            x if x == Phase::Stopping as u8 => Phase::Stopping,
            _ => Phase::Starting,
        }
    }

    pub(crate) fn started(&self) -> Instant {
        self.inner.started
    }

    pub(crate) fn node_id(&self) -> i32 {
        self.inner.node_id
    }

    pub(crate) fn data_dir(&self) -> &std::path::Path {
        &self.inner.data_dir
    }

    pub(crate) fn metrics(&self) -> Option<&PrometheusHandle> {
        self.inner.metrics.as_ref()
    }

    /// The broker, if it has been attached.
    pub(crate) fn running(&self) -> Option<&Running> {
        self.inner.running.get()
    }

    /// The broker, or a 503 for the admin API while it is still opening.
    pub(crate) fn broker(&self) -> Result<&Arc<Broker>, ApiError> {
        self.running()
            .map(|r| &r.broker)
            .ok_or_else(ApiError::not_ready)
    }
}
