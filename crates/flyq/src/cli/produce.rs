//! `flyq produce`: records from the arguments or stdin lines, sent without waiting for each
//! other, then every delivery awaited so the exit code says whether all of them were written.

use std::future::IntoFuture;
use std::io::BufRead;

use anyhow::Context;
use clap::Args;
use flyq_client::{Producer, ProducerConfig, ProducerRecord};
use futures::StreamExt;
use futures::stream::FuturesOrdered;

use super::{ClusterArgs, OperationFailed, key_value};

/// Arguments of `flyq produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Topic to write to (auto-created if the broker allows it).
    topic: String,
    /// Values to send; without any, each stdin line is one record.
    values: Vec<String>,
    /// Key of every record.
    #[arg(long, conflicts_with = "key_separator")]
    key: Option<String>,
    /// A header KEY=VALUE added to every record (repeatable).
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = key_value)]
    headers: Vec<(String, String)>,
    /// Partition to write to (default: by key hash, else sticky).
    #[arg(long)]
    partition: Option<i32>,
    /// Split each value at the first SEP into key and value (e.g. ":" for "k1:hello").
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// Print the partition and offset of every record.
    #[arg(short, long)]
    verbose: bool,
}

impl ProduceArgs {
    fn record(&self, line: &str) -> ProducerRecord {
        let (key, value) = match self
            .key_separator
            .as_deref()
            .and_then(|s| line.split_once(s))
        {
            Some((k, v)) => (Some(k), v),
            None => (self.key.as_deref(), line),
        };
        let mut record = ProducerRecord::new(self.topic.as_str(), value.to_owned());
        if let Some(k) = key {
            record = record.key(k.to_owned());
        }
        if let Some(p) = self.partition {
            record = record.partition(p);
        }
        for (k, v) in &self.headers {
            record = record.header(k.as_str(), v.clone());
        }
        record
    }
}

pub async fn run(cluster: &ClusterArgs, args: ProduceArgs) -> anyhow::Result<()> {
    let mut config = ProducerConfig::new(&cluster.brokers);
    config.client = cluster.client();
    let producer = Producer::new(config)
        .await
        .context("starting the producer")?;
    let mut deliveries = FuturesOrdered::new();
    if args.values.is_empty() {
        for line in std::io::stdin().lock().lines() {
            let line = line.context("reading stdin")?;
            let line = line.strip_suffix('\r').unwrap_or(&line);
            let delivery = producer.send(args.record(line)).await?;
            deliveries.push_back(delivery.into_future());
        }
    } else {
        for value in &args.values {
            let delivery = producer.send(args.record(value)).await?;
            deliveries.push_back(delivery.into_future());
        }
    }
    producer.flush().await;
    let (mut sent, mut failed) = (0usize, 0usize);
    while let Some(outcome) = deliveries.next().await {
        match outcome {
            Ok(m) => {
                sent += 1;
                if args.verbose {
                    println!(
                        "{}\tpartition={}\toffset={}",
                        m.topic, m.partition, m.offset
                    );
                }
            }
            Err(e) => {
                failed += 1;
                anstream::eprintln!("delivery failed: {e}");
            }
        }
    }
    producer.close().await;
    if failed > 0 {
        return Err(OperationFailed(format!(
            "{failed} of {} records were not written to {}",
            sent + failed,
            args.topic
        ))
        .into());
    }
    if args.verbose {
        eprintln!("{sent} records written to {}", args.topic);
    }
    Ok(())
}
