//! InitProducerId (22): a producer id and epoch for an idempotent producer. Transactional ids
//! are refused until transactions are built.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::{Close, Request};
use crate::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: InitProducerIdRequest = request.decode()?;
    let refused = |code| {
        InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if req
        .transactional_id
        .as_ref()
        .is_some_and(|id| !id.is_empty())
    {
        tracing::info!(target: "flyq::kafka", peer = %request.peer, "refused a transactional producer: transactions are not supported yet");
        return request.respond(&refused(
            ResponseError::TransactionalIdAuthorizationFailed.code(),
        ));
    }
    let existing = (request.version >= 3).then_some((req.producer_id.0, req.producer_epoch));
    let response = match request.context.broker.init_producer_id(existing).await {
        Ok((id, epoch)) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch),
        Err(e) => refused(error_code(&e)),
    };
    request.respond(&response)
}
