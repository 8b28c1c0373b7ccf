//! SyncGroup (14): the leader hands out assignments; every member gets its own.

use bytes::Bytes;
use flyq_broker::group::MemberClaim;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::{Close, Request, str_bytes};
use crate::errors::group_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: SyncGroupRequest = request.decode()?;
    let assignments = req
        .assignments
        .iter()
        .map(|a| (a.member_id.as_str().to_owned(), a.assignment.clone()))
        .collect();
    let outcome = request
        .context
        .broker
        .groups()
        .sync(
            req.group_id.as_str(),
            MemberClaim {
                member_id: req.member_id.as_str(),
                instance_id: req.group_instance_id.as_ref().map(|i| i.as_str()),
                generation: req.generation_id,
            },
            assignments,
        )
        .await;
    let mut response = SyncGroupResponse::default()
        .with_error_code(group_code(outcome.error))
        .with_assignment(outcome.assignment);
    if request.version >= 5 {
        response = response
            .with_protocol_type(Some(str_bytes(outcome.protocol_type)))
            .with_protocol_name(Some(str_bytes(outcome.protocol_name)));
    }
    request.respond(&response)
}
