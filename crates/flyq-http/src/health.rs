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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use crate::routes::router;
    use crate::state::{HttpState, Phase};

    async fn status(state: &HttpState, path: &str) -> (StatusCode, String) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = router(state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn live_at_once_ready_only_in_the_ready_phase() {
        let state = HttpState::new(1, "data".into(), None);
        assert_eq!(status(&state, "/health/live").await.0, StatusCode::OK);
        let (code, body) = status(&state, "/health").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains(r#""status":"starting""#) && body.contains(r#""recovered":false"#));
        // The admin API waits for the broker.
        let (code, body) = status(&state, "/api/v1/topics").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains(r#""code":"not_ready""#), "{body}");
        for (phase, expected) in [
            (Phase::Starting, StatusCode::SERVICE_UNAVAILABLE),
            (Phase::Ready, StatusCode::OK),
            (Phase::Stopping, StatusCode::SERVICE_UNAVAILABLE),
        ] {
            state.set_phase(phase);
            assert_eq!(
                status(&state, "/health/ready").await.0,
                expected,
                "{phase:?}"
            );
            assert_eq!(status(&state, "/health").await.0, expected, "{phase:?}");
            assert_eq!(status(&state, "/health/live").await.0, StatusCode::OK);
        }
    }
}
