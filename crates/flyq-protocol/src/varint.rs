//! The zig-zag varints that frame records (Kafka's varint and varlong).
//!
//! The encoders run once per field of every record a producer sends: they are `#[inline]` so
//! that they inline across the crate boundary into the SDK's hot path.

use bytes::BufMut;

/// Zig-zag encoding of a 32-bit value (small magnitudes, either sign, give small numbers).
#[inline]
pub(crate) fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Zig-zag encoding of a 64-bit value.
#[inline]
pub(crate) fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Writes `v` 7 bits at a time, low bits first, the top bit of each byte marking that more
/// follow.
#[inline]
pub(crate) fn put_uvarint(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Bytes [`put_uvarint`] writes for `v`.
#[inline]
pub(crate) fn uvarint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads a zig-zag varint (at most 10 bytes, as Kafka's varlong); `None` if malformed.
pub(crate) fn read_varint(buf: &mut &[u8]) -> Option<i64> {
    let mut value: u64 = 0;
    for (i, &byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *buf = &buf[i + 1..];
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varint_longer_than_ten_bytes_is_rejected() {
        let mut buf: &[u8] = &[0xff; 11];
        assert_eq!(read_varint(&mut buf), None);
    }

    #[test]
    fn varint_lengths_match_encoding() {
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put_uvarint(&mut buf, v);
            assert_eq!(buf.len(), uvarint_len(v), "{v}");
        }
    }

    proptest! {
        #[test]
        fn varints_round_trip(v in any::<i64>()) {
            let mut out = Vec::new();
            put_uvarint(&mut out, zigzag64(v));
            let mut slice: &[u8] = &out;
            prop_assert_eq!(read_varint(&mut slice), Some(v));
            prop_assert!(slice.is_empty());
        }

        #[test]
        fn zigzag32_agrees_with_zigzag64(v in any::<i32>()) {
            prop_assert_eq!(u64::from(zigzag32(v)), zigzag64(i64::from(v)));
        }
    }
}
