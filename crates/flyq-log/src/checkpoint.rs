//! The `log-start-offset` checkpoint: where the log begins after delete-records or retention.
//!
//! Format (20 bytes, big-endian): `b"FQLS"`, version `u32 = 1`, offset `i64`, CRC-32C `u32` of
//! the previous 16 bytes. Written atomically (temp file, sync, rename, directory sync).

use std::io;
use std::path::Path;

use crate::storage::{Storage, read_file, write_file_atomic};

/// File name of the checkpoint inside a log directory.
pub const LOG_START_FILE: &str = "log-start-offset";
const MAGIC: &[u8; 4] = b"FQLS";
const VERSION: u32 = 1;

/// Encodes a checkpoint.
pub fn encode(offset: i64) -> [u8; 20] {
    let mut out = [0u8; 20];
    out[..4].copy_from_slice(MAGIC);
    out[4..8].copy_from_slice(&VERSION.to_be_bytes());
    out[8..16].copy_from_slice(&offset.to_be_bytes());
    let crc = crc32c::crc32c(&out[..16]);
    out[16..].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Decodes a checkpoint, `None` if it is not a valid one.
pub fn decode(bytes: &[u8]) -> Option<i64> {
    if bytes.len() != 20 || &bytes[..4] != MAGIC || bytes[4..8] != VERSION.to_be_bytes() {
        return None;
    }
    let crc = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    if crc32c::crc32c(&bytes[..16]) != crc {
        return None;
    }
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&bytes[8..16]);
    Some(i64::from_be_bytes(offset)).filter(|o| *o >= 0)
}

/// Reads the checkpoint in `dir`: `Ok(None)` if absent; an error if present but unreadable.
pub fn read(storage: &dyn Storage, dir: &Path) -> io::Result<Option<i64>> {
    match read_file(storage, &dir.join(LOG_START_FILE), 64) {
        Ok(bytes) => decode(&bytes).map(Some).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "log-start-offset checkpoint is corrupt",
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Durably records `offset` as the log start in `dir`.
pub fn write(storage: &dyn Storage, dir: &Path, offset: i64) -> io::Result<()> {
    write_file_atomic(storage, &dir.join(LOG_START_FILE), &encode(offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let bytes = encode(123_456);
        assert_eq!(decode(&bytes), Some(123_456));
        for i in 0..bytes.len() {
            let mut bad = bytes;
            bad[i] ^= 0x10;
            assert_eq!(decode(&bad), None, "flip in byte {i} went unnoticed");
        }
        assert_eq!(decode(&bytes[..19]), None);
    }
}
