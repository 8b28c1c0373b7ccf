//! AlterConfigs (33): replaces a topic's config overrides (keys not given return to their
//! defaults). Broker configs are static: they come from the command line and config file.

use bytes::Bytes;
use flyq_broker::TopicConfigs;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::describe_configs::RESOURCE_TOPIC;
use super::{Close, Request, str_bytes};
use crate::kafka::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: AlterConfigsRequest = request.decode()?;
    let broker = &request.context.broker;
    let responses = req
        .resources
        .into_iter()
        .map(|resource| {
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            if resource.resource_type != RESOURCE_TOPIC {
                return response
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes("only topic configs can be altered")));
            }
            let configs: TopicConfigs = resource
                .configs
                .iter()
                .filter_map(|c| {
                    Some((
                        c.name.as_str().to_owned(),
                        c.value.as_ref()?.as_str().to_owned(),
                    ))
                })
                .collect();
            match broker.alter_topic_configs(
                resource.resource_name.as_str(),
                configs,
                req.validate_only,
            ) {
                Ok(()) => response,
                Err(e) => response
                    .with_error_code(error_code(&e))
                    .with_error_message(Some(str_bytes(e.to_string()))),
            }
        })
        .collect();
    request.respond(&AlterConfigsResponse::default().with_responses(responses))
}
