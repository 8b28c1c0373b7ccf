//! DescribeConfigs (32): a topic's effective configs (overrides and defaults), or the broker's
//! defaults for topics.

use bytes::Bytes;
use flyq_broker::ConfigEntry;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::{Close, Request, str_bytes};
use crate::kafka::errors::error_code;

/// Kafka's resource types and config sources.
pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;
const SOURCE_DYNAMIC_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: DescribeConfigsRequest = request.decode()?;
    let broker = &request.context.broker;
    let results = req
        .resources
        .into_iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let entries = match resource.resource_type {
                RESOURCE_TOPIC => broker
                    .describe_topic_configs(resource.resource_name.as_str())
                    .map_err(|e| error_code(&e)),
                RESOURCE_BROKER => Ok(broker.default_configs()),
                _ => Err(ResponseError::InvalidRequest.code()),
            };
            match entries {
                Err(code) => result.with_error_code(code),
                Ok(entries) => {
                    let wanted = resource.configuration_keys.as_ref();
                    let configs = entries
                        .into_iter()
                        .filter(|e| {
                            wanted.is_none_or(|keys| keys.iter().any(|k| k.as_str() == e.name))
                        })
                        .map(|e| entry(e, resource.resource_type))
                        .collect();
                    result.with_configs(configs)
                }
            }
        })
        .collect();
    request.respond(&DescribeConfigsResponse::default().with_results(results))
}

fn entry(e: ConfigEntry, resource_type: i8) -> DescribeConfigsResourceResult {
    let source = match (resource_type, e.is_default) {
        (RESOURCE_BROKER, _) => SOURCE_STATIC_BROKER,
        (_, true) => SOURCE_DEFAULT,
        (_, false) => SOURCE_DYNAMIC_TOPIC,
    };
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(e.name))
        .with_value(Some(str_bytes(e.value)))
        .with_read_only(resource_type == RESOURCE_BROKER)
        .with_config_source(source)
}
