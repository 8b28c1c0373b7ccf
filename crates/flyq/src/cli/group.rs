//! `flyq group list|describe|lag|reset-offsets|delete`: consumer groups, their members and how
//! far behind the log end their committed offsets are.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use clap::Subcommand;
use flyq_client::{Admin, GroupDescription, OffsetSpec, TopicPartition};
use serde::Serialize;

use super::output::{self, emit, fields, sections};
use super::{ClusterArgs, JsonFlag, OperationFailed, StartAt};

/// Consumer group administration.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List groups and their states.
    List {
        #[command(flatten)]
        format: JsonFlag,
    },
    /// State, members and per-partition offsets and lag of a group.
    Describe {
        /// Group id.
        group: String,
        #[command(flatten)]
        format: JsonFlag,
    },
    /// Per-partition lag of a group and the total.
    Lag {
        /// Group id.
        group: String,
        #[command(flatten)]
        format: JsonFlag,
    },
    /// Move a group's committed offsets for a topic (the group must have no active members).
    ResetOffsets {
        /// Group id.
        group: String,
        /// Topic whose partitions move.
        #[arg(long)]
        topic: String,
        /// Target: earliest, latest, OFFSET or @TIMESTAMP_MS.
        #[arg(long, value_name = "WHERE")]
        to: StartAt,
        /// Show the new offsets without committing them.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        format: JsonFlag,
    },
    /// Delete a group with no active members, and its committed offsets.
    Delete {
        /// Group id.
        group: String,
    },
}

/// One partition's committed offset, log end and lag.
#[derive(Debug, Serialize)]
struct LagRow {
    topic: String,
    partition: i32,
    /// `None` when the group has committed nothing for the partition.
    committed: Option<i64>,
    log_end: i64,
    /// Records between the commit (or the log start without one) and the log end.
    lag: i64,
    /// Client id of the member that owns the partition, if any.
    owner: Option<String>,
}

/// A member in `group describe`.
#[derive(Debug, Serialize)]
struct MemberReport {
    member_id: String,
    client_id: String,
    host: String,
    assignments: Vec<String>,
}

/// `group describe`'s report.
#[derive(Debug, Serialize)]
struct GroupReport {
    group: String,
    state: String,
    protocol: String,
    members: Vec<MemberReport>,
    offsets: Vec<LagRow>,
    total_lag: i64,
}

/// `group lag`'s report.
#[derive(Debug, Serialize)]
struct LagReport {
    group: String,
    partitions: Vec<LagRow>,
    total_lag: i64,
}

/// One partition of `group reset-offsets`.
#[derive(Debug, Serialize)]
struct ResetRow {
    topic: String,
    partition: i32,
    previous: Option<i64>,
    new: i64,
}

/// `group reset-offsets`'s report.
#[derive(Debug, Serialize)]
struct ResetReport {
    group: String,
    dry_run: bool,
    partitions: Vec<ResetRow>,
}

pub async fn run(cluster: &ClusterArgs, command: GroupCommand) -> anyhow::Result<()> {
    let admin = cluster.admin()?;
    match command {
        GroupCommand::List { format } => {
            let groups = admin.list_groups().await.context("listing groups")?;
            #[derive(Serialize)]
            struct Row {
                group: String,
                state: String,
                protocol_type: String,
            }
            let rows: Vec<Row> = groups
                .into_iter()
                .map(|g| Row {
                    group: g.group_id,
                    state: g.state,
                    protocol_type: g.protocol_type,
                })
                .collect();
            emit(format.json, &rows, |rows| {
                let mut t = output::table(["GROUP", "STATE", "TYPE"]);
                for r in rows {
                    t.add_row([&r.group, &r.state, &r.protocol_type]);
                }
                output::render(t)
            })?;
        }
        GroupCommand::Describe { group, format } => {
            let description = described(&admin, &group).await?;
            let offsets = lag_rows(&admin, &group, &description).await?;
            let report = GroupReport {
                group: group.clone(),
                state: description.state,
                protocol: description.protocol,
                total_lag: offsets.iter().map(|r| r.lag).sum(),
                offsets,
                members: description
                    .members
                    .into_iter()
                    .map(|m| MemberReport {
                        member_id: m.member_id,
                        client_id: m.client_id,
                        host: m.client_host,
                        assignments: m.assignment.iter().map(ToString::to_string).collect(),
                    })
                    .collect(),
            };
            emit(format.json, &report, human_describe)?;
        }
        GroupCommand::Lag { group, format } => {
            let description = described(&admin, &group).await?;
            let partitions = lag_rows(&admin, &group, &description).await?;
            let report = LagReport {
                group,
                total_lag: partitions.iter().map(|r| r.lag).sum(),
                partitions,
            };
            emit(format.json, &report, |r| {
                sections([
                    lag_table(&r.partitions),
                    fields(&[("total lag", r.total_lag.to_string())]),
                ])
            })?;
        }
        GroupCommand::ResetOffsets {
            group,
            topic,
            to,
            dry_run,
            format,
        } => {
            let report = reset(&admin, &group, &topic, to, dry_run).await?;
            emit(format.json, &report, |r| {
                let mut t = output::table(["TOPIC", "PARTITION", "PREVIOUS", "NEW"]);
                for row in &r.partitions {
                    t.add_row([
                        row.topic.clone(),
                        row.partition.to_string(),
                        opt(row.previous),
                        row.new.to_string(),
                    ]);
                }
                let note = if r.dry_run {
                    "dry run: nothing committed"
                } else {
                    "committed"
                };
                sections([output::render(t), note.to_owned()])
            })?;
        }
        GroupCommand::Delete { group } => {
            admin
                .delete_groups(&[&group])
                .await
                .with_context(|| format!("deleting group {group}"))?;
            println!("deleted group {group}");
        }
    }
    Ok(())
}

/// The group's description; a group the coordinator does not know is an error, not an empty
/// group (the broker answers "Dead" for those).
async fn described(admin: &Admin, group: &str) -> anyhow::Result<GroupDescription> {
    let description = admin
        .describe_group(group)
        .await
        .with_context(|| format!("describing group {group}"))?;
    if description.state == "Dead" {
        return Err(OperationFailed(format!(
            "group {group} does not exist (see `flyq group list`)"
        ))
        .into());
    }
    Ok(description)
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Offsets and lag of every partition the group has committed or has assigned.
async fn lag_rows(
    admin: &Admin,
    group: &str,
    description: &GroupDescription,
) -> anyhow::Result<Vec<LagRow>> {
    let committed = admin
        .list_group_offsets(group)
        .await
        .with_context(|| format!("fetching the offsets of group {group}"))?;
    let mut owners: BTreeMap<&TopicPartition, &str> = BTreeMap::new();
    for m in &description.members {
        for tp in &m.assignment {
            owners.insert(tp, &m.client_id);
        }
    }
    let partitions: BTreeSet<TopicPartition> = committed
        .keys()
        .chain(owners.keys().copied())
        .cloned()
        .collect();
    let partitions: Vec<TopicPartition> = partitions.into_iter().collect();
    let marks = super::topic::watermarks(admin, &partitions).await?;
    Ok(partitions
        .iter()
        .map(|tp| {
            let (low, end) = marks.get(tp).copied().unwrap_or((0, 0));
            let committed = committed.get(tp).copied();
            LagRow {
                topic: tp.topic.clone(),
                partition: tp.partition,
                committed,
                log_end: end,
                lag: (end - committed.unwrap_or(low)).max(0),
                owner: owners.get(tp).map(|c| (*c).to_owned()),
            }
        })
        .collect())
}

fn lag_table(rows: &[LagRow]) -> String {
    let mut t = output::table(["TOPIC", "PARTITION", "COMMITTED", "LOG END", "LAG", "OWNER"]);
    for r in rows {
        t.add_row([
            r.topic.clone(),
            r.partition.to_string(),
            opt(r.committed),
            r.log_end.to_string(),
            r.lag.to_string(),
            r.owner.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    output::render(t)
}

fn human_describe(r: &GroupReport) -> String {
    let mut members = output::table(["MEMBER", "CLIENT ID", "HOST", "ASSIGNMENTS"]);
    for m in &r.members {
        members.add_row([
            m.member_id.clone(),
            m.client_id.clone(),
            m.host.clone(),
            m.assignments.join(","),
        ]);
    }
    sections([
        fields(&[
            ("group", r.group.clone()),
            ("state", r.state.clone()),
            ("assignor", r.protocol.clone()),
            ("members", r.members.len().to_string()),
            ("total lag", r.total_lag.to_string()),
        ]),
        output::render(members),
        lag_table(&r.offsets),
    ])
}

async fn reset(
    admin: &Admin,
    group: &str,
    topic: &str,
    to: StartAt,
    dry_run: bool,
) -> anyhow::Result<ResetReport> {
    let description = admin
        .describe_group(group)
        .await
        .with_context(|| format!("describing group {group}"))?;
    if !description.members.is_empty() {
        return Err(OperationFailed(format!(
            "group {group} has {} active member(s) (state {}): stop its consumers first, then \
             reset; a live member would overwrite the new offsets with its next commit",
            description.members.len(),
            description.state
        ))
        .into());
    }
    let partitions: Vec<TopicPartition> = super::topic::partitions(admin, topic).await?;
    let marks = super::topic::watermarks(admin, &partitions).await?;
    let by_time = match to {
        StartAt::Timestamp(ts) => {
            let specs: Vec<_> = partitions
                .iter()
                .map(|tp| (tp.clone(), OffsetSpec::Timestamp(ts)))
                .collect();
            admin.list_offsets(&specs).await?
        }
        _ => Default::default(),
    };
    let targets: BTreeMap<TopicPartition, i64> = partitions
        .iter()
        .map(|tp| {
            let (low, high) = marks.get(tp).copied().unwrap_or((0, 0));
            let offset = match to {
                StartAt::Earliest => low,
                StartAt::Latest => high,
                // Clamped like Kafka's tool: an offset outside the log is not a position.
                StartAt::Offset(o) => o.clamp(low, high),
                // No record at or after the time: the end, where the next one will land.
                StartAt::Timestamp(_) => by_time
                    .get(tp)
                    .map(|o| o.offset)
                    .filter(|o| *o >= 0)
                    .unwrap_or(high),
            };
            (tp.clone(), offset)
        })
        .collect();
    let previous = admin.list_group_offsets(group).await?;
    if !dry_run {
        admin
            .alter_group_offsets(group, &targets)
            .await
            .with_context(|| format!("committing new offsets for group {group}"))?;
    }
    Ok(ResetReport {
        group: group.to_owned(),
        dry_run,
        partitions: targets
            .into_iter()
            .map(|(tp, new)| ResetRow {
                previous: previous.get(&tp).copied(),
                topic: tp.topic,
                partition: tp.partition,
                new,
            })
            .collect(),
    })
}
