//! `flyq topic create|list|describe|alter|add-partitions|delete`.

use std::collections::BTreeMap;

use anyhow::Context;
use clap::Subcommand;
use flyq_client::{Admin, AlterConfigOp, ConfigResource, NewTopic, OffsetSpec, TopicPartition};
use serde::Serialize;

use super::output::{self, emit, fields, sections};
use super::{ClusterArgs, JsonFlag, UsageError, key_value};

/// Topic administration.
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        /// Topic name.
        name: String,
        /// Number of partitions (default: the broker's).
        #[arg(long)]
        partitions: Option<i32>,
        /// A topic config, e.g. retention.ms=3600000 (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        configs: Vec<(String, String)>,
    },
    /// List topic names.
    List {
        #[command(flatten)]
        format: JsonFlag,
    },
    /// Partitions (leaders, replicas, watermarks) and configs of a topic.
    Describe {
        /// Topic name.
        name: String,
        #[command(flatten)]
        format: JsonFlag,
    },
    /// Set or reset topic configs.
    Alter {
        /// Topic name.
        name: String,
        /// A config to set (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        configs: Vec<(String, String)>,
        /// A config to reset to its default (repeatable).
        #[arg(long = "delete-config", value_name = "KEY")]
        delete: Vec<String>,
    },
    /// Grow a topic to COUNT partitions in total.
    AddPartitions {
        /// Topic name.
        name: String,
        /// The new total number of partitions.
        #[arg(long)]
        count: i32,
    },
    /// Delete a topic and its data.
    Delete {
        /// Topic name.
        name: String,
    },
}

/// One partition of `topic describe`.
#[derive(Debug, Serialize)]
struct PartitionReport {
    partition: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    low_watermark: i64,
    high_watermark: i64,
}

/// One config of `topic describe`.
#[derive(Debug, Serialize)]
struct ConfigReport {
    value: Option<String>,
    default: bool,
    read_only: bool,
}

/// `topic describe`'s report.
#[derive(Debug, Serialize)]
struct TopicReport {
    name: String,
    internal: bool,
    partitions: Vec<PartitionReport>,
    configs: BTreeMap<String, ConfigReport>,
}

pub async fn run(cluster: &ClusterArgs, command: TopicCommand) -> anyhow::Result<()> {
    let admin = cluster.admin()?;
    match command {
        TopicCommand::Create {
            name,
            partitions,
            configs,
        } => {
            let mut topic = NewTopic::new(&name, partitions.unwrap_or(-1));
            topic.configs = configs;
            admin
                .create_topics(&[topic])
                .await
                .with_context(|| format!("creating topic {name}"))?;
            println!("created topic {name}");
        }
        TopicCommand::List { format } => {
            let names = admin.list_topics().await.context("listing topics")?;
            emit(format.json, &names, |names| {
                let mut t = output::table(["TOPIC"]);
                for n in names {
                    t.add_row([n]);
                }
                output::render(t)
            })?;
        }
        TopicCommand::Describe { name, format } => {
            let report = describe(&admin, &name)
                .await
                .with_context(|| format!("describing topic {name}"))?;
            emit(format.json, &report, human_describe)?;
        }
        TopicCommand::Alter {
            name,
            configs,
            delete,
        } => {
            if configs.is_empty() && delete.is_empty() {
                return Err(UsageError(
                    "nothing to alter: give --config KEY=VALUE or --delete-config KEY".into(),
                )
                .into());
            }
            let ops: Vec<AlterConfigOp> = configs
                .into_iter()
                .map(|(k, v)| AlterConfigOp::Set(k, v))
                .chain(delete.into_iter().map(AlterConfigOp::Delete))
                .collect();
            admin
                .alter_configs(&ConfigResource::Topic(name.clone()), &ops)
                .await
                .with_context(|| format!("altering topic {name}"))?;
            println!("altered topic {name}");
        }
        TopicCommand::AddPartitions { name, count } => {
            admin
                .create_partitions(&name, count)
                .await
                .with_context(|| format!("growing topic {name} to {count} partitions"))?;
            println!("topic {name} now has {count} partitions");
        }
        TopicCommand::Delete { name } => {
            admin
                .delete_topics(&[&name])
                .await
                .with_context(|| format!("deleting topic {name}"))?;
            println!("deleted topic {name}");
        }
    }
    Ok(())
}

/// Every partition of `topic`; an unknown topic is an error naming it.
pub async fn partitions(admin: &Admin, topic: &str) -> anyhow::Result<Vec<TopicPartition>> {
    Ok(admin
        .describe_topics(&[topic])
        .await
        .with_context(|| format!("looking up topic {topic}"))?
        .into_iter()
        .flat_map(|t| t.partitions)
        .map(|p| TopicPartition::new(topic, p.partition))
        .collect())
}

/// Low and high watermarks of `partitions`, looked up together.
pub async fn watermarks(
    admin: &Admin,
    partitions: &[TopicPartition],
) -> anyhow::Result<BTreeMap<TopicPartition, (i64, i64)>> {
    let lookup = |spec: OffsetSpec| -> Vec<(TopicPartition, OffsetSpec)> {
        partitions.iter().map(|tp| (tp.clone(), spec)).collect()
    };
    let (earliest, latest) = (lookup(OffsetSpec::Earliest), lookup(OffsetSpec::Latest));
    let (low, high) = tokio::try_join!(admin.list_offsets(&earliest), admin.list_offsets(&latest))?;
    Ok(partitions
        .iter()
        .map(|tp| {
            let get = |m: &std::collections::HashMap<TopicPartition, flyq_client::ListedOffset>| {
                m.get(tp).map_or(-1, |o| o.offset)
            };
            (tp.clone(), (get(&low), get(&high)))
        })
        .collect())
}

async fn describe(admin: &Admin, name: &str) -> anyhow::Result<TopicReport> {
    let topic = admin
        .describe_topics(&[name])
        .await?
        .into_iter()
        .next()
        .with_context(|| format!("the broker did not describe {name}"))?;
    let tps: Vec<TopicPartition> = topic
        .partitions
        .iter()
        .map(|p| TopicPartition::new(name, p.partition))
        .collect();
    let marks = watermarks(admin, &tps).await?;
    let configs = admin
        .describe_configs(&ConfigResource::Topic(name.to_owned()))
        .await?
        .into_iter()
        .map(|(k, c)| {
            (
                k,
                ConfigReport {
                    value: c.value,
                    default: c.is_default,
                    read_only: c.read_only,
                },
            )
        })
        .collect();
    Ok(TopicReport {
        name: topic.name,
        internal: topic.internal,
        partitions: topic
            .partitions
            .into_iter()
            .map(|p| {
                let (low, high) = marks
                    .get(&TopicPartition::new(name, p.partition))
                    .copied()
                    .unwrap_or((-1, -1));
                PartitionReport {
                    partition: p.partition,
                    leader: p.leader,
                    replicas: p.replicas,
                    isr: p.isr,
                    low_watermark: low,
                    high_watermark: high,
                }
            })
            .collect(),
        configs,
    })
}

fn ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

fn human_describe(r: &TopicReport) -> String {
    let mut partitions = output::table(["PARTITION", "LEADER", "REPLICAS", "ISR", "LOW", "HIGH"]);
    for p in &r.partitions {
        partitions.add_row([
            p.partition.to_string(),
            p.leader.to_string(),
            ids(&p.replicas),
            ids(&p.isr),
            p.low_watermark.to_string(),
            p.high_watermark.to_string(),
        ]);
    }
    let mut configs = output::table(["CONFIG", "VALUE", "SOURCE"]);
    for (k, c) in &r.configs {
        configs.add_row([
            k.clone(),
            c.value.clone().unwrap_or_default(),
            if c.default { "default" } else { "topic" }.to_owned(),
        ]);
    }
    sections([
        fields(&[
            ("topic", r.name.clone()),
            ("partitions", r.partitions.len().to_string()),
            ("internal", r.internal.to_string()),
        ]),
        output::render(partitions),
        output::render(configs),
    ])
}
