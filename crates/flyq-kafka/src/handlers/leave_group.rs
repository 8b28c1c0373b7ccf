//! LeaveGroup (13): members leave (v3+: several at once, by member or instance id).

use bytes::Bytes;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::{Close, Request};
use crate::errors::group_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: LeaveGroupRequest = request.decode()?;
    let leaving: Vec<(String, Option<String>)> = if request.version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.as_str().to_owned(),
                    m.group_instance_id.as_ref().map(|i| i.as_str().to_owned()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.as_str().to_owned(), None)]
    };
    let response = match request
        .context
        .broker
        .groups()
        .leave(req.group_id.as_str(), &leaving)
    {
        Err(code) => LeaveGroupResponse::default().with_error_code(group_code(code)),
        Ok(codes) if request.version >= 3 => {
            let members = req
                .members
                .into_iter()
                .zip(codes)
                .map(|(m, code)| {
                    MemberResponse::default()
                        .with_member_id(m.member_id)
                        .with_group_instance_id(m.group_instance_id)
                        .with_error_code(group_code(code))
                })
                .collect();
            LeaveGroupResponse::default().with_members(members)
        }
        Ok(codes) => LeaveGroupResponse::default()
            .with_error_code(codes.first().copied().map_or(0, group_code)),
    };
    request.respond(&response)
}
