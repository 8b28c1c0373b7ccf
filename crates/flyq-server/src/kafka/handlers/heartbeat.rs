//! Heartbeat (12): keeps a member's session alive; says when to rejoin.

use bytes::Bytes;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::{Close, Request};

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: HeartbeatRequest = request.decode()?;
    let code = request.context.broker.groups().heartbeat(
        req.group_id.as_str(),
        req.member_id.as_str(),
        req.generation_id,
    );
    request.respond(&HeartbeatResponse::default().with_error_code(code))
}
