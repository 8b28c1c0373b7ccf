//! What the log requires of a producer's batch before appending it. The log stores batches
//! exactly as they arrive and reads only their headers (through `flyq_protocol`'s layout);
//! this is its storage policy on top of the format's own structural check.

use flyq_protocol::header::{self, BatchError, BatchHeader};
use flyq_protocol::layout::{BATCH_HEADER_LEN, Compression};
use flyq_protocol::record::records;

/// The largest batch the log accepts or reads back, whatever `max.message.bytes` says: a
/// length field read from disk never sizes an allocation beyond this.
pub const MAX_BATCH_BYTES: usize = 256 << 20;

/// Everything [`header::check`] does, plus what a producer's batch must satisfy before it is
/// appended: the size limit, `records_count == last_offset_delta + 1` (a fresh batch has no
/// gaps), and for uncompressed batches, that the records section frames exactly
/// `records_count` records.
pub fn validate(bytes: &[u8], max_batch_bytes: usize) -> Result<BatchHeader, BatchError> {
    if bytes.len() > max_batch_bytes {
        return Err(BatchError::TooLarge {
            size: bytes.len(),
            max: max_batch_bytes,
        });
    }
    let header = header::check(bytes)?;
    if i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1 {
        return Err(BatchError::RecordCountMismatch {
            count: header.records_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    if header.compression()? == Compression::None {
        check_record_framing(&bytes[BATCH_HEADER_LEN..], header.records_count)?;
    }
    Ok(header)
}

fn check_record_framing(section: &[u8], count: i32) -> Result<(), BatchError> {
    let mut seen: i64 = 0;
    for record in records(section) {
        let record = record?;
        if i64::from(record.offset_delta) != seen {
            return Err(BatchError::MalformedRecords(
                "offset deltas not consecutive",
            ));
        }
        seen += 1;
        if seen > i64::from(count) {
            return Err(BatchError::MalformedRecords(
                "more records than records_count",
            ));
        }
    }
    if seen != i64::from(count) {
        return Err(BatchError::MalformedRecords(
            "fewer records than records_count",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flyq_protocol::builder::{RecordSpec, build_batch, filler_batch};
    use flyq_protocol::header::write_crc;
    use flyq_protocol::layout::{ATTRIBUTES, LAST_OFFSET_DELTA, RECORDS_COUNT};
    use proptest::prelude::*;

    /// A valid batch of `records` records.
    fn simple(records: usize) -> Vec<u8> {
        filler_batch(1_000, records, 2)
    }

    #[test]
    fn valid_batch_passes_and_reports_header() {
        let b = simple(3);
        let h = validate(&b, 1 << 20).unwrap();
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.total_len(), b.len() as u64);
        assert_eq!(h.compression().unwrap(), Compression::None);
    }

    #[test]
    fn structural_errors_and_the_size_limit_are_refused() {
        let good = simple(2);
        assert!(matches!(
            validate(&good[..30], 1 << 20),
            Err(BatchError::TooShort { .. })
        ));
        let mut b = good.clone();
        *b.last_mut().unwrap() ^= 0x40;
        assert!(matches!(
            validate(&b, 1 << 20),
            Err(BatchError::CrcMismatch { .. })
        ));
        assert!(matches!(
            validate(&good, 10),
            Err(BatchError::TooLarge { size: _, max: 10 })
        ));
    }

    #[test]
    fn count_and_delta_must_agree() {
        let mut b = simple(2);
        RECORDS_COUNT.write(&mut b, 5);
        write_crc(&mut b);
        assert!(matches!(
            validate(&b, 1 << 20),
            Err(BatchError::RecordCountMismatch { .. })
        ));
    }

    #[test]
    fn record_framing_is_checked_for_uncompressed_batches() {
        // Claim 3 records while only 2 are framed.
        let mut b = simple(2);
        RECORDS_COUNT.write(&mut b, 3);
        LAST_OFFSET_DELTA.write(&mut b, 2);
        write_crc(&mut b);
        assert!(matches!(
            validate(&b, 1 << 20),
            Err(BatchError::MalformedRecords(_))
        ));
        // A record length pointing past the end of the batch.
        let mut b = simple(1);
        b[BATCH_HEADER_LEN] = 0x7e; // zig-zag 63: longer than what follows
        write_crc(&mut b);
        assert!(matches!(
            validate(&b, 1 << 20),
            Err(BatchError::MalformedRecords(_))
        ));
    }

    #[test]
    fn compressed_batches_are_not_unpacked() {
        // Gzip attribute with opaque payload: validated by CRC and header only.
        let mut b = simple(2);
        ATTRIBUTES.write(&mut b, Compression::Gzip.attributes());
        let len = b.len();
        b[BATCH_HEADER_LEN..len].fill(0xAB);
        write_crc(&mut b);
        assert_eq!(
            validate(&b, 1 << 20).unwrap().compression().unwrap(),
            Compression::Gzip
        );
    }

    proptest! {
        #[test]
        fn any_built_batch_validates(values in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..64), 1..20)) {
            let specs: Vec<RecordSpec> = values.into_iter().map(RecordSpec::value).collect();
            let b = build_batch(7, 5, &specs);
            let h = validate(&b, 1 << 20).unwrap();
            prop_assert_eq!(h.records_count as usize, specs.len());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = validate(&bytes, 1 << 20);
        }
    }
}
