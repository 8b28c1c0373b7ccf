//! A partition: its log, its idempotent producers, and the high-watermark channel that wakes
//! fetches waiting for data.

use std::sync::Arc;

use flyq_log::{AppendInfo, Log};
use flyq_meta::PartitionImage;
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::error::{BrokerError, Result};
use crate::producer_state::{ProducerStates, Verdict};

/// Where a partition stands, for Metadata, ListOffsets, Fetch and the operator API.
///
/// Invariant: `log_start_offset <= high_watermark <= log_end_offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    /// The node leading the partition.
    pub leader: i32,
    /// Epoch of the current leadership.
    pub leader_epoch: i32,
    /// Nodes holding a replica, preferred leader first.
    pub replicas: Vec<i32>,
    /// Replicas in sync with the leader.
    pub isr: Vec<i32>,
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// Offset below which records are committed and visible to consumers.
    pub high_watermark: i64,
    /// Offset the next record will get.
    pub log_end_offset: i64,
}

/// What a partition's log takes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageStats {
    /// Bytes of segment files.
    pub size_bytes: u64,
    /// Number of segments.
    pub segments: usize,
}

/// One partition of a topic, led by this node.
#[derive(Debug)]
pub struct Partition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub index: i32,
    /// The partition's log: reached only through the broker's operations.
    pub(crate) log: Arc<Log>,
    /// Replicas, leader, leader epoch and in-sync replicas, as the metadata says.
    placement: RwLock<PartitionImage>,
    high_watermark: watch::Sender<i64>,
    /// Idempotent-producer state, rebuilt from the log on the first idempotent append.
    producers: Mutex<Option<ProducerStates>>,
    traffic: Traffic,
}

/// Per-topic traffic counters (`flyq_topic_*_total{topic}`). Every partition of a topic holds
/// handles to the same counters, resolved once here rather than looked up per request.
#[derive(Debug)]
struct Traffic {
    bytes_in: metrics::Counter,
    records_in: metrics::Counter,
    bytes_out: metrics::Counter,
    records_out: metrics::Counter,
}

impl Traffic {
    fn new(topic: &str) -> Self {
        let topic = topic.to_owned();
        Self {
            bytes_in: metrics::counter!("flyq_topic_bytes_in_total", "topic" => topic.clone()),
            records_in: metrics::counter!("flyq_topic_records_in_total", "topic" => topic.clone()),
            bytes_out: metrics::counter!("flyq_topic_bytes_out_total", "topic" => topic.clone()),
            records_out: metrics::counter!("flyq_topic_records_out_total", "topic" => topic),
        }
    }
}

impl Partition {
    pub(crate) fn new(
        topic: Arc<str>,
        index: i32,
        log: Arc<Log>,
        placement: PartitionImage,
    ) -> Self {
        let (high_watermark, _) = watch::channel(log.high_watermark());
        log.set_leader_epoch(placement.leader_epoch);
        Self {
            traffic: Traffic::new(&topic),
            topic,
            index,
            log,
            placement: RwLock::new(placement),
            high_watermark,
            producers: Mutex::new(None),
        }
    }

    /// Where the partition stands: leadership from the metadata, offsets from the log.
    pub fn view(&self) -> PartitionView {
        let placement = self.placement.read().clone();
        PartitionView {
            leader: placement.leader,
            leader_epoch: placement.leader_epoch,
            replicas: placement.replicas,
            isr: placement.isr,
            log_start_offset: self.log.log_start_offset(),
            high_watermark: self.log.high_watermark(),
            log_end_offset: self.log.log_end_offset(),
        }
    }

    /// Bytes and segments on disk.
    pub fn storage(&self) -> StorageStats {
        StorageStats {
            size_bytes: self.log.size_bytes(),
            segments: self.log.segment_count(),
        }
    }

    /// Takes the metadata's new placement (leadership changes arrive this way).
    pub(crate) fn set_placement(&self, placement: &PartitionImage) {
        let mut current = self.placement.write();
        if *current != *placement {
            self.log.set_leader_epoch(placement.leader_epoch);
            *current = placement.clone();
        }
    }

    /// Appends a batch and commits it: on a single node the in-sync replica set is this node,
    /// so the high watermark moves to the new log end at once. Wakes waiting fetches.
    ///
    /// The batch is validated (CRC first) before anything else is judged. A batch from an
    /// idempotent producer is then checked against its sequence; a retried one gets its
    /// original offsets back without being appended again. The producer-state lock covers the
    /// check and the write, not the fsync a `flush.messages` policy may ask for, so idempotent
    /// producers of one partition share a group commit.
    pub(crate) fn append(&self, batch: &[u8]) -> Result<AppendInfo> {
        let valid = self.log.validate(batch)?;
        let mut header = *valid.header();
        let info = if header.producer_id < 0 {
            self.log.append_valid(valid)?
        } else {
            let mut guard = self.producers.lock();
            let states = guard.get_or_insert_with(|| self.rebuild_producers());
            match states.check(&header) {
                Verdict::Append => {
                    let info = self.log.append_valid(valid)?;
                    header.base_offset = info.base_offset;
                    states.record(&header);
                    info
                }
                Verdict::Duplicate { base_offset } => {
                    drop(guard);
                    let original = AppendInfo {
                        base_offset,
                        last_offset: base_offset + i64::from(header.last_offset_delta),
                        max_timestamp: header.max_timestamp,
                        record_count: header.records_count,
                    };
                    // The original may still be waiting for its sync: so does its retry.
                    self.log.sync_for_policy(&original)?;
                    return Ok(original);
                }
                Verdict::StaleEpoch => {
                    return Err(BrokerError::InvalidProducerEpoch {
                        producer_id: header.producer_id,
                    });
                }
                Verdict::OutOfOrder { expected } => {
                    return Err(BrokerError::OutOfOrderSequence {
                        producer_id: header.producer_id,
                        expected,
                        received: header.base_sequence,
                    });
                }
            }
        };
        self.log.sync_for_policy(&info)?;
        self.traffic.bytes_in.increment(batch.len() as u64);
        self.traffic
            .records_in
            .increment(u64::try_from(info.record_count).unwrap_or(0));
        let high_watermark = self.log.set_high_watermark(info.last_offset + 1);
        self.high_watermark.send_if_modified(|current| {
            let advanced = high_watermark > *current;
            *current = (*current).max(high_watermark);
            advanced
        });
        Ok(info)
    }

    /// Counts a read served to a consumer: `bytes` of batches, taking it from `from` to
    /// `next_offset`.
    pub(crate) fn record_fetched(&self, bytes: usize, from: i64, next_offset: i64) {
        self.traffic.bytes_out.increment(bytes as u64);
        self.traffic
            .records_out
            .increment(u64::try_from(next_offset - from).unwrap_or(0));
    }

    /// Producer state from the batch headers of the active segment (older producers are
    /// unknown, and so accepted at any sequence).
    fn rebuild_producers(&self) -> ProducerStates {
        let mut states = ProducerStates::default();
        let from = self.log.segment_base_offsets().last().copied().unwrap_or(0);
        if let Err(e) = self.log.for_each_batch_header(from, |h| states.record(h)) {
            tracing::warn!(target: "flyq::broker", topic = %self.topic, partition = self.index, error = %e, "could not rebuild producer state");
        }
        states
    }

    /// A receiver that sees every high watermark change after this call. Subscribe *before*
    /// reading, then wait on it: an append in between is not missed.
    pub(crate) fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }
}
