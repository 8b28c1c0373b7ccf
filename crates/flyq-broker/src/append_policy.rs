//! What a topic's configs do to a produced batch before it is appended: the timestamp checks
//! and rewrite of `message.timestamp.type` / `message.timestamp.after.max.ms`, and broker-side
//! recompression for `compression.type`.
//!
//! With the defaults (CreateTime, no timestamp bound, `compression.type=producer`) a batch
//! passes through untouched and unread: the storage engine's own validation is the only
//! per-byte work. Anything else reads the batch (CRC first, so a corrupt batch is never
//! "repaired" by a rewrite) and may write a new one.

use bytes::Bytes;
use flyq_log::batch;

use crate::error::{BrokerError, Result};
use crate::topic_config::{TargetCompression, TimestampType, TopicSettings};

/// A batch ready for the log, and the append time the broker stamped into it, if it did.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub batch: Bytes,
    pub log_append_time: Option<i64>,
}

/// Whether batches of a topic with these settings pass through untouched.
fn untouched(settings: &TopicSettings) -> bool {
    settings.timestamp_type == TimestampType::CreateTime
        && settings.timestamp_after_max.is_none()
        && settings.compression == TargetCompression::Producer
}

/// Applies the topic's timestamp and compression policies to a produced batch. Runs on a
/// blocking thread (recompression is CPU work proportional to the batch).
pub(crate) fn prepare(settings: &TopicSettings, produced: Bytes, now_ms: i64) -> Result<Prepared> {
    if untouched(settings) {
        return Ok(Prepared {
            batch: produced,
            log_append_time: None,
        });
    }
    let header = batch::validate(&produced, settings.log.max_batch_bytes)
        .map_err(|e| BrokerError::Log(flyq_log::LogError::InvalidBatch(e)))?;
    if settings.timestamp_type == TimestampType::CreateTime
        && let Some(after) = settings.timestamp_after_max
    {
        let limit = now_ms.saturating_add(after.as_millis().try_into().unwrap_or(i64::MAX));
        if header.max_timestamp > limit {
            return Err(BrokerError::InvalidTimestamp {
                timestamp: header.max_timestamp,
                reason: format!(
                    "more than message.timestamp.after.max.ms ({} ms) ahead of the broker's clock",
                    after.as_millis()
                ),
            });
        }
    }
    let codec = header
        .compression()
        .map_err(|e| BrokerError::Log(flyq_log::LogError::InvalidBatch(e)))?;
    let mut batch = match settings.compression {
        TargetCompression::Codec(target, _level) if codec != target => {
            return Err(BrokerError::InvalidConfig {
                key: "compression.type".into(),
                value: format!("{target:?}"),
                reason: "recompression is being wired".into(),
            });
        }
        _ => produced,
    };
    let mut log_append_time = None;
    if settings.timestamp_type == TimestampType::LogAppendTime {
        let mut stamped = batch.to_vec();
        batch::stamp_log_append_time(&mut stamped, now_ms);
        batch = Bytes::from(stamped);
        log_append_time = Some(now_ms);
    }
    Ok(Prepared {
        batch,
        log_append_time,
    })
}
