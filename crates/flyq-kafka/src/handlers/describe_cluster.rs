//! DescribeCluster (60): the cluster id, the controller and the brokers (this node), and the
//! operations the client may perform on the cluster when it asks for them.

use bytes::Bytes;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::{Close, Request, str_bytes};
use crate::authorized::{Resource, authorized_operations};

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: DescribeClusterRequest = request.decode()?;
    let broker = &request.context.broker;
    let node = BrokerId(broker.node_id());
    let (host, port) = &request.context.config.advertised;
    let mut response = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(broker.cluster_id()))
        .with_controller_id(node)
        .with_brokers(vec![
            DescribeClusterBroker::default()
                .with_broker_id(node)
                .with_host(str_bytes(host.clone()))
                .with_port(i32::from(*port)),
        ]);
    if req.include_cluster_authorized_operations {
        response =
            response.with_cluster_authorized_operations(authorized_operations(Resource::Cluster));
    }
    request.respond(&response)
}
