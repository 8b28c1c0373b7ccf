//! Record framing inside a RecordBatch v2 records section: each record is a varint length,
//! then attributes (one byte, unused), timestamp delta, offset delta, key, value and headers,
//! lengths and deltas as zig-zag varints and a null byte string as length -1.
//!
//! [`encode_record`] is the one encoder: the SDK's producer writes every record it sends with
//! it, and [`builder`](crate::builder) the batches of tests, tools and the group coordinator.

use bytes::{BufMut, Bytes};

use crate::header::BatchError;
use crate::varint::{put_uvarint, read_varint, uvarint_len, zigzag32, zigzag64};

/// The smallest encoded record: length, attributes, timestamp and offset deltas, key and value
/// lengths, header count, one byte each.
pub(crate) const MIN_RECORD_BYTES: usize = 7;

/// A record header: a string key and an optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header key.
    pub key: String,
    /// Header value (`None` is a null value).
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Self {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// Length prefix of an optional byte string: -1 for null.
#[inline]
fn bytes_len(b: Option<&[u8]>) -> i32 {
    b.map_or(-1, |b| i32::try_from(b.len()).unwrap_or(i32::MAX))
}

/// Encoded size of an optional byte string, length prefix included.
#[inline]
fn sized_len(b: Option<&[u8]>) -> usize {
    uvarint_len(u64::from(zigzag32(bytes_len(b)))) + b.map_or(0, <[u8]>::len)
}

#[inline]
fn put_sized(buf: &mut impl BufMut, b: Option<&[u8]>) {
    put_uvarint(buf, u64::from(zigzag32(bytes_len(b))));
    if let Some(b) = b {
        buf.put_slice(b);
    }
}

#[inline]
fn headers_len(headers: &[Header]) -> usize {
    headers
        .iter()
        .map(|h| sized_len(Some(h.key.as_bytes())) + sized_len(h.value.as_deref()))
        .sum()
}

/// Upper bound of a record's encoded size, for memory accounting before it is encoded.
#[inline]
pub fn record_size_bound(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
    // length(5) + attributes(1) + timestamp delta(10) + offset delta(5) + header count(5).
    let fixed = 26;
    fixed + sized_len(key) + sized_len(value) + headers_len(headers)
}

/// Appends one record, length prefix first, to a records section.
#[inline]
pub fn encode_record(
    buf: &mut impl BufMut,
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) {
    let ts_delta = zigzag64(timestamp_delta);
    let offset_delta = u64::from(zigzag32(offset_delta));
    let header_count = u64::from(zigzag32(i32::try_from(headers.len()).unwrap_or(i32::MAX)));
    let body = 1
        + uvarint_len(ts_delta)
        + uvarint_len(offset_delta)
        + sized_len(key)
        + sized_len(value)
        + uvarint_len(header_count)
        + headers_len(headers);
    put_uvarint(
        buf,
        u64::from(zigzag32(i32::try_from(body).unwrap_or(i32::MAX))),
    );
    buf.put_u8(0); // attributes
    put_uvarint(buf, ts_delta);
    put_uvarint(buf, offset_delta);
    put_sized(buf, key);
    put_sized(buf, value);
    put_uvarint(buf, header_count);
    for h in headers {
        put_sized(buf, Some(h.key.as_bytes()));
        put_sized(buf, h.value.as_deref());
    }
}

/// One record of an uncompressed batch, as [`records`] yields it (headers are not parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// `offset_delta` field of the record.
    pub offset_delta: i32,
    /// `timestamp_delta` field of the record.
    pub timestamp_delta: i64,
    /// The key, `None` if null.
    pub key: Option<&'a [u8]>,
    /// The value, `None` if null (a tombstone).
    pub value: Option<&'a [u8]>,
}

/// Walks the length-prefixed records of an uncompressed records section. Stops (with an error
/// item) at the first malformed one.
pub fn records(section: &[u8]) -> impl Iterator<Item = Result<Record<'_>, BatchError>> + '_ {
    let mut rest = section;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let item = next_record(&mut rest);
        if item.is_err() {
            rest = &[];
        }
        Some(item)
    })
}

fn next_record<'a>(rest: &mut &'a [u8]) -> Result<Record<'a>, BatchError> {
    let len = read_varint(rest).ok_or(BatchError::MalformedRecords("bad record length"))?;
    let len = usize::try_from(len).map_err(|_| BatchError::MalformedRecords("negative length"))?;
    if len > rest.len() {
        return Err(BatchError::MalformedRecords("record longer than the batch"));
    }
    let (mut body, tail) = rest.split_at(len);
    *rest = tail;
    if body.is_empty() {
        return Err(BatchError::MalformedRecords("empty record"));
    }
    body = &body[1..]; // attributes
    let timestamp_delta =
        read_varint(&mut body).ok_or(BatchError::MalformedRecords("bad timestamp delta"))?;
    let offset_delta = read_varint(&mut body)
        .and_then(|d| i32::try_from(d).ok())
        .ok_or(BatchError::MalformedRecords("bad offset delta"))?;
    let key = read_bytes(&mut body).ok_or(BatchError::MalformedRecords("bad key"))?;
    let value = read_bytes(&mut body).ok_or(BatchError::MalformedRecords("bad value"))?;
    Ok(Record {
        offset_delta,
        timestamp_delta,
        key,
        value,
    })
}

/// Reads a varint-length-prefixed byte string (-1 is null).
fn read_bytes<'a>(buf: &mut &'a [u8]) -> Option<Option<&'a [u8]>> {
    let len = read_varint(buf)?;
    if len == -1 {
        return Some(None);
    }
    let len = usize::try_from(len).ok().filter(|l| *l <= buf.len())?;
    let (bytes, rest) = buf.split_at(len);
    *buf = rest;
    Some(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_yield_keys_and_values_and_nulls() {
        let mut section = Vec::new();
        encode_record(&mut section, 0, 0, Some(b"k"), Some(b"v"), &[]);
        encode_record(&mut section, 1, 7, None, None, &[Header::new("h", "x")]);
        let recs: Vec<Record<'_>> = records(&section).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            (recs[0].key, recs[0].value),
            (Some(&b"k"[..]), Some(&b"v"[..]))
        );
        assert_eq!(
            (recs[1].key, recs[1].value, recs[1].timestamp_delta),
            (None, None, 7)
        );
        assert_eq!(recs[1].offset_delta, 1);
    }

    #[test]
    fn a_record_longer_than_the_section_ends_the_walk_with_an_error() {
        let mut section = Vec::new();
        encode_record(&mut section, 0, 0, None, Some(b"value"), &[]);
        section[0] = 0x7e; // zig-zag 63: longer than what follows
        let mut walk = records(&section);
        assert!(matches!(
            walk.next(),
            Some(Err(BatchError::MalformedRecords(_)))
        ));
        assert!(walk.next().is_none());
    }

    #[test]
    fn size_bound_covers_the_encoded_record() {
        let headers = [Header::new("key", vec![0u8; 300])];
        let value = vec![1u8; 200];
        let mut section = Vec::new();
        encode_record(
            &mut section,
            0,
            i64::MAX / 2,
            Some(b"k"),
            Some(&value),
            &headers,
        );
        assert!(section.len() <= record_size_bound(Some(b"k"), Some(&value), &headers));
    }
}
