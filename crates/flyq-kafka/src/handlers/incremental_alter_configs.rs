//! IncrementalAlterConfigs (44): SET, DELETE, APPEND or SUBTRACT single topic config
//! overrides. APPEND and SUBTRACT apply to list configs (`cleanup.policy`, the throttled
//! replica lists) and start from the current effective value, as in Kafka.

use bytes::Bytes;
use flyq_broker::ConfigChange;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::alter_configs::resource_result;
use super::describe_configs::RESOURCE_TOPIC;
use super::{Close, Request};
use crate::errors::error_code;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

async fn alter(
    broker: &std::sync::Arc<flyq_broker::Broker>,
    resource_type: i8,
    name: &kafka_protocol::protocol::StrBytes,
    changes: &[kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig],
    validate_only: bool,
) -> Result<(), (i16, String)> {
    if resource_type != RESOURCE_TOPIC {
        return Err((
            ResponseError::InvalidRequest.code(),
            "only topic configs can be altered".into(),
        ));
    }
    let mut edits = Vec::with_capacity(changes.len());
    for change in changes {
        let key = change.name.as_str().to_owned();
        let value = change.value.as_ref().map(|v| v.as_str().to_owned());
        let edit = match (change.config_operation, value) {
            (SET, Some(value)) => ConfigChange::Set(value),
            (DELETE, _) => ConfigChange::Delete,
            (APPEND, Some(items)) => ConfigChange::Append(items),
            (SUBTRACT, Some(items)) => ConfigChange::Subtract(items),
            (op, _) => {
                return Err((
                    ResponseError::InvalidRequest.code(),
                    format!("operation {op} without a value, or unknown, for {key}"),
                ));
            }
        };
        edits.push((key, edit));
    }
    broker
        .update_topic_configs(name.as_str(), &edits, validate_only)
        .await
        .map_err(|e| (error_code(&e), e.to_string()))
}

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: IncrementalAlterConfigsRequest = request.decode()?;
    let broker = &request.context.broker;
    let mut responses = Vec::with_capacity(req.resources.len());
    for resource in req.resources {
        let result = alter(
            broker,
            resource.resource_type,
            &resource.resource_name,
            &resource.configs,
            req.validate_only,
        )
        .await;
        let response = resource_result(resource.resource_type, resource.resource_name, result);
        // Both messages share a layout; the incremental response has its own type.
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_resource_type(response.resource_type)
                .with_resource_name(response.resource_name)
                .with_error_code(response.error_code)
                .with_error_message(response.error_message),
        );
    }
    request.respond(&IncrementalAlterConfigsResponse::default().with_responses(responses))
}
