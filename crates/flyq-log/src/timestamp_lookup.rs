//! Offsets by timestamp in a [`Log`], for Kafka's ListOffsets: the first record at or after a
//! time ([`Log::offset_for_timestamp`]) and the record with the largest timestamp
//! ([`Log::offset_of_max_timestamp`]). The time indexes narrow the search to a segment and a
//! position; batch headers are walked from there, and an uncompressed batch's records are read
//! to find the exact one.

use std::sync::Arc;

use flyq_protocol::layout::{BATCH_HEADER_LEN, Compression};
use flyq_protocol::record::records;

use crate::error::{IoContext, Result};
use crate::log::Log;
use crate::segment::Segment;

/// The answer of [`Log::offset_for_timestamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// Offset of the first record with a timestamp at or after the target. For compressed
    /// batches, the base offset of the first batch whose max timestamp reaches the target.
    pub offset: i64,
    /// That record's (or batch's max) timestamp.
    pub timestamp: i64,
}

impl Log {
    /// The first record whose timestamp is at or after `timestamp` (Kafka's ListOffsets by
    /// time), or `None` if every record is older.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        let log_start = self.log_start_offset();
        let segments: Vec<Arc<Segment>> = self.segments.read().values().cloned().collect();
        let last = segments.len().saturating_sub(1);
        for (i, segment) in segments.iter().enumerate() {
            if segment.next_offset() <= log_start {
                continue;
            }
            // The active segment's running maximum is exact only at index entries: search it.
            let max = segment.with_indexes(|ix| ix.max_timestamp)?;
            if max < timestamp && i != last {
                continue;
            }
            if let Some(found) = self.find_timestamp_in(segment, timestamp, log_start)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (Kafka's ListOffsets MAX_TIMESTAMP, KIP-734): the
    /// first of them when several share it, or `None` if the log holds no record. As in
    /// [`Log::offset_for_timestamp`], a compressed batch answers with its base offset and its
    /// max timestamp (records are not decompressed).
    pub fn offset_of_max_timestamp(&self) -> Result<Option<TimestampOffset>> {
        let log_start = self.log_start_offset();
        let segments: Vec<Arc<Segment>> = self
            .segments
            .read()
            .values()
            .filter(|s| s.next_offset() > log_start)
            .cloned()
            .collect();
        let last = segments.len().saturating_sub(1);
        // The largest timestamp, and the first segment that holds it.
        let mut top: Option<(i64, &Arc<Segment>)> = None;
        for (i, segment) in segments.iter().enumerate() {
            let max = if segment.base_offset() >= log_start && i != last {
                // A rolled segment wholly above the log start: its index maximum is exact.
                Some(segment.with_indexes(|ix| ix.max_timestamp)?)
            } else {
                self.live_max_timestamp(segment, log_start)?
            };
            if let Some(max) = max
                && top.is_none_or(|(highest, _)| max > highest)
            {
                top = Some((max, segment));
            }
        }
        match top {
            Some((max, segment)) => self.find_timestamp_in(segment, max, log_start),
            None => Ok(None),
        }
    }

    /// The largest max-timestamp of `segment`'s readable batches that hold offsets at or after
    /// `log_start`, or `None` if there are none. The index cannot answer alone: in the active
    /// segment it may count a batch that is being appended and is not readable yet, and where
    /// the log start cuts a segment it counts deleted records. So headers are read from the
    /// log start, or from the last offset index entry, up to which the time index holds the
    /// running maximum.
    fn live_max_timestamp(&self, segment: &Arc<Segment>, log_start: i64) -> Result<Option<i64>> {
        let (position, mut max) = if segment.base_offset() >= log_start {
            segment
                .with_indexes(|ix| {
                    ix.offsets.last().map(|entry| {
                        let times = ix.times.entries();
                        let up_to_entry =
                            times.partition_point(|t| t.relative_offset <= entry.relative_offset);
                        let known = up_to_entry.checked_sub(1).map(|i| times[i].timestamp);
                        (u64::from(entry.position), known)
                    })
                })?
                .unwrap_or((0, None))
        } else {
            match segment.locate(log_start)? {
                Some((position, _)) => (position, None),
                None => return Ok(None),
            }
        };
        segment.walk_headers(position, |_, header| {
            max = Some(max.map_or(header.max_timestamp, |m| m.max(header.max_timestamp)));
            true
        })?;
        Ok(max)
    }

    fn find_timestamp_in(
        &self,
        segment: &Arc<Segment>,
        timestamp: i64,
        log_start: i64,
    ) -> Result<Option<TimestampOffset>> {
        let base = segment.base_offset();
        let from_offset = segment
            .with_indexes(|ix| {
                ix.times
                    .below(timestamp)
                    .map(|t| base + i64::from(t.relative_offset))
            })?
            .unwrap_or(base)
            .max(log_start);
        let Some((start, _)) = segment.locate(from_offset)? else {
            return Ok(None);
        };
        let mut hit = None;
        segment.walk_headers(start, |pos, h| {
            if h.max_timestamp >= timestamp && h.last_offset() >= log_start {
                hit = Some((pos, *h));
                false
            } else {
                true
            }
        })?;
        let Some((position, header)) = hit else {
            return Ok(None);
        };
        let fallback = TimestampOffset {
            offset: header.base_offset.max(log_start),
            timestamp: header.max_timestamp,
        };
        if header.compression() != Ok(Compression::None) {
            return Ok(Some(fallback));
        }
        // Uncompressed: find the exact record by its timestamp delta. (The length was read
        // without a CRC check: it sizes nothing beyond the segment.)
        let len = header.total_len();
        if len > segment.size().saturating_sub(position) || len < BATCH_HEADER_LEN as u64 {
            return Ok(Some(fallback));
        }
        let mut bytes = vec![0u8; len as usize];
        segment
            .file()?
            .read_exact_at(&mut bytes, position)
            .context(|| format!("reading {}", segment.log_path().display()))?;
        let records = records(&bytes[BATCH_HEADER_LEN..]);
        for record in records.flatten() {
            let offset = header
                .base_offset
                .saturating_add(i64::from(record.offset_delta));
            let ts = header.base_timestamp.saturating_add(record.timestamp_delta);
            if ts >= timestamp && offset >= log_start {
                return Ok(Some(TimestampOffset {
                    offset,
                    timestamp: ts,
                }));
            }
        }
        Ok(Some(fallback))
    }
}
