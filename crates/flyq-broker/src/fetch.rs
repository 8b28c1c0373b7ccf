//! [`Broker::fetch`]: whole batches from several partitions, with Kafka's size limits and the
//! long-poll wait.
//!
//! Byte limits: each partition's `max_bytes`, and for the whole answer the fetch's `max_bytes`.
//! As in Kafka, only the very first batch of an answer may exceed them, so that a batch larger
//! than the limits cannot stall a consumer: the first partition that has data returns at least
//! its first batch whole; every later partition gets at most what is left of both limits,
//! possibly nothing. (A client such as librdkafka refuses a response above its own size limit,
//! so one more whole batch would stall it instead.)
//!
//! If fewer than `min_bytes` are ready, the fetch waits (up to `max_wait`) on the partitions'
//! high watermarks, subscribed before each read so an append in between is not missed, and
//! reads again as soon as one moves. It answers at once, whatever `min_bytes` says, when the
//! limits held back data that is ready (waiting cannot add it to this answer; the next fetch
//! takes it) or when a partition answered with an error.
//!
//! Reads run on a blocking thread, one hop per pass over all partitions: data not in the page
//! cache waits for the disk, and that wait must not hold an async worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use crate::broker::Broker;
use crate::error::{BrokerError, Result};
use crate::partition::{Partition, PartitionView};

/// What a fetch asks for.
#[derive(Debug, Clone)]
pub struct FetchSpec {
    /// Most bytes of batches in the whole answer (the first batch excepted, see the module).
    pub max_bytes: usize,
    /// Answer once this many bytes are ready (capped at `max_bytes`).
    pub min_bytes: usize,
    /// Longest wait for `min_bytes`.
    pub max_wait: Duration,
    /// The partitions, in the order their answers come back.
    pub partitions: Vec<PartitionFetch>,
}

/// One partition of a fetch.
#[derive(Debug, Clone)]
pub struct PartitionFetch {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// First offset wanted.
    pub offset: i64,
    /// Most bytes for this partition.
    pub max_bytes: usize,
}

/// One partition's answer.
#[derive(Debug)]
pub struct FetchedPartition {
    /// Where the partition stood when read (`None` if it does not exist).
    pub view: Option<PartitionView>,
    /// Whole batches from the offset asked for, or why not.
    pub batches: Result<Bytes>,
}

/// One read over every partition of a fetch.
struct ReadPass {
    answers: Vec<FetchedPartition>,
    watches: Vec<watch::Receiver<i64>>,
    total: usize,
    errors: bool,
    held_back: bool,
    /// What each partition read (bytes, from, to), counted in the traffic metrics only if
    /// this pass is the one answered.
    served: Vec<(Arc<Partition>, usize, i64, i64)>,
}

impl Broker {
    /// Reads `spec`'s partitions, waiting for data as the module describes; the answers come
    /// in the order of `spec.partitions`.
    pub async fn fetch(self: &Arc<Self>, spec: FetchSpec) -> Result<Vec<FetchedPartition>> {
        let spec = Arc::new(spec);
        let deadline = Instant::now() + spec.max_wait;
        let max_total = spec.max_bytes.max(1);
        loop {
            let broker = Arc::clone(self);
            let wanted = Arc::clone(&spec);
            let pass = tokio::task::spawn_blocking(move || broker.read_pass(&wanted, max_total))
                .await
                .map_err(|e| BrokerError::Metadata {
                    context: "running a fetch read".into(),
                    source: std::io::Error::other(e),
                })?;
            let now = Instant::now();
            // A min_bytes above what one answer may carry is capped, or it could never be met
            // and every append would wake a pointless re-read.
            let enough = pass.total >= spec.min_bytes.min(max_total) || pass.held_back;
            if enough || pass.errors || now >= deadline || pass.watches.is_empty() {
                for (partition, bytes, from, to) in &pass.served {
                    partition.record_fetched(*bytes, *from, *to);
                }
                return Ok(pass.answers);
            }
            wait_for_data(pass.watches, deadline - now).await;
        }
    }

    fn read_pass(&self, spec: &FetchSpec, max_total: usize) -> ReadPass {
        let mut pass = ReadPass {
            answers: Vec::with_capacity(spec.partitions.len()),
            watches: Vec::with_capacity(spec.partitions.len()),
            total: 0,
            errors: false,
            held_back: false,
            served: Vec::new(),
        };
        for wanted in &spec.partitions {
            let partition = match self.partition(&wanted.topic, wanted.partition) {
                Ok(p) => p,
                Err(e) => {
                    pass.errors = true;
                    pass.answers.push(FetchedPartition {
                        view: None,
                        batches: Err(e),
                    });
                    continue;
                }
            };
            pass.watches.push(partition.watch_high_watermark());
            let view = partition.view();
            let budget = wanted.max_bytes.min(max_total.saturating_sub(pass.total));
            let log = &partition.log;
            // Kafka's `minOneMessage`: only until the answer holds some data may a batch
            // exceed the limits.
            let read = if pass.total == 0 {
                log.read(wanted.offset, budget, view.high_watermark)
            } else {
                log.read_at_most(wanted.offset, budget, view.high_watermark)
            };
            let batches = match read {
                Ok(read) => {
                    pass.total += read.batches.len();
                    pass.held_back |= read.next_offset < view.high_watermark;
                    pass.served.push((
                        Arc::clone(&partition),
                        read.batches.len(),
                        wanted.offset,
                        read.next_offset,
                    ));
                    Ok(read.batches)
                }
                Err(e) => {
                    pass.errors = true;
                    Err(e.into())
                }
            };
            pass.answers.push(FetchedPartition {
                view: Some(view),
                batches,
            });
        }
        pass
    }
}

/// Waits until the high watermark of any watched partition moves, or `timeout` passes.
async fn wait_for_data(mut watches: Vec<watch::Receiver<i64>>, timeout: Duration) {
    let waits = watches.iter_mut().map(|w| Box::pin(w.changed()));
    let _ = tokio::time::timeout(timeout, futures::future::select_all(waits)).await;
}
