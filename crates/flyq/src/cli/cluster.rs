//! `flyq cluster info`: the cluster id, the controller, every broker and the topic count.

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;

use super::output::{self, emit, fields, sections};
use super::{ClusterArgs, JsonFlag};

/// Cluster inspection.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Cluster id, controller, brokers and topic count.
    Info {
        #[command(flatten)]
        format: JsonFlag,
    },
}

#[derive(Debug, Serialize)]
struct Node {
    id: i32,
    host: String,
    port: i32,
    controller: bool,
}

#[derive(Debug, Serialize)]
struct ClusterReport {
    cluster_id: String,
    controller: i32,
    nodes: Vec<Node>,
    topics: usize,
}

pub async fn run(cluster: &ClusterArgs, command: ClusterCommand) -> anyhow::Result<()> {
    let ClusterCommand::Info { format } = command;
    let admin = cluster.admin()?;
    let description = admin
        .describe_cluster()
        .await
        .context("describing the cluster")?;
    let topics = admin.list_topics().await.context("listing topics")?.len();
    let report = ClusterReport {
        cluster_id: description.cluster_id,
        controller: description.controller,
        nodes: description
            .brokers
            .into_iter()
            .map(|b| Node {
                controller: b.id == description.controller,
                id: b.id,
                host: b.host,
                port: b.port,
            })
            .collect(),
        topics,
    };
    emit(format.json, &report, |r| {
        let mut nodes = output::table(["NODE", "ADDRESS", "ROLE"]);
        for n in &r.nodes {
            nodes.add_row([
                n.id.to_string(),
                format!("{}:{}", n.host, n.port),
                if n.controller { "controller" } else { "broker" }.to_owned(),
            ]);
        }
        sections([
            fields(&[
                ("cluster id", r.cluster_id.clone()),
                ("controller", r.controller.to_string()),
                ("topics", r.topics.to_string()),
            ]),
            output::render(nodes),
        ])
    })
}
