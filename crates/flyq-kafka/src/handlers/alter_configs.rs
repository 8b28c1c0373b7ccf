//! AlterConfigs (33): replaces a topic's config overrides (keys not given return to their
//! defaults). Broker configs are static: they come from the command line and config file.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::describe_configs::RESOURCE_TOPIC;
use super::{Close, Request, config_map, str_bytes};
use crate::errors::error_code;

/// The answer for one resource of an (incremental) alter: success, or the code and reason.
pub(crate) fn resource_result(
    resource_type: i8,
    resource_name: kafka_protocol::protocol::StrBytes,
    result: Result<(), (i16, String)>,
) -> AlterConfigsResourceResponse {
    let response = AlterConfigsResourceResponse::default()
        .with_resource_type(resource_type)
        .with_resource_name(resource_name);
    match result {
        Ok(()) => response,
        Err((code, message)) => response
            .with_error_code(code)
            .with_error_message(Some(str_bytes(message))),
    }
}

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: AlterConfigsRequest = request.decode()?;
    let broker = &request.context.broker;
    let mut responses = Vec::with_capacity(req.resources.len());
    for resource in req.resources {
        let result = if resource.resource_type != RESOURCE_TOPIC {
            Err((
                ResponseError::InvalidRequest.code(),
                "only topic configs can be altered".to_owned(),
            ))
        } else {
            let configs = config_map(resource.configs.iter().map(|c| (&c.name, c.value.as_ref())));
            broker
                .alter_topic_configs(resource.resource_name.as_str(), configs, req.validate_only)
                .await
                .map_err(|e| (error_code(&e), e.to_string()))
        };
        responses.push(resource_result(
            resource.resource_type,
            resource.resource_name,
            result,
        ));
    }
    request.respond(&AlterConfigsResponse::default().with_responses(responses))
}
