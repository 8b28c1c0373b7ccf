//! IncrementalAlterConfigs (44): SET or DELETE single topic config overrides. (APPEND and
//! SUBTRACT apply to list-valued configs, which FlyQ's topic configs are not.)

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::describe_configs::RESOURCE_TOPIC;
use super::{Close, Request, str_bytes};
use crate::kafka::errors::error_code;

const SET: i8 = 0;
const DELETE: i8 = 1;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: IncrementalAlterConfigsRequest = request.decode()?;
    let broker = &request.context.broker;
    let responses = req
        .resources
        .into_iter()
        .map(|resource| {
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let refuse = |code: i16, message: String| {
                AlterConfigsResourceResponse::default()
                    .with_resource_type(resource.resource_type)
                    .with_resource_name(resource.resource_name.clone())
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(message)))
            };
            if resource.resource_type != RESOURCE_TOPIC {
                return refuse(
                    ResponseError::InvalidRequest.code(),
                    "only topic configs can be altered".into(),
                );
            }
            let name = resource.resource_name.as_str();
            let Some(topic) = broker.topic(name) else {
                return refuse(
                    ResponseError::UnknownTopicOrPartition.code(),
                    format!("unknown topic {name}"),
                );
            };
            let mut configs = topic.configs.clone();
            for change in &resource.configs {
                let key = change.name.as_str().to_owned();
                match (change.config_operation, &change.value) {
                    (SET, Some(value)) => {
                        configs.insert(key, value.as_str().to_owned());
                    }
                    (DELETE, _) => {
                        configs.remove(&key);
                    }
                    (op, _) => {
                        return refuse(
                            ResponseError::InvalidConfig.code(),
                            format!("operation {op} is not supported for {key}"),
                        );
                    }
                }
            }
            match broker.alter_topic_configs(name, configs, req.validate_only) {
                Ok(()) => response,
                Err(e) => response
                    .with_error_code(error_code(&e))
                    .with_error_message(Some(str_bytes(e.to_string()))),
            }
        })
        .collect();
    request.respond(&IncrementalAlterConfigsResponse::default().with_responses(responses))
}
