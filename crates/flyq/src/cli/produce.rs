//! `flyq produce`: records from the arguments or stdin lines, sent without waiting for each
//! other; deliveries are reported as they complete and all awaited before exiting, so the exit
//! code says whether every record was written.

use std::future::IntoFuture;
use std::io::BufRead;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use flyq_client::{Producer, ProducerRecord, RecordMetadata};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::sync::mpsc;

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
    #[arg(long, value_name = "SEP", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    key_separator: Option<String>,
    /// Print the partition and offset of every record.
    #[arg(short, long)]
    verbose: bool,
}

impl ProduceArgs {
    /// The record for one input value (an argument or a stdin line, bytes as they came).
    fn record(&self, input: &[u8]) -> ProducerRecord {
        let input = input.strip_suffix(b"\r").unwrap_or(input);
        let split = self.key_separator.as_deref().and_then(|sep| {
            let sep = sep.as_bytes();
            let at = input.windows(sep.len()).position(|w| w == sep)?;
            Some((&input[..at], &input[at + sep.len()..]))
        });
        let (key, value) = match split {
            Some((k, v)) => (Some(k), v),
            None => (self.key.as_deref().map(str::as_bytes), input),
        };
        let mut record = ProducerRecord::new(self.topic.as_str(), Bytes::copy_from_slice(value));
        if let Some(k) = key {
            record = record.key(Bytes::copy_from_slice(k));
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

/// The values to send: the arguments, else stdin lines read on a blocking thread (split as
/// bytes, since values need not be UTF-8).
fn inputs(args: &ProduceArgs) -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(1024);
    if args.values.is_empty() {
        tokio::task::spawn_blocking(move || {
            for line in std::io::stdin().lock().split(b'\n') {
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
    } else {
        let values = args.values.clone();
        tokio::spawn(async move {
            for v in values {
                if tx.send(Ok(v.into_bytes())).await.is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// Delivery outcomes so far.
#[derive(Default)]
struct Tally {
    sent: usize,
    failed: usize,
}

impl Tally {
    fn add(&mut self, outcome: flyq_client::Result<RecordMetadata>, verbose: bool) {
        match outcome {
            Ok(m) => {
                self.sent += 1;
                if verbose {
                    println!(
                        "{}\tpartition={}\toffset={}",
                        m.topic, m.partition, m.offset
                    );
                }
            }
            Err(e) => {
                self.failed += 1;
                anstream::eprintln!("delivery failed: {e}");
            }
        }
    }
}

pub async fn run(cluster: &ClusterArgs, args: ProduceArgs) -> anyhow::Result<()> {
    let producer = Producer::new(cluster.producer_config())
        .await
        .context("starting the producer")?;
    let mut inputs = inputs(&args);
    let mut deliveries = FuturesOrdered::new();
    let mut tally = Tally::default();
    // Deliveries are reported as they complete, so `-v` answers each line typed at a terminal
    // while more input may still come.
    loop {
        tokio::select! {
            biased;
            Some(outcome) = deliveries.next(), if !deliveries.is_empty() => {
                tally.add(outcome, args.verbose);
            }
            input = inputs.recv() => match input {
                Some(input) => {
                    let input = input.context("reading stdin")?;
                    let delivery = producer.send(args.record(&input)).await?;
                    deliveries.push_back(delivery.into_future());
                }
                None => break,
            },
        }
    }
    producer.flush().await;
    while let Some(outcome) = deliveries.next().await {
        tally.add(outcome, args.verbose);
    }
    let Tally { sent, failed } = tally;
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
