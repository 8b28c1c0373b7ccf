//! DeleteGroups (42): removes empty groups and their committed offsets.

use bytes::Bytes;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::{Close, Request};
use crate::errors::group_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: DeleteGroupsRequest = request.decode()?;
    let groups = request.context.broker.groups();
    let mut results = Vec::with_capacity(req.groups_names.len());
    for id in req.groups_names {
        let code = groups.delete(id.as_str()).await;
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(group_code(code)),
        );
    }
    request.respond(&DeleteGroupsResponse::default().with_results(results))
}
