//! Heartbeat (12): keeps a member's session alive; says when to rejoin.

use bytes::Bytes;
use flyq_broker::group::MemberClaim;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::{Close, Request};
use crate::errors::group_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: HeartbeatRequest = request.decode()?;
    let claim = MemberClaim {
        member_id: req.member_id.as_str(),
        instance_id: req.group_instance_id.as_ref().map(|i| i.as_str()),
        generation: req.generation_id,
    };
    let code = request
        .context
        .broker
        .groups()
        .heartbeat(req.group_id.as_str(), claim);
    request.respond(&HeartbeatResponse::default().with_error_code(group_code(code)))
}
