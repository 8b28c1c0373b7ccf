//! `GET /api/v1/cluster`: the cluster id, its controller and its nodes. A single node is the
//! whole cluster and its own controller.

use axum::extract::State;
use serde::Serialize;

use crate::error::{ApiError, ApiResult, Json};
use crate::state::HttpState;

/// A node as Kafka clients reach it.
#[derive(Debug, Serialize)]
pub(crate) struct Node {
    id: i32,
    host: String,
    port: u16,
}

/// The cluster.
#[derive(Debug, Serialize)]
pub(crate) struct Cluster {
    cluster_id: String,
    controller_id: i32,
    nodes: Vec<Node>,
    version: &'static str,
}

pub(crate) async fn describe(State(state): State<HttpState>) -> ApiResult<Json<Cluster>> {
    let running = state.running().ok_or_else(ApiError::not_ready)?;
    let broker = &running.broker;
    Ok(Json(Cluster {
        cluster_id: broker.cluster_id(),
        controller_id: broker.node_id(),
        nodes: vec![Node {
            id: broker.node_id(),
            host: running.advertised.0.clone(),
            port: running.advertised.1,
        }],
        version: env!("CARGO_PKG_VERSION"),
    }))
}
