//! `flyq consume`: reads a topic (all partitions or one, or as a group member) and prints each
//! record as text or one JSON object per line, until a count, the end of the log seen at the
//! start, or Ctrl-C. A group member commits what it printed and leaves the group on the way out.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use flyq_client::{Consumer, ConsumerRecord, OffsetReset, TopicPartition};
use serde::Serialize;

use super::output::encode_bytes;
use super::{ClusterArgs, StartAt, UsageError};

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The value (with key and headers when asked), one record per line.
    Text,
    /// One JSON object per line with every field.
    Json,
}

/// Arguments of `flyq consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topic to read.
    topic: String,
    /// Consume as a member of this group, committing offsets (the group picks partitions).
    #[arg(long)]
    group: Option<String>,
    /// Where to start: earliest, latest, OFFSET or @TIMESTAMP_MS (a group starts at its
    /// committed offsets and uses this only where it has none: earliest or latest).
    #[arg(long, default_value = "earliest", value_name = "WHERE")]
    from: StartAt,
    /// Stop after this many records.
    #[arg(long, short = 'n')]
    count: Option<u64>,
    /// Only this partition.
    #[arg(long, conflicts_with = "group")]
    partition: Option<i32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Print the key before the value (text format).
    #[arg(long)]
    show_key: bool,
    /// Print the headers after the value (text format).
    #[arg(long)]
    show_headers: bool,
    /// Stop at the end of the log as it was when consuming started.
    #[arg(long, short = 'e')]
    exit_at_end: bool,
}

/// A record as JSON; bytes that are not UTF-8 are base64 with an `*_encoding` marker.
#[derive(Serialize)]
struct JsonRecord<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_encoding: Option<&'static str>,
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_encoding: Option<&'static str>,
    headers: Vec<JsonHeader<'a>>,
}

#[derive(Serialize)]
struct JsonHeader<'a> {
    key: &'a str,
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_encoding: Option<&'static str>,
}

fn split(bytes: Option<&[u8]>) -> (Option<String>, Option<&'static str>) {
    match bytes.map(encode_bytes) {
        Some((s, enc)) => (Some(s), enc),
        None => (None, None),
    }
}

fn lossy(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(String::new, |b| String::from_utf8_lossy(b).into_owned())
}

impl ConsumeArgs {
    fn print(&self, out: &mut impl Write, r: &ConsumerRecord) -> anyhow::Result<()> {
        match self.format {
            Format::Json => {
                let (key, key_encoding) = split(r.key.as_deref());
                let (value, value_encoding) = split(r.value.as_deref());
                let record = JsonRecord {
                    topic: &r.topic,
                    partition: r.partition,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key,
                    key_encoding,
                    value,
                    value_encoding,
                    headers: r
                        .headers
                        .iter()
                        .map(|h| {
                            let (value, value_encoding) = split(h.value.as_deref());
                            JsonHeader {
                                key: &h.key,
                                value,
                                value_encoding,
                            }
                        })
                        .collect(),
                };
                serde_json::to_writer(&mut *out, &record)?;
                writeln!(out)?;
            }
            Format::Text => {
                if self.show_key {
                    write!(out, "{}\t", lossy(r.key.as_deref()))?;
                }
                write!(out, "{}", lossy(r.value.as_deref()))?;
                if self.show_headers {
                    let headers: Vec<String> = r
                        .headers
                        .iter()
                        .map(|h| format!("{}={}", h.key, lossy(h.value.as_deref())))
                        .collect();
                    write!(out, "\t{}", headers.join(","))?;
                }
                writeln!(out)?;
            }
        }
        Ok(())
    }
}

/// Set by Ctrl-C; the poll loop checks it between short polls, since dropping a poll midway
/// could lose a rebalance's commits.
fn interrupted() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            set.store(true, Ordering::SeqCst);
        }
    });
    flag
}

pub async fn run(cluster: &ClusterArgs, args: ConsumeArgs) -> anyhow::Result<()> {
    let reset = match (&args.group, args.from) {
        (_, StartAt::Earliest) => OffsetReset::Earliest,
        (_, StartAt::Latest) => OffsetReset::Latest,
        (Some(_), _) => {
            return Err(UsageError(
                "--group starts at the group's committed offsets; --from takes only earliest or \
                 latest there (move a group with `flyq group reset-offsets`)"
                    .into(),
            )
            .into());
        }
        (None, _) => OffsetReset::Earliest,
    };
    let config = cluster
        .consumer_config(args.group.as_deref())
        .auto_offset_reset(reset)
        .enable_auto_commit(args.group.is_some());
    let admin = cluster.admin()?;
    let mut consumer = Consumer::new(config)?;
    if args.group.is_some() {
        consumer.subscribe(&[args.topic.as_str()])?;
    } else {
        let partitions: Vec<TopicPartition> = match args.partition {
            Some(p) => vec![TopicPartition::new(args.topic.as_str(), p)],
            None => super::topic::partitions(&admin, args.topic.as_str()).await?,
        };
        consumer.assign(&partitions)?;
        match args.from {
            StartAt::Earliest => consumer.seek_to_beginning(&partitions).await?,
            StartAt::Latest => consumer.seek_to_end(&partitions).await?,
            StartAt::Offset(o) => {
                for tp in &partitions {
                    consumer.seek(tp, o)?;
                }
            }
            StartAt::Timestamp(ts) => consumer.seek_to_timestamp(&partitions, ts).await?,
        }
    }
    let result = consume(&args, &admin, &mut consumer).await;
    // Commit and leave even after a failure, so the group does not wait out a session.
    let closed = consumer.close().await.context("leaving the consumer group");
    result.and(closed)
}

async fn consume(
    args: &ConsumeArgs,
    admin: &flyq_client::Admin,
    consumer: &mut Consumer,
) -> anyhow::Result<()> {
    let stop = interrupted();
    // End offsets as they were when each partition was first seen (for --exit-at-end).
    let mut ends: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    let mut printed = 0u64;
    let stdout = std::io::stdout();
    while !stop.load(Ordering::SeqCst) {
        let records = consumer.poll(Duration::from_millis(200)).await?;
        let remaining = args.count.map_or(usize::MAX, |n| {
            usize::try_from(n.saturating_sub(printed)).unwrap_or(usize::MAX)
        });
        let (shown, unshown) = records.split_at(records.len().min(remaining));
        let mut out = stdout.lock();
        for r in shown {
            args.print(&mut out, r)?;
        }
        out.flush()?;
        drop(out);
        printed += shown.len() as u64;
        if args.count.is_some_and(|n| printed >= n) {
            rewind(consumer, unshown)?;
            break;
        }
        if args.exit_at_end && at_end(admin, consumer, &mut ends).await? {
            break;
        }
    }
    Ok(())
}

/// Seeks back to the first record not printed in each partition, so a group does not
/// commit records past the count.
fn rewind(consumer: &mut Consumer, unshown: &[ConsumerRecord]) -> anyhow::Result<()> {
    let mut first: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for r in unshown {
        first
            .entry(TopicPartition::new(&*r.topic, r.partition))
            .or_insert(r.offset);
    }
    for (tp, offset) in first {
        consumer.seek(&tp, offset)?;
    }
    Ok(())
}

/// Whether every assigned partition's position reached its end offset from when it was
/// first seen.
async fn at_end(
    admin: &flyq_client::Admin,
    consumer: &Consumer,
    ends: &mut BTreeMap<TopicPartition, i64>,
) -> anyhow::Result<bool> {
    let assigned = consumer.assignment();
    if assigned.is_empty() {
        return Ok(false);
    }
    let unseen: Vec<TopicPartition> = assigned
        .iter()
        .filter(|tp| !ends.contains_key(*tp))
        .cloned()
        .collect();
    if !unseen.is_empty() {
        for (tp, (_, high)) in super::topic::watermarks(admin, &unseen).await? {
            ends.insert(tp, high);
        }
    }
    Ok(assigned.iter().all(|tp| {
        let end = ends.get(tp).copied().unwrap_or(0);
        consumer.position(tp).is_some_and(|p| p >= end)
    }))
}
