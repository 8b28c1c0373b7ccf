//! What a topic's configs do to a produced batch before it is appended: the timestamp checks
//! and rewrite of `message.timestamp.type` / `message.timestamp.after.max.ms`, and broker-side
//! recompression for `compression.type`.
//!
//! With the defaults (CreateTime, no timestamp bound, `compression.type=producer`) a batch
//! passes through untouched and unread: the storage engine's own validation is the only
//! per-byte work. Anything else reads the batch (CRC first, so a corrupt batch is never
//! "repaired" by a rewrite) and may write a new one.

use bytes::Bytes;
use flyq_protocol::codec::{deflate, inflate};
use flyq_protocol::header::{batch_length_of, stamp_log_append_time, write_crc};
use flyq_protocol::layout::{ATTRIBUTES, BATCH_HEADER_LEN, BATCH_LENGTH, COMPRESSION_CODEC_MASK};
use flyq_protocol::{BatchError, Compression};

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
    let header = flyq_log::validate(&produced, settings.log.max_batch_bytes).map_err(invalid)?;
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
    let codec = header.compression().map_err(invalid)?;
    let mut batch = match settings.compression {
        TargetCompression::Codec(target, level) if codec != target => recompress(
            &produced,
            codec,
            target,
            level,
            settings.log.max_batch_bytes,
        )?,
        _ => produced,
    };
    let mut log_append_time = None;
    if settings.timestamp_type == TimestampType::LogAppendTime {
        let mut stamped = batch.to_vec();
        stamp_log_append_time(&mut stamped, now_ms);
        batch = Bytes::from(stamped);
        log_append_time = Some(now_ms);
    }
    Ok(Prepared {
        batch,
        log_append_time,
    })
}

fn invalid(error: BatchError) -> BrokerError {
    BrokerError::Log(flyq_log::LogError::InvalidBatch(error))
}

/// Most bytes a batch's records may inflate to on the broker: generous for real data
/// (64 times the batch limit), bounded for compression bombs.
fn inflate_limit(max_batch_bytes: usize) -> usize {
    max_batch_bytes
        .saturating_mul(64)
        .clamp(16 << 20, 256 << 20)
}

/// The batch with its records section recompressed from `from` to `to`: header kept
/// (producer fields, counts, timestamps), codec bits, length and CRC rewritten. A section that
/// is not valid for its codec, or inflates beyond [`inflate_limit`], is a corrupt batch.
fn recompress(
    batch: &Bytes,
    from: Compression,
    to: Compression,
    level: Option<i32>,
    max_batch_bytes: usize,
) -> Result<Bytes> {
    let section = batch.slice(BATCH_HEADER_LEN..);
    let raw = inflate(section, from, inflate_limit(max_batch_bytes)).map_err(|e| {
        invalid(BatchError::Undecodable(format!(
            "cannot decompress the {from:?} records: {e}"
        )))
    })?;
    let packed = deflate(&raw, to, level).map_err(|e| {
        invalid(BatchError::Undecodable(format!(
            "cannot compress to {to:?}: {e}"
        )))
    })?;
    let mut out = Vec::with_capacity(BATCH_HEADER_LEN + packed.len());
    out.extend_from_slice(&batch[..BATCH_HEADER_LEN]);
    out.extend_from_slice(&packed);
    let length = batch_length_of(out.len()).ok_or_else(|| {
        invalid(BatchError::TooLarge {
            size: out.len(),
            max: max_batch_bytes,
        })
    })?;
    BATCH_LENGTH.write(&mut out, length);
    let attributes = ATTRIBUTES.read(&out).unwrap_or(0);
    ATTRIBUTES.write(&mut out, (attributes & !COMPRESSION_CODEC_MASK) | to as i16);
    write_crc(&mut out);
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use flyq_meta::topic_config::{self, TopicConfigs};
    use flyq_protocol::BatchHeader;
    use flyq_protocol::builder::{RecordSpec, build_batch};
    use flyq_protocol::decode::BatchDecoder;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> TopicSettings {
        let overrides: TopicConfigs = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        topic_config::resolve(&TopicConfigs::new(), &overrides).unwrap()
    }

    fn batch() -> Bytes {
        let records: Vec<RecordSpec> = (0..50)
            .map(|i| RecordSpec::value(format!("record {i} ").repeat(20)))
            .collect();
        Bytes::from(build_batch(0, 1_000, &records))
    }

    fn values(batch: Bytes) -> Vec<Vec<u8>> {
        let decoded = BatchDecoder::new(16 << 20, 1000).decode(batch).unwrap();
        decoded
            .records
            .into_iter()
            .map(|r| r.value.unwrap().to_vec())
            .collect()
    }

    #[test]
    fn default_topics_pass_batches_through_untouched() {
        let produced = batch();
        let prepared = prepare(&settings(&[]), produced.clone(), 5).unwrap();
        assert_eq!(prepared.batch, produced);
        assert_eq!(
            prepared.batch.as_ptr(),
            produced.as_ptr(),
            "not even copied"
        );
        assert_eq!(prepared.log_append_time, None);
    }

    #[test]
    fn recompression_changes_the_codec_and_keeps_every_record() {
        let produced = batch();
        for codec in ["gzip", "snappy", "lz4", "zstd"] {
            let prepared = prepare(
                &settings(&[("compression.type", codec)]),
                produced.clone(),
                5,
            )
            .unwrap();
            let header = flyq_protocol::header::check(&prepared.batch).unwrap();
            assert_ne!(header.compression().unwrap(), Compression::None, "{codec}");
            assert!(
                prepared.batch.len() < produced.len(),
                "{codec} did not shrink"
            );
            assert_eq!(
                values(prepared.batch.clone()),
                values(produced.clone()),
                "{codec}"
            );
            // And back to uncompressed, which the log then checks record by record.
            let back = prepare(
                &settings(&[("compression.type", "uncompressed")]),
                prepared.batch,
                5,
            )
            .unwrap();
            flyq_log::validate(&back.batch, 1 << 20).unwrap();
            assert_eq!(back.batch, produced, "{codec} round trip");
        }
    }

    #[test]
    fn a_compression_bomb_is_a_corrupt_batch() {
        let zeros = vec![0u8; 100 << 20];
        let mut bomb = batch().to_vec();
        bomb.truncate(BATCH_HEADER_LEN);
        bomb.extend_from_slice(&deflate(&zeros, Compression::Zstd, Some(19)).unwrap());
        let length = batch_length_of(bomb.len()).unwrap();
        BATCH_LENGTH.write(&mut bomb, length);
        ATTRIBUTES.write(&mut bomb, Compression::Zstd as i16);
        write_crc(&mut bomb);
        let err = prepare(
            &settings(&[("compression.type", "gzip")]),
            Bytes::from(bomb),
            5,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                BrokerError::Log(flyq_log::LogError::InvalidBatch(BatchError::Undecodable(_)))
            ),
            "{err}"
        );
    }

    #[test]
    fn log_append_time_and_the_future_bound() {
        let prepared = prepare(
            &settings(&[("message.timestamp.type", "LogAppendTime")]),
            batch(),
            42_000,
        )
        .unwrap();
        assert_eq!(prepared.log_append_time, Some(42_000));
        let header = BatchHeader::parse(&prepared.batch).unwrap();
        assert_eq!(header.max_timestamp, 42_000);
        let bounded = settings(&[("message.timestamp.after.max.ms", "100")]);
        // The batch's records are stamped at 1_000 ms.
        assert!(prepare(&bounded, batch(), 1_000).is_ok());
        assert!(matches!(
            prepare(&bounded, batch(), 800),
            Err(BrokerError::InvalidTimestamp { .. })
        ));
    }

    #[test]
    fn a_corrupt_batch_is_refused_before_any_rewrite() {
        let mut corrupt = batch().to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        let err = prepare(
            &settings(&[("message.timestamp.type", "LogAppendTime")]),
            Bytes::from(corrupt),
            5,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                BrokerError::Log(flyq_log::LogError::InvalidBatch(
                    BatchError::CrcMismatch { .. }
                ))
            ),
            "{err}"
        );
    }
}
