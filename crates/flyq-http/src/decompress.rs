//! Bounded decompression of stored record batches for display.
//!
//! The broker stores batches as producers compressed them. kafka-protocol's own codecs
//! inflate without a limit, so a small gzip bomb in a topic could make one browser request
//! allocate gigabytes; these stop at a caller-given budget instead.

use std::io::Read;

use bytes::{Buf, Bytes};
use kafka_protocol::records::Compression;

/// The batch inflates to more than the budget allows.
pub(crate) const TOO_LARGE: &str = "decompressed batch exceeds the browser's size limit";

/// Reads all of `reader`, failing once more than `limit` bytes come out.
fn read_bounded(reader: impl Read, limit: usize) -> anyhow::Result<Bytes> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(&mut out)?;
    if out.len() > limit {
        anyhow::bail!(TOO_LARGE);
    }
    Ok(Bytes::from(out))
}

/// Kafka's snappy framing (xerial): a magic header, then length-prefixed raw snappy blocks.
/// Without the header the payload is one raw snappy block.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

fn snappy_block(block: &[u8], limit: usize, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let len = snap::raw::decompress_len(block)?;
    if out.len().saturating_add(len) > limit {
        anyhow::bail!(TOO_LARGE);
    }
    out.extend_from_slice(&snap::raw::Decoder::new().decompress_vec(block)?);
    Ok(())
}

fn snappy(mut compressed: Bytes, limit: usize) -> anyhow::Result<Bytes> {
    let mut out = Vec::new();
    if !compressed.starts_with(XERIAL_MAGIC) {
        snappy_block(&compressed, limit, &mut out)?;
        return Ok(Bytes::from(out));
    }
    if compressed.len() < XERIAL_HEADER_LEN {
        anyhow::bail!("truncated snappy header");
    }
    compressed.advance(XERIAL_HEADER_LEN);
    while compressed.has_remaining() {
        if compressed.remaining() < 4 {
            anyhow::bail!("truncated snappy block length");
        }
        let len = compressed.get_u32() as usize;
        if len > compressed.remaining() {
            anyhow::bail!("truncated snappy block");
        }
        let block = compressed.split_to(len);
        snappy_block(&block, limit, &mut out)?;
    }
    Ok(Bytes::from(out))
}

/// Inflates one batch's records section, producing at most `limit` bytes.
pub(crate) fn decompress(
    compressed: Bytes,
    compression: Compression,
    limit: usize,
) -> anyhow::Result<Bytes> {
    match compression {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write;

    use super::*;

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![0u8; 10 << 20]).unwrap();
        let bomb = Bytes::from(encoder.finish().unwrap());
        assert!(bomb.len() < 100 << 10);
        let err = decompress(bomb.clone(), Compression::Gzip, 1 << 20).unwrap_err();
        assert_eq!(err.to_string(), TOO_LARGE);
        assert_eq!(
            decompress(bomb, Compression::Gzip, 10 << 20).unwrap().len(),
            10 << 20
        );
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
        assert!(decompress(framed.clone(), Compression::Snappy, 1000).is_err());
        assert_eq!(
            decompress(framed, Compression::Snappy, 1 << 20)
                .unwrap()
                .len(),
            1 << 20
        );
    }
}
