//! DeleteTopics (20): removes topics and their data (by name; v6's topic ids are not
//! advertised yet).

use bytes::Bytes;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};

use super::{Close, Request, str_bytes};
use crate::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: DeleteTopicsRequest = request.decode()?;
    let broker = &request.context.broker;
    let mut results = Vec::with_capacity(req.topic_names.len());
    for name in req.topic_names {
        let result = DeletableTopicResult::default().with_name(Some(name.clone()));
        let result = match broker.delete_topic(name.as_str()).await {
            Ok(()) => result,
            Err(e) if request.version >= 5 => result
                .with_error_code(error_code(&e))
                .with_error_message(Some(str_bytes(e.to_string()))),
            Err(e) => result.with_error_code(error_code(&e)),
        };
        results.push(result);
    }
    request.respond(&DeleteTopicsResponse::default().with_responses(results))
}
