//! The Kafka listener's metrics: requests, their latency and their errors per API, and the
//! handles the shared listener counts open and refused connections in. Label values are
//! bounded: API names and Kafka error names, never client ids.
//!
//! Handles are resolved once per API when the listener starts, so counting a request costs no
//! registry lookup. Errors are counted where broker errors become Kafka codes
//! ([`super::errors`]); which API they belong to travels in a task-local set around each
//! request.

use std::collections::HashMap;
use std::future::Future;
use std::time::Instant;

use flyq_listener::ConnectionCounters;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use metrics::{Counter, Histogram, SharedString};

use super::versions::SUPPORTED_APIS;

tokio::task_local! {
    /// The API of the request being handled on this task.
    static CURRENT_API: SharedString;
}

/// One API's request counter and latency histogram.
struct ApiMetrics {
    name: SharedString,
    requests: Counter,
    duration: Histogram,
}

/// Every per-API handle the Kafka handlers record into.
pub(crate) struct ListenerMetrics {
    apis: HashMap<ApiKey, ApiMetrics>,
}

impl ListenerMetrics {
    pub(crate) fn new() -> Self {
        let apis = SUPPORTED_APIS
            .iter()
            .map(|(key, _, _)| {
                let name = SharedString::from(format!("{key:?}"));
                let metrics = ApiMetrics {
                    requests: metrics::counter!("flyq_kafka_requests_total", "api" => name.clone()),
                    duration: metrics::histogram!("flyq_kafka_request_duration_seconds", "api" => name.clone()),
                    name,
                };
                (*key, metrics)
            })
            .collect();
        Self { apis }
    }

    /// Runs one request's handling, counting it and timing it under its API.
    pub(crate) async fn observe<F: Future>(&self, key: ApiKey, handling: F) -> F::Output {
        let Some(api) = self.apis.get(&key) else {
            return handling.await;
        };
        let started = Instant::now();
        let output = CURRENT_API.scope(api.name.clone(), handling).await;
        api.requests.increment(1);
        api.duration.record(started.elapsed().as_secs_f64());
        output
    }
}

/// Where the listener counts Kafka connections: open now, and closed on arrival because
/// `max_connections` were open.
pub(crate) fn connection_counters() -> ConnectionCounters {
    ConnectionCounters {
        open: metrics::gauge!("flyq_kafka_connections"),
        refused: metrics::counter!("flyq_kafka_connections_refused_total"),
    }
}

/// Counts an error answered to a client, under the API being handled (if any). `error` is a
/// Kafka error name or, for a closed connection, "ConnectionClosed".
pub(crate) fn count_error(error: impl Into<SharedString>) {
    let api = CURRENT_API
        .try_with(Clone::clone)
        .unwrap_or_else(|_| SharedString::const_str("none"));
    metrics::counter!("flyq_kafka_request_errors_total", "api" => api, "error" => error.into())
        .increment(1);
}

/// Counts a Kafka error answered to a client.
pub(crate) fn count_response_error(error: ResponseError) {
    count_error(format!("{error:?}"));
}
