//! The compression codecs of RecordBatch v2 records sections: [`inflate`] within a byte
//! budget (what a compression bomb may inflate to is decided before it is allocated, where the
//! codec allows), and [`deflate`] at a chosen level. Kafka's framings: gzip, xerial-framed
//! snappy (raw snappy accepted on input), LZ4 frames, zstd.

use std::io::{Read, Write};

use bytes::{Buf, Bytes};

use crate::layout::Compression;

/// Why a records section could not be inflated or deflated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// It inflates to more than the budget.
    #[error("inflates to more than the budget")]
    OverBudget,
    /// It is not valid data for its codec.
    #[error("{0}")]
    Invalid(String),
}

impl From<std::io::Error> for CodecError {
    fn from(e: std::io::Error) -> Self {
        Self::Invalid(e.to_string())
    }
}

impl From<snap::Error> for CodecError {
    fn from(e: snap::Error) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// Reads all of `reader`, failing once more than `limit` bytes come out.
fn read_bounded(reader: impl Read, limit: usize) -> Result<Bytes, CodecError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(CodecError::OverBudget);
    }
    Ok(Bytes::from(out))
}

/// Kafka's snappy framing (xerial): a magic header (magic, version 1, compatible version 1),
/// then length-prefixed raw snappy blocks. Without the header the payload is one raw block.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;
/// Uncompressed bytes per xerial block, as snappy-java writes them.
const XERIAL_BLOCK: usize = 32 * 1024;

fn snappy_block(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    // A raw snappy block states its inflated length up front: check it before allocating.
    let len = snap::raw::decompress_len(block)?;
    if out.len().saturating_add(len) > limit {
        return Err(CodecError::OverBudget);
    }
    out.extend_from_slice(&snap::raw::Decoder::new().decompress_vec(block)?);
    Ok(())
}

fn snappy(mut compressed: Bytes, limit: usize) -> Result<Bytes, CodecError> {
    let mut out = Vec::new();
    if !compressed.starts_with(XERIAL_MAGIC) {
        snappy_block(&compressed, limit, &mut out)?;
        return Ok(Bytes::from(out));
    }
    if compressed.len() < XERIAL_HEADER_LEN {
        return Err(CodecError::Invalid("truncated snappy header".to_owned()));
    }
    compressed.advance(XERIAL_HEADER_LEN);
    while compressed.has_remaining() {
        if compressed.remaining() < 4 {
            return Err(CodecError::Invalid(
                "truncated snappy block length".to_owned(),
            ));
        }
        let len = compressed.get_u32() as usize;
        if len > compressed.remaining() {
            return Err(CodecError::Invalid("truncated snappy block".to_owned()));
        }
        let block = compressed.split_to(len);
        snappy_block(&block, limit, &mut out)?;
    }
    Ok(Bytes::from(out))
}

/// Inflates one batch's records section, producing at most `limit` bytes. Uncompressed
/// records are already in memory and returned as they are.
pub fn inflate(compressed: Bytes, codec: Compression, limit: usize) -> Result<Bytes, CodecError> {
    match codec {
        Compression::None => Ok(compressed),
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(compressed.reader()), limit),
        Compression::Lz4 => read_bounded(lz4::Decoder::new(compressed.reader())?, limit),
        Compression::Zstd => read_bounded(
            zstd::stream::read::Decoder::new(compressed.reader())?,
            limit,
        ),
        Compression::Snappy => snappy(compressed, limit),
    }
}

/// Compresses a records section with `codec` at `level` (`None`: the codec's default level;
/// snappy has no levels).
pub fn deflate(raw: &[u8], codec: Compression, level: Option<i32>) -> Result<Vec<u8>, CodecError> {
    match codec {
        Compression::None => Ok(raw.to_vec()),
        Compression::Gzip => {
            let level = level
                .and_then(|l| u32::try_from(l).ok())
                .map_or(flate2::Compression::default(), flate2::Compression::new);
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::with_capacity(raw.len() / 2), level);
            encoder.write_all(raw)?;
            Ok(encoder.finish()?)
        }
        Compression::Snappy => {
            let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + raw.len() / 2);
            out.extend_from_slice(XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut encoder = snap::raw::Encoder::new();
            for chunk in raw.chunks(XERIAL_BLOCK) {
                let block = encoder.compress_vec(chunk)?;
                let len = u32::try_from(block.len())
                    .map_err(|_| CodecError::Invalid("snappy block too large".into()))?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let mut encoder = lz4::EncoderBuilder::new()
                .level(level.and_then(|l| u32::try_from(l).ok()).unwrap_or(9))
                .block_mode(lz4::BlockMode::Independent)
                .build(Vec::with_capacity(raw.len() / 2))?;
            encoder.write_all(raw)?;
            let (out, finished) = encoder.finish();
            finished?;
            Ok(out)
        }
        Compression::Zstd => Ok(zstd::stream::encode_all(raw, level.unwrap_or(3))?),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_codec_round_trips_at_default_and_chosen_levels() {
        let raw: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in Compression::ALL {
            for level in [None, Some(1)] {
                let packed = deflate(&raw, codec, level).unwrap();
                if codec != Compression::None {
                    assert!(packed.len() < raw.len(), "{codec:?} did not compress");
                }
                let back = inflate(Bytes::from(packed), codec, raw.len()).unwrap();
                assert_eq!(back, raw, "{codec:?} at {level:?}");
            }
        }
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_budget() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![0u8; 10 << 20]).unwrap();
        let bomb = Bytes::from(encoder.finish().unwrap());
        assert!(bomb.len() < 100 << 10);
        assert!(matches!(
            inflate(bomb.clone(), Compression::Gzip, 1 << 20),
            Err(CodecError::OverBudget)
        ));
        assert!(matches!(
            inflate(bomb, Compression::Gzip, 10 << 20),
            Ok(b) if b.len() == 10 << 20
        ));
    }

    #[test]
    fn snappy_blocks_are_checked_before_inflating() {
        let block = snap::raw::Encoder::new()
            .compress_vec(&vec![7u8; 1 << 20])
            .unwrap();
        let mut framed = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
        framed.extend_from_slice(&(block.len() as u32).to_be_bytes());
        framed.extend_from_slice(&block);
        let framed = Bytes::from(framed);
        assert!(matches!(
            inflate(framed.clone(), Compression::Snappy, 1000),
            Err(CodecError::OverBudget)
        ));
        assert!(matches!(
            inflate(framed, Compression::Snappy, 1 << 20),
            Ok(b) if b.len() == 1 << 20
        ));
    }
}
