//! Kubernetes-style probes: `/health/live` (the process runs), `/health/ready` (storage is
//! recovered and the Kafka listener serves; 503 while starting and again first thing on
//! shutdown) and `/health` (the detail, as JSON).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::error::Json;
use crate::state::{HttpState, Phase};

/// Liveness: 200 whenever the process can answer at all.
pub(crate) async fn live() -> StatusCode {
    StatusCode::OK
}

/// Readiness: 200 only while [`Phase::Ready`].
pub(crate) async fn ready(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    match state.phase() {
        Phase::Ready => (StatusCode::OK, "ready"),
        phase => (StatusCode::SERVICE_UNAVAILABLE, phase.as_str()),
    }
}

/// What `/health` reports.
#[derive(Debug, Serialize)]
pub(crate) struct Health {
    status: &'static str,
    version: &'static str,
    node_id: i32,
    uptime_seconds: u64,
    data_dir: String,
    recovered: bool,
    topics: usize,
    partitions: usize,
}

/// The detail; its status follows readiness so that a probe can use either route.
pub(crate) async fn detail(State(state): State<HttpState>) -> (StatusCode, Json<Health>) {
    let phase = state.phase();
    let (topics, partitions) = state.running().map_or((0, 0), |r| {
        let topics = r.broker.topics();
        let partitions = topics.iter().map(|t| t.partitions.len()).sum();
        (topics.len(), partitions)
    });
    let health = Health {
        status: phase.as_str(),
        version: env!("CARGO_PKG_VERSION"),
        node_id: state.node_id(),
        uptime_seconds: state.started().elapsed().as_secs(),
        data_dir: state.data_dir().display().to_string(),
        recovered: state.running().is_some(),
        topics,
        partitions,
    };
    let status = if phase == Phase::Ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health))
}
