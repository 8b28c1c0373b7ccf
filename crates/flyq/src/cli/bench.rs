//! `flyq bench produce|consume`: throughput and latency against any Kafka-protocol broker, in
//! the manner of kafka-producer-perf-test.
//!
//! The tool must not be the bottleneck: the produce loop sends one shared payload (a refcount
//! bump per record, no copy) and never waits for a delivery before sending the next; a
//! collector task awaits the delivery futures in send order and records send-to-ack latency in
//! an HDR histogram. The producer's buffer memory is what bounds the records in flight.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use flyq_client::{
    Acks, Compression, Consumer, DeliveryFuture, NewTopic, OffsetReset, Producer, ProducerRecord,
    ResponseError, TopicPartition,
};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::output::{emit, fields};
use super::{ClusterArgs, OperationFailed, UsageError};

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Produce fixed-size records as fast as allowed; report msgs/s, MB/s and send-to-ack
    /// latency percentiles.
    Produce(ProduceBench),
    /// Consume a topic from the beginning; report msgs/s, MB/s and end-to-end latency from the
    /// record timestamps.
    Consume(ConsumeBench),
}

/// What both benchmarks take.
#[derive(Debug, Args)]
pub struct Common {
    /// Topic to use.
    #[arg(long, default_value = "flyq-bench")]
    topic: String,
    /// Number of records (produce: default 100000 without --duration; consume: default the
    /// records in the topic when it starts).
    #[arg(long)]
    count: Option<u64>,
    /// Run this long instead of for a count, e.g. 30s.
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "count")]
    duration: Option<Duration>,
    /// Print one JSON object with the results.
    #[arg(long)]
    json: bool,
}

/// Acknowledgements the producer waits for.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum AcksArg {
    /// Every in-sync replica (idempotent).
    #[value(name = "all", alias = "-1")]
    All,
    /// The leader only.
    #[value(name = "1")]
    Leader,
    /// None (no offsets, no latency from the broker).
    #[value(name = "0")]
    None,
}

/// Batch compression codecs.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum CompressionArg {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

/// Arguments of `flyq bench produce`.
#[derive(Debug, Args)]
pub struct ProduceBench {
    #[command(flatten)]
    common: Common,
    /// Bytes per record value.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Records per second at most (0: unlimited).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Acknowledgements: all, 1 or 0.
    #[arg(long, value_enum, default_value_t = AcksArg::All)]
    acks: AcksArg,
    /// Partitions of the topic if it has to be created (default: the broker's).
    #[arg(long)]
    partitions: Option<i32>,
    /// Producer batch size in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    batch_size: usize,
    /// How long a batch waits for more records, e.g. 5ms.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5ms")]
    linger: Duration,
    /// Batch compression.
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    compression: CompressionArg,
    /// Turn idempotence off (it is on by default with --acks all, and limits requests in
    /// flight to 5 per broker).
    #[arg(long)]
    no_idempotence: bool,
    /// Produce requests in flight per broker (at most 5 with idempotence).
    #[arg(long, default_value_t = 5)]
    max_in_flight: usize,
}

/// Arguments of `flyq bench consume`.
#[derive(Debug, Args)]
pub struct ConsumeBench {
    #[command(flatten)]
    common: Common,
    /// Give up when no record arrives for this long, e.g. 10s.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    idle_timeout: Duration,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Serialize)]
struct Latency {
    p50: f64,
    p95: f64,
    p99: f64,
    p999: f64,
    max: f64,
    mean: f64,
}

/// The result of a benchmark, as printed.
#[derive(Debug, Serialize)]
struct BenchReport {
    mode: &'static str,
    topic: String,
    records: u64,
    failed: u64,
    bytes: u64,
    seconds: f64,
    records_per_sec: f64,
    mb_per_sec: f64,
    /// "send-to-ack" for produce, "end-to-end" (from the record timestamp) for consume.
    latency_kind: &'static str,
    latency_ms: Option<Latency>,
}

/// Throughput and latency as they accumulate.
struct Stats {
    records: u64,
    failed: u64,
    bytes: u64,
    latency_us: Histogram<u64>,
    first_error: Option<flyq_client::Error>,
}

impl Stats {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            records: 0,
            failed: 0,
            bytes: 0,
            // 1 us to 1 hour at 3 significant digits; longer values saturate.
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)?,
            first_error: None,
        })
    }

    fn latency(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        self.latency_us.saturating_record(us);
    }

    fn report(
        &self,
        mode: &'static str,
        kind: &'static str,
        topic: &str,
        elapsed: Duration,
    ) -> BenchReport {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let h = &self.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        BenchReport {
            mode,
            topic: topic.to_owned(),
            records: self.records,
            failed: self.failed,
            bytes: self.bytes,
            seconds,
            records_per_sec: self.records as f64 / seconds,
            mb_per_sec: self.bytes as f64 / seconds / (1024.0 * 1024.0),
            latency_kind: kind,
            latency_ms: (!h.is_empty()).then(|| Latency {
                p50: ms(h.value_at_quantile(0.50)),
                p95: ms(h.value_at_quantile(0.95)),
                p99: ms(h.value_at_quantile(0.99)),
                p999: ms(h.value_at_quantile(0.999)),
                max: ms(h.max()),
                mean: h.mean() / 1000.0,
            }),
        }
    }
}

fn human(r: &BenchReport) -> String {
    let mut rows = vec![
        ("topic", r.topic.clone()),
        ("records", format!("{} ({} failed)", r.records, r.failed)),
        ("elapsed", format!("{:.3} s", r.seconds)),
        (
            "throughput",
            format!("{:.0} msgs/s, {:.2} MB/s", r.records_per_sec, r.mb_per_sec),
        ),
    ];
    if let Some(l) = &r.latency_ms {
        rows.push((
            r.latency_kind,
            format!(
                "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms (mean {:.2} ms)",
                l.p50, l.p95, l.p99, l.p999, l.max, l.mean
            ),
        ));
    }
    format!("{} summary\n{}", r.mode, fields(&rows))
}

/// A progress bar on stderr when it is a terminal (and the output is not JSON), else nothing.
fn progress(total: Option<u64>, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(n) => (
            ProgressBar::new(n),
            "{bar:40} {pos}/{len} records {rate} eta {eta}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{spinner} {pos} records {rate} {elapsed}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        // indicatif's own {per_sec} prints four decimals; whole records per second read better.
        bar.set_style(style.with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} msgs/s", state.per_sec());
            },
        ));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// When to stop: after `count` records or at `deadline`.
struct Stop {
    count: Option<u64>,
    deadline: Option<Instant>,
}

impl Stop {
    fn reached(&self, done: u64) -> bool {
        self.count.is_some_and(|n| done >= n) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

pub async fn run(cluster: &ClusterArgs, command: BenchCommand) -> anyhow::Result<()> {
    let (report, json) = match command {
        BenchCommand::Produce(args) => (produce(cluster, &args).await?, args.common.json),
        BenchCommand::Consume(args) => (consume(cluster, &args).await?, args.common.json),
    };
    emit(json, &report, human)?;
    if report.failed > 0 {
        return Err(OperationFailed(format!("{} records failed", report.failed)).into());
    }
    Ok(())
}

async fn produce(cluster: &ClusterArgs, args: &ProduceBench) -> anyhow::Result<BenchReport> {
    let common = &args.common;
    let admin = cluster.admin()?;
    let new_topic = NewTopic::new(&common.topic, args.partitions.unwrap_or(-1));
    match admin.create_topics(&[new_topic]).await {
        Err(e) if e.kafka_error() == Some(ResponseError::TopicAlreadyExists) => {}
        other => other.with_context(|| format!("creating topic {}", common.topic))?,
    }
    let mut config = cluster
        .producer_config()
        .acks(match args.acks {
            AcksArg::All => Acks::All,
            AcksArg::Leader => Acks::Leader,
            AcksArg::None => Acks::None,
        })
        .batch_size(args.batch_size)
        .linger(args.linger)
        .max_in_flight(args.max_in_flight)
        .compression(match args.compression {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Snappy => Compression::Snappy,
            CompressionArg::Lz4 => Compression::Lz4,
            CompressionArg::Zstd => Compression::Zstd,
        });
    if args.no_idempotence {
        config = config.idempotence(false);
    }
    let producer = Producer::new(config)
        .await
        .context("starting the producer")?;

    let count = match common.duration {
        Some(_) => None,
        None => Some(common.count.unwrap_or(100_000)),
    };
    let bar = progress(count, common.json);
    let (tx, rx) = mpsc::unbounded_channel();
    let collector = tokio::spawn(collect(rx, args.size as u64, bar.clone()));
    // One payload for every record: cloning `Bytes` shares it.
    let payload = Bytes::from(vec![b'x'; args.size]);
    let topic: std::sync::Arc<str> = common.topic.as_str().into();
    let start = Instant::now();
    let stop = Stop {
        count,
        deadline: common.duration.map(|d| start + d),
    };
    let mut sent = 0u64;
    while !stop.reached(sent) {
        if args.rate > 0 {
            let due = start + Duration::from_secs_f64(sent as f64 / args.rate as f64);
            tokio::time::sleep_until(due).await;
        }
        let sent_at = quanta::Instant::now();
        let record = ProducerRecord {
            topic: topic.clone(),
            value: Some(payload.clone()),
            ..ProducerRecord::default()
        };
        let delivery = producer.send(record).await.context("sending")?;
        // The collector only ends when this sender is dropped, so the send cannot fail.
        let _ = tx.send((sent_at, delivery));
        sent += 1;
    }
    drop(tx);
    producer.flush().await;
    let (stats, last_ack) = collector.await.context("collecting deliveries")??;
    bar.finish_and_clear();
    producer.close().await;
    if let Some(e) = &stats.first_error {
        anstream::eprintln!("first delivery error: {e}");
    }
    let elapsed = last_ack.unwrap_or_else(Instant::now) - start;
    Ok(stats.report("produce", "send-to-ack", &common.topic, elapsed))
}

/// Records per progress-bar update: the bar reads the clock on each.
const PROGRESS_STRIDE: u64 = 1024;

/// Awaits delivery futures in send order and records their send-to-ack latency.
///
/// Times are read from the CPU's time-stamp counter (`quanta`): a system clock call per record
/// would cost the benchmark more than the client it measures. A record acknowledged before one
/// sent earlier (another partition's batch) is counted when the earlier one is: its latency
/// reads high, never low.
async fn collect(
    mut rx: mpsc::UnboundedReceiver<(quanta::Instant, DeliveryFuture)>,
    size: u64,
    bar: ProgressBar,
) -> anyhow::Result<(Stats, Option<Instant>)> {
    let mut stats = Stats::new()?;
    let mut seen = 0u64;
    while let Some((sent_at, delivery)) = rx.recv().await {
        let outcome = delivery.await;
        let acked_at = quanta::Instant::now();
        seen += 1;
        if seen.is_multiple_of(PROGRESS_STRIDE) {
            bar.set_position(seen);
        }
        match outcome {
            Ok(_) => {
                stats.records += 1;
                stats.bytes += size;
                stats.latency(acked_at.saturating_duration_since(sent_at));
            }
            Err(e) => {
                stats.failed += 1;
                stats.first_error.get_or_insert(e);
            }
        }
    }
    let last_ack = (seen > 0).then(Instant::now);
    Ok((stats, last_ack))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

async fn consume(cluster: &ClusterArgs, args: &ConsumeBench) -> anyhow::Result<BenchReport> {
    let common = &args.common;
    let admin = cluster.admin()?;
    let partitions: Vec<TopicPartition> =
        super::topic::partitions(&admin, common.topic.as_str()).await?;
    let count = match (common.count, common.duration) {
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => {
            let marks = super::topic::watermarks(&admin, &partitions).await?;
            let available: i64 = marks.values().map(|(low, high)| high - low).sum();
            if available <= 0 {
                return Err(UsageError(format!(
                    "topic {} is empty: run `flyq bench produce --topic {}` first, or pass \
                     --count or --duration to wait for records",
                    common.topic, common.topic
                ))
                .into());
            }
            Some(u64::try_from(available).unwrap_or(0))
        }
    };
    let mut config = cluster
        .consumer_config(None)
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false);
    config.max_poll_records = 10_000;
    let mut consumer = Consumer::new(config)?;
    consumer.assign(&partitions)?;
    consumer.seek_to_beginning(&partitions).await?;

    let bar = progress(count, common.json);
    let mut stats = Stats::new()?;
    let start = Instant::now();
    let stop = Stop {
        count,
        deadline: common.duration.map(|d| start + d),
    };
    let mut last_record = Instant::now();
    let mut end = start;
    while !stop.reached(stats.records) {
        let records = consumer.poll(Duration::from_millis(100)).await?;
        let now = Instant::now();
        if records.is_empty() {
            if now - last_record >= args.idle_timeout {
                break;
            }
            continue;
        }
        last_record = now;
        end = now;
        let wall = now_ms();
        let wanted = count.map_or(u64::MAX, |n| n - stats.records);
        for r in records
            .iter()
            .take(usize::try_from(wanted).unwrap_or(usize::MAX))
        {
            stats.records += 1;
            stats.bytes += (r.value.as_ref().map_or(0, Bytes::len)
                + r.key.as_ref().map_or(0, Bytes::len)) as u64;
            if r.timestamp > 0 {
                let ms = u64::try_from(wall - r.timestamp).unwrap_or(0);
                stats.latency(Duration::from_millis(ms));
            }
        }
        bar.set_position(stats.records);
    }
    bar.finish_and_clear();
    consumer.close().await?;
    if let Some(n) = count
        && stats.records < n
    {
        return Err(OperationFailed(format!(
            "read {} of {n} records from {}: nothing arrived for {:?}",
            stats.records, common.topic, args.idle_timeout
        ))
        .into());
    }
    Ok(stats.report("consume", "end-to-end", &common.topic, end - start))
}
