//! [`Log::verify`]: a full scrub of every batch in every segment.
//!
//! Open trusts sealed segments and reads never re-check CRCs (consumers do), so media
//! corruption in old data is found here: every batch's length, CRC-32C and offset continuity
//! are checked, and each problem is reported with its segment and byte position. Nothing is
//! changed on disk. Whole files are scanned, including bytes past a fenced segment's visible end.

use std::sync::Arc;

use crate::error::Result;
use crate::log::Log;
use crate::segment::Segment;

/// A problem found by [`Log::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// Base offset of the segment.
    pub segment_base_offset: i64,
    /// Byte position of the first bad batch in the segment.
    pub position: u64,
    /// What check failed.
    pub detail: String,
}

impl Log {
    /// Checks every batch of every segment; returns the problems found (empty when intact).
    pub fn verify(&self) -> Result<Vec<Corruption>> {
        let segments: Vec<Arc<Segment>> = self.segments.read().values().cloned().collect();
        let mut problems = Vec::new();
        for segment in segments {
            let base = segment.base_offset();
            // The whole file, not just what readers see: a fenced segment hides its damage.
            let file_len = segment.file()?.size().map_err(|e| {
                crate::error::LogError::io(format!("sizing {}", segment.log_path().display()), e)
            })?;
            let end = segment.scan(0, base, file_len, |_, _| {})?;
            let detail = match end.problem {
                Some(problem) => Some(problem),
                None if end.next_offset != segment.next_offset() => Some(format!(
                    "segment ends at offset {}, the next segment starts at {}",
                    end.next_offset,
                    segment.next_offset()
                )),
                None => None,
            };
            if let Some(detail) = detail {
                problems.push(Corruption {
                    segment_base_offset: base,
                    position: end.position,
                    detail,
                });
            }
        }
        Ok(problems)
    }
}
