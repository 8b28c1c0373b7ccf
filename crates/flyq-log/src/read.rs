//! The read path of [`Log`]: whole batches from an offset ([`Log::read`],
//! [`Log::read_at_most`]) and walking batch headers ([`Log::for_each_batch_header`]). Readers
//! never take the writer's lock: they snapshot the segment map and read the bytes the writer
//! published through each segment's atomic size.

use std::sync::Arc;

use bytes::Bytes;
use flyq_protocol::BatchHeader;
use flyq_protocol::layout::BATCH_HEADER_LEN;

use crate::error::{IoContext, LogError, Result};
use crate::log::Log;
use crate::segment::Segment;

/// Whole batches returned by [`Log::read`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogRead {
    /// Concatenated batches, as stored; empty if there was nothing to return.
    pub batches: Bytes,
    /// Offset after the last returned batch (the requested offset if nothing was returned).
    pub next_offset: i64,
}

impl Log {
    /// The segment holding `offset`, or the first one after it.
    pub(crate) fn segment_for(&self, offset: i64) -> Option<Arc<Segment>> {
        let segments = self.segments.read();
        segments
            .range(..=offset)
            .next_back()
            .filter(|(_, s)| s.next_offset() > offset)
            .or_else(|| segments.range(offset + 1..).next())
            .map(|(_, s)| Arc::clone(s))
    }

    /// Reads whole batches starting with the one that contains `offset`: as many as fit in
    /// `max_bytes`, but always at least one if one exists, and only batches that end below
    /// `upper` (pass [`Log::high_watermark`] for consumers, [`Log::log_end_offset`] for
    /// replicas). Never returns a partial batch.
    pub fn read(&self, offset: i64, max_bytes: usize, upper: i64) -> Result<LogRead> {
        self.read_batches(offset, max_bytes, upper, true)
    }

    /// Like [`Log::read`], but never more than `max_bytes`: nothing at all when the first batch
    /// does not fit. For a fetch response that already carries data, where only the response's
    /// very first batch may exceed the limits.
    pub fn read_at_most(&self, offset: i64, max_bytes: usize, upper: i64) -> Result<LogRead> {
        self.read_batches(offset, max_bytes, upper, false)
    }

    fn read_batches(
        &self,
        offset: i64,
        max_bytes: usize,
        upper: i64,
        first_may_exceed: bool,
    ) -> Result<LogRead> {
        let (log_start, log_end) = (self.log_start_offset(), self.log_end_offset());
        if offset < log_start || offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            });
        }
        let empty = LogRead {
            batches: Bytes::new(),
            next_offset: offset,
        };
        let upper = upper.min(log_end);
        // A budget too small for any batch spares the lookup: a fetch whose budget is spent
        // still asks every later partition.
        let nothing_fits = !first_may_exceed && max_bytes < BATCH_HEADER_LEN;
        if offset >= upper || nothing_fits {
            return Ok(empty);
        }
        let Some(segment) = self.segment_for(offset) else {
            return Ok(empty);
        };
        let Some((position, first)) = segment.locate(offset)? else {
            return Ok(empty);
        };
        let first_fits = first_may_exceed || first.total_len() <= max_bytes as u64;
        if first.last_offset() >= upper || !first_fits {
            return Ok(empty);
        }
        let available = segment.size().saturating_sub(position);
        let want = (max_bytes as u64).max(first.total_len()).min(available);
        let mut buf = vec![0u8; want as usize];
        segment
            .file()?
            .read_exact_at(&mut buf, position)
            .context(|| format!("reading {}", segment.log_path().display()))?;
        // Keep the whole batches that fit and end below `upper`; the first always counts.
        let mut end = 0usize;
        let mut next_offset = offset;
        while let Ok(h) = BatchHeader::parse(&buf[end..]) {
            let len = h.total_len() as usize;
            let fits = end + len <= buf.len() && (end == 0 || end + len <= max_bytes);
            if !fits || h.last_offset() >= upper {
                break;
            }
            end += len;
            next_offset = h.next_offset();
        }
        buf.truncate(end);
        Ok(LogRead {
            batches: Bytes::from(buf),
            next_offset,
        })
    }

    /// Calls `visit` with the header of every batch from the one holding `from` to the end, in
    /// order, reading headers only (no payloads, no CRC checks): for rebuilding state such as
    /// idempotent-producer sequences after a restart.
    pub fn for_each_batch_header(
        &self,
        from: i64,
        mut visit: impl FnMut(&BatchHeader),
    ) -> Result<()> {
        let from = from.max(self.log_start_offset());
        let segments: Vec<Arc<Segment>> = self.segments.read().values().cloned().collect();
        for segment in segments.iter().filter(|s| s.next_offset() > from) {
            let start = match segment.locate(from)? {
                Some((position, _)) => position,
                None => continue,
            };
            segment.walk_headers(start, |_, header| {
                visit(header);
                true
            })?;
        }
        Ok(())
    }
}
