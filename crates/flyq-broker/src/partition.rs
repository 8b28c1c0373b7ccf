//! A partition: its log, its idempotent producers, and the high-watermark channel that wakes
//! fetches waiting for data.

use std::sync::Arc;

use flyq_log::{AppendInfo, Log};
use flyq_protocol::BatchHeader;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::error::{BrokerError, Result};
use crate::producer_state::{ProducerStates, Verdict};

/// The leader epoch of every partition on a single node.
pub const LEADER_EPOCH: i32 = 0;

/// One partition of a topic, led by this node.
#[derive(Debug)]
pub struct Partition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub index: i32,
    /// The partition's log.
    pub log: Arc<Log>,
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
    pub(crate) fn new(topic: Arc<str>, index: i32, log: Arc<Log>) -> Self {
        let (high_watermark, _) = watch::channel(log.high_watermark());
        // A single node has led every partition since it was created: leader epoch 0.
        log.set_leader_epoch(LEADER_EPOCH);
        Self {
            traffic: Traffic::new(&topic),
            topic,
            index,
            log,
            high_watermark,
            producers: Mutex::new(None),
        }
    }

    /// Appends a batch and commits it: on a single node the in-sync replica set is this node,
    /// so the high watermark moves to the new log end at once. Wakes waiting fetches. A batch
    /// from an idempotent producer is checked against its sequence first; a retried one gets its
    /// original offsets back without being appended again.
    pub fn append(&self, batch: &[u8]) -> Result<AppendInfo> {
        let idempotent = BatchHeader::parse(batch)
            .ok()
            .filter(|h| h.producer_id >= 0);
        let info = match idempotent {
            None => self.log.append(batch)?,
            Some(mut header) => {
                let mut guard = self.producers.lock();
                let states = guard.get_or_insert_with(|| self.rebuild_producers());
                match states.check(&header) {
                    Verdict::Append => {
                        let info = self.log.append(batch)?;
                        header.base_offset = info.base_offset;
                        states.record(&header);
                        info
                    }
                    Verdict::Duplicate { base_offset } => {
                        return Ok(AppendInfo {
                            base_offset,
                            last_offset: base_offset + i64::from(header.last_offset_delta),
                            max_timestamp: header.max_timestamp,
                            record_count: header.records_count,
                        });
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
            }
        };
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
    pub fn record_fetched(&self, bytes: usize, from: i64, next_offset: i64) {
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
    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }
}
