//! `/metrics` in Prometheus text format, and the HTTP API's own request counter.
//!
//! The binary installs the Prometheus recorder ([`install_recorder`]) as the global `metrics`
//! recorder at start-up and hands its handle to [`crate::HttpState`]; every crate's
//! `metrics::counter!` calls then show up here. Labels stay bounded: routes are templates (`/api/v1/topics/{topic}`), never
//! raw paths.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};

use crate::error::ApiError;
use crate::state::HttpState;

/// Name of the request counter.
pub const REQUESTS_TOTAL: &str = "flyq_http_requests_total";
/// Name of the request latency histogram.
pub const REQUEST_SECONDS: &str = "flyq_http_request_duration_seconds";

/// Histogram buckets, in seconds (every FlyQ histogram measures a duration): from 50 µs, where
/// a produce to the page cache lands, to 30 s, a Fetch's longest wait.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the Prometheus recorder, with FlyQ's histogram buckets, as the process's global
/// `metrics` recorder (it fails if one is installed already), and describes this crate's
/// metrics. Install it before any listener starts: handles resolved earlier record nothing.
/// The caller runs [`PrometheusHandle::run_upkeep`] now and then.
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)?
        .install_recorder()?;
    describe();
    Ok(handle)
}

/// Describes this crate's metrics to the recorder.
fn describe() {
    metrics::describe_counter!(
        REQUESTS_TOTAL,
        "HTTP requests answered, by method, route template and status"
    );
    metrics::describe_histogram!(
        REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by method and route template"
    );
}

/// Renders every metric the recorder holds.
pub(crate) async fn render(State(state): State<HttpState>) -> Result<Response, ApiError> {
    let handle = state.metrics().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_unavailable",
            "no metrics recorder is installed",
        )
    })?;
    let mut text = handle.render();
    // State gauges are read now, on a blocking thread: walking every partition and group
    // touches their logs' metadata.
    let broker = state.broker().ok().cloned();
    let text = tokio::task::spawn_blocking(move || {
        if let Some(broker) = broker {
            crate::state_metrics::render_broker(&broker, &mut text);
        }
        crate::state_metrics::render_process(&mut text);
        text
    })
    .await
    .map_err(|e| ApiError::internal("reading state metrics", &e))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// Counts and times every request by method, route template (and status).
pub(crate) async fn count_requests(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    // Unmatched paths share one label: raw paths would let any client grow the label set.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = known_method(request.method());
    let response = next.run(request).await;
    metrics::histogram!(REQUEST_SECONDS, "method" => method, "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        REQUESTS_TOTAL,
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .increment(1);
    response
}

/// The method as a label; anything unusual is "other", again to keep labels bounded.
fn known_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
