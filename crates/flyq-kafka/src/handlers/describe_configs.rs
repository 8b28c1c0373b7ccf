//! DescribeConfigs (32): a topic's effective configs (override, else the broker's
//! `[topic_defaults]`, else FlyQ's default), or the broker's defaults for topics. Every topic
//! config Kafka defines is listed, with its source, type, documentation and (when asked)
//! synonyms: the layers its value overrides, nearest first.

use bytes::Bytes;
use flyq_broker::ConfigEntry;
use flyq_broker::topic_config::ConfigSource;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsSynonym;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::{Close, Request, str_bytes};
use crate::errors::error_code;

/// Kafka's resource types and config sources.
pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;

/// Kafka's code for where a value comes from.
fn source_code(source: ConfigSource) -> i8 {
    match source {
        ConfigSource::Topic => 1,   // DYNAMIC_TOPIC_CONFIG
        ConfigSource::Broker => 4,  // STATIC_BROKER_CONFIG
        ConfigSource::Default => 5, // DEFAULT_CONFIG
    }
}

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
                        .map(|e| {
                            entry(
                                e,
                                resource.resource_type,
                                req.include_synonyms,
                                req.include_documentation,
                            )
                        })
                        .collect();
                    result.with_configs(configs)
                }
            }
        })
        .collect();
    request.respond(&DescribeConfigsResponse::default().with_results(results))
}

fn entry(
    e: ConfigEntry,
    resource_type: i8,
    synonyms: bool,
    documentation: bool,
) -> DescribeConfigsResourceResult {
    let is_broker = resource_type == RESOURCE_BROKER;
    // A broker resource describes the broker's own layer: what the topic layer would inherit.
    let source = if is_broker && e.source == ConfigSource::Default {
        ConfigSource::Default
    } else if is_broker {
        ConfigSource::Broker
    } else {
        e.source
    };
    let mut described = DescribeConfigsResourceResult::default()
        .with_name(str_bytes(e.name.clone()))
        .with_value(Some(str_bytes(e.value)))
        .with_read_only(is_broker)
        .with_config_source(source_code(source))
        .with_config_type(e.key.kind.kafka_code());
    if synonyms {
        described = described.with_synonyms(
            e.synonyms
                .into_iter()
                .map(|(value, source)| {
                    DescribeConfigsSynonym::default()
                        .with_name(str_bytes(e.name.clone()))
                        .with_value(Some(str_bytes(value)))
                        .with_source(source_code(source))
                })
                .collect(),
        );
    }
    if documentation {
        described = described.with_documentation(Some(str_bytes(e.key.doc)));
    }
    described
}
