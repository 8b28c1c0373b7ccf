//! FindCoordinator (10): this node coordinates every group (and, later, transaction).

use bytes::Bytes;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::{Close, Request, str_bytes};

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: FindCoordinatorRequest = request.decode()?;
    let node = BrokerId(request.context.broker.node_id());
    let (host, port) = &request.context.config.advertised;
    let response = if request.version >= 4 {
        // v4+: a batch of keys, one answer each.
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(node)
                    .with_host(str_bytes(host.clone()))
                    .with_port(i32::from(*port))
            })
            .collect();
        FindCoordinatorResponse::default().with_coordinators(coordinators)
    } else {
        FindCoordinatorResponse::default()
            .with_node_id(node)
            .with_host(str_bytes(host.clone()))
            .with_port(i32::from(*port))
    };
    request.respond(&response)
}
