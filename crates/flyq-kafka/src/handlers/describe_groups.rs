//! DescribeGroups (15): state, protocol, members and their assignments, and (v3+, when asked)
//! the operations the client may perform on each group.

use bytes::Bytes;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::{Close, Request, str_bytes};
use crate::authorized::{Resource, authorized_operations};

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: DescribeGroupsRequest = request.decode()?;
    let version = request.version;
    let groups = request.context.broker.groups();
    let described = req
        .groups
        .into_iter()
        .map(|id| match groups.describe(id.as_str()) {
            // Kafka describes an unknown group as Dead with no members.
            None => DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(str_bytes("Dead")),
            Some(group) => {
                let members = group
                    .members
                    .into_iter()
                    .map(|m| {
                        let member = DescribedGroupMember::default()
                            .with_member_id(str_bytes(m.member_id))
                            .with_client_id(str_bytes(m.client_id))
                            .with_client_host(str_bytes(m.client_host))
                            .with_member_metadata(m.metadata)
                            .with_member_assignment(m.assignment);
                        if version >= 4 {
                            member.with_group_instance_id(m.instance_id.map(str_bytes))
                        } else {
                            member
                        }
                    })
                    .collect();
                DescribedGroup::default()
                    .with_group_id(id)
                    .with_group_state(str_bytes(group.state.as_str()))
                    .with_protocol_type(str_bytes(group.protocol_type))
                    .with_protocol_data(str_bytes(group.protocol))
                    .with_members(members)
            }
        })
        .collect();
    let mut response = DescribeGroupsResponse::default().with_groups(described);
    // The codec decodes the flag only from v3, the first version whose response carries it.
    if req.include_authorized_operations {
        for group in &mut response.groups {
            group.authorized_operations = authorized_operations(Resource::Group);
        }
    }
    request.respond(&response)
}
