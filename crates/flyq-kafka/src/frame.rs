//! Reading request frames: a 4-byte big-endian length, then that many bytes.
//!
//! The length is checked before anything is allocated, and the body buffer grows with the
//! bytes that actually arrive, so a peer announcing a large frame and sending little costs
//! little. Waiting for a frame to begin has no deadline (idle connections are fine); once its
//! first byte has arrived, the whole frame must arrive within the read timeout.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a frame could not be read; each closes the connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("frame length {0} is out of range (1..={1})")]
    BadLength(i32, usize),
    #[error("request not completed within {0:?}")]
    Timeout(Duration),
    #[error("connection closed in the middle of a request")]
    Truncated,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

const GROWTH_STEP: usize = 64 * 1024;

/// Reads the next frame; `Ok(None)` when the peer closed the connection between frames.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_len: usize,
    timeout: Duration,
) -> Result<Option<Bytes>, FrameError> {
    let mut first = [0u8; 1];
    if reader.read(&mut first).await? == 0 {
        return Ok(None);
    }
    tokio::time::timeout(timeout, read_rest(reader, first[0], max_len))
        .await
        .map_err(|_| FrameError::Timeout(timeout))?
        .map(Some)
}

async fn read_rest<R: AsyncRead + Unpin>(
    reader: &mut R,
    first: u8,
    max_len: usize,
) -> Result<Bytes, FrameError> {
    let mut prefix = [first, 0, 0, 0];
    read_exact(reader, &mut prefix[1..]).await?;
    let len = i32::from_be_bytes(prefix);
    if len <= 0 || len as usize > max_len {
        return Err(FrameError::BadLength(len, max_len));
    }
    let len = len as usize;
    let mut body = BytesMut::with_capacity(len.min(GROWTH_STEP));
    while body.len() < len {
        if body.capacity() == body.len() {
            body.reserve((len - body.len()).min(GROWTH_STEP.max(body.len())));
        }
        let want = (len - body.len()).min(body.capacity() - body.len());
        let mut limited = (&mut *reader).take(want as u64);
        if limited.read_buf(&mut body).await? == 0 {
            return Err(FrameError::Truncated);
        }
    }
    Ok(body.freeze())
}

async fn read_exact<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
) -> Result<(), FrameError> {
    match reader.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FrameError::Truncated),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> Result<Option<Bytes>, FrameError> {
        let mut reader = bytes;
        read_frame(&mut reader, 1000, Duration::from_secs(1)).await
    }

    #[tokio::test]
    async fn frames_are_read_whole_and_lengths_checked() {
        let mut ok = 5i32.to_be_bytes().to_vec();
        ok.extend_from_slice(b"hello");
        assert_eq!(
            read(&ok).await.unwrap().unwrap(),
            Bytes::from_static(b"hello")
        );
        assert!(read(&[]).await.unwrap().is_none());
        assert!(matches!(
            read(&0x7fff_ffffi32.to_be_bytes()).await,
            Err(FrameError::BadLength(..))
        ));
        assert!(matches!(
            read(&(-1i32).to_be_bytes()).await,
            Err(FrameError::BadLength(..))
        ));
        assert!(matches!(
            read(&0i32.to_be_bytes()).await,
            Err(FrameError::BadLength(..))
        ));
        assert!(matches!(
            read(&[0, 0, 0, 9, 1, 2]).await,
            Err(FrameError::Truncated)
        ));
    }
}
