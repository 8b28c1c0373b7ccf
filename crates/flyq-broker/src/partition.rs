//! A partition: its log, and the high-watermark channel that wakes fetches waiting for data.

use std::sync::Arc;

use flyq_log::{AppendInfo, Log};
use tokio::sync::watch;

use crate::error::Result;

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
}

impl Partition {
    pub(crate) fn new(topic: Arc<str>, index: i32, log: Arc<Log>) -> Self {
        let (high_watermark, _) = watch::channel(log.high_watermark());
        Self {
            topic,
            index,
            log,
            high_watermark,
        }
    }

    /// Appends a batch and commits it: on a single node the in-sync replica set is this node,
    /// so the high watermark moves to the new log end at once. Wakes waiting fetches.
    pub fn append(&self, batch: &[u8]) -> Result<AppendInfo> {
        let info = self.log.append(batch)?;
        let high_watermark = self.log.set_high_watermark(info.last_offset + 1);
        self.high_watermark.send_replace(high_watermark);
        Ok(info)
    }

    /// A receiver that sees every high watermark change after this call. Subscribe *before*
    /// reading, then wait on it: an append in between is not missed.
    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }
}
