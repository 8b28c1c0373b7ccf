//! JoinGroup (11): joins a consumer group; answered when the rebalance completes.

use std::time::Duration;

use bytes::Bytes;
use flyq_broker::group::{GroupCode, JoinRequest};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::{Close, Request, str_bytes};
use crate::errors::group_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: JoinGroupRequest = request.decode()?;
    let version = request.version;
    let session = Duration::from_millis(u64::try_from(req.session_timeout_ms).unwrap_or(0));
    // v0 has no rebalance timeout: Kafka uses the session timeout.
    let rebalance = if version >= 1 {
        Duration::from_millis(u64::try_from(req.rebalance_timeout_ms).unwrap_or(0))
    } else {
        session
    };
    let join = JoinRequest {
        member_id: req.member_id.as_str().to_owned(),
        instance_id: req
            .group_instance_id
            .as_ref()
            .map(|i| i.as_str().to_owned()),
        client_id: request.client_id(),
        client_host: format!("/{}", request.peer.ip()),
        session_timeout: session,
        rebalance_timeout: rebalance,
        protocol_type: req.protocol_type.as_str().to_owned(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.as_str().to_owned(), p.metadata.clone()))
            .collect(),
        requires_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let outcome = request
        .context
        .broker
        .groups()
        .join(req.group_id.as_str(), join)
        .await;
    let members = outcome
        .members
        .into_iter()
        .map(|(id, instance, metadata)| {
            let member = JoinGroupResponseMember::default()
                .with_member_id(str_bytes(id))
                .with_metadata(metadata);
            if version >= 5 {
                member.with_group_instance_id(instance.map(str_bytes))
            } else {
                member
            }
        })
        .collect();
    let mut response = JoinGroupResponse::default()
        .with_error_code(group_code(outcome.error))
        .with_generation_id(if outcome.error == GroupCode::Ok {
            outcome.generation
        } else {
            -1
        })
        .with_protocol_name(Some(str_bytes(outcome.protocol_name)))
        .with_leader(str_bytes(outcome.leader))
        .with_member_id(str_bytes(outcome.member_id))
        .with_members(members);
    if version >= 7 {
        response = response.with_protocol_type(Some(str_bytes(outcome.protocol_type)));
    }
    if version >= 9 {
        response = response.with_skip_assignment(outcome.skip_assignment);
    }
    request.respond(&response)
}
