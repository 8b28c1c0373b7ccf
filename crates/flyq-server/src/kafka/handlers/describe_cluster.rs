//! DescribeCluster (60): the cluster id, the controller and the brokers (this node).

use bytes::Bytes;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::{Close, Request, str_bytes};

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let _: DescribeClusterRequest = request.decode()?;
    let broker = &request.context.broker;
    let node = BrokerId(broker.node_id());
    let (host, port) = &request.context.config.advertised;
    let response = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(broker.cluster_id()))
        .with_controller_id(node)
        .with_brokers(vec![
            DescribeClusterBroker::default()
                .with_broker_id(node)
                .with_host(str_bytes(host.clone()))
                .with_port(i32::from(*port)),
        ]);
    request.respond(&response)
}
