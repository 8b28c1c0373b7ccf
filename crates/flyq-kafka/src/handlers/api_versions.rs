//! ApiVersions (18): the APIs and version ranges this broker serves.
//!
//! Answered before anything else on a connection. A request above our highest version gets a
//! v0 response with UNSUPPORTED_VERSION that still lists the ranges, so the client retries with
//! a version we serve (KIP-511).

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use super::{Close, Request, encode_response};
use crate::versions::SUPPORTED_APIS;

fn response(error_code: i16) -> ApiVersionsResponse {
    let api_keys = SUPPORTED_APIS
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(*min)
                .with_max_version(*max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let _: ApiVersionsRequest = request.decode()?;
    request.respond(&response(0))
}

/// The v0 answer to an ApiVersions request of a version we do not serve.
pub(crate) fn unsupported_version(correlation_id: i32) -> Result<Bytes, Close> {
    let body = response(ResponseError::UnsupportedVersion.code());
    encode_response(ApiKey::ApiVersions, 0, correlation_id, &body)
}
