//! The API's one error shape, `{"error": {"code": "...", "message": "..."}}`, the one place
//! where broker errors become HTTP statuses, and the extractors whose rejections (bad JSON,
//! bad query or path parameters) take that shape too.
//!
//! User mistakes are 4xx; 500 is kept for genuine internal failures, which are logged.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flyq_broker::BrokerError;
use flyq_log::LogError;
use serde::Serialize;

/// An error answer: status, a stable machine-readable code and a human message.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable snake_case code (`topic_not_found`, `invalid_config`, ...).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request is malformed or a value is out of range.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404: the named thing does not exist.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 404 for a topic that does not exist.
    pub fn unknown_topic(name: &str) -> Self {
        Self::not_found("topic_not_found", format!("unknown topic {name}"))
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 503 while the broker is still recovering its storage.
    pub fn not_ready() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the broker is still starting (recovering storage)",
        )
    }

    /// 500, logged: something failed that the caller could not have caused.
    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(target: "flyq::http", context, %error, "internal error serving an HTTP request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("{context}: {error}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Detail {
                code: self.code,
                message: &self.message,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<BrokerError> for ApiError {
    fn from(error: BrokerError) -> Self {
        let message = error.to_string();
        match &error {
            BrokerError::UnknownTopicOrPartition { partition: -1, .. } => {
                Self::not_found("topic_not_found", message)
            }
            BrokerError::UnknownTopicOrPartition { .. } => {
                Self::not_found("partition_not_found", message)
            }
            BrokerError::TopicExists(_) => Self::conflict("topic_exists", message),
            BrokerError::InvalidTopic { .. } => Self::bad_request("invalid_topic_name", message),
            BrokerError::InternalTopic(_) => {
                Self::new(StatusCode::FORBIDDEN, "internal_topic", message)
            }
            BrokerError::InvalidPartitions(_) => Self::bad_request("invalid_partitions", message),
            BrokerError::InvalidConfig { .. } => Self::bad_request("invalid_config", message),
            BrokerError::InvalidReplicaAssignment(_)
            | BrokerError::InvalidReplicationFactor { .. } => {
                Self::bad_request("invalid_replication", message)
            }
            BrokerError::Log(LogError::OffsetOutOfRange { .. }) => {
                Self::bad_request("offset_out_of_range", message)
            }
            BrokerError::Log(LogError::Config(_)) => Self::bad_request("invalid_config", message),
            BrokerError::InvalidProducerEpoch { .. }
            | BrokerError::OutOfOrderSequence { .. }
            | BrokerError::NotEnoughReplicas { .. }
            | BrokerError::UnknownLeaderEpoch { .. }
            | BrokerError::InvalidTimestamp { .. }
            | BrokerError::Log(_)
            | BrokerError::Metadata { .. } => Self::internal("broker operation failed", &error),
        }
    }
}

/// Turns an extractor's rejection into the error shape, keeping its status (400, 413, 415).
fn rejected(status: StatusCode, code: &'static str, text: String) -> ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => code,
    };
    // axum answers 422 for JSON that parses but does not fit the type: to clients that is
    // bad input like any other.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    ApiError::new(status, code, text)
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        rejected(r.status(), "invalid_body", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        rejected(r.status(), "invalid_query", r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        rejected(r.status(), "invalid_path", r.body_text())
    }
}

/// `axum::Json` whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
