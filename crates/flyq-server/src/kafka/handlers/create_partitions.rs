//! CreatePartitions (37): grows topics; manual replica assignments are not taken on a single
//! node.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{Close, Request, str_bytes};
use crate::kafka::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: CreatePartitionsRequest = request.decode()?;
    let broker = &request.context.broker;
    let results = req
        .topics
        .into_iter()
        .map(|topic| {
            let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            if topic.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
                return result
                    .with_error_code(ResponseError::InvalidReplicaAssignment.code())
                    .with_error_message(Some(str_bytes(
                        "manual replica assignment is not supported",
                    )));
            }
            match broker.create_partitions(topic.name.as_str(), topic.count, req.validate_only) {
                Ok(()) => result,
                Err(e) => result
                    .with_error_code(error_code(&e))
                    .with_error_message(Some(str_bytes(e.to_string()))),
            }
        })
        .collect();
    request.respond(&CreatePartitionsResponse::default().with_results(results))
}
