//! Idle and age limits on a connection's reads.
//!
//! Without them a client could hold a connection, a file descriptor every listener of the
//! process also needs, for ever: by sending nothing (the idle limit), or by trickling a byte
//! now and then (the age limit; well-behaved clients just reconnect).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// An accepted TCP connection whose reads fail with [`io::ErrorKind::TimedOut`] once its peer
/// has sent nothing for the idle time, or once it reaches its maximum age. With neither
/// limit it is the TCP stream as it is.
pub struct TimedStream {
    stream: TcpStream,
    idle: Option<Duration>,
    /// When the connection reaches its maximum age.
    expires: Option<Instant>,
    /// The earlier of the two limits, from the last read.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl TimedStream {
    pub(crate) fn new(
        stream: TcpStream,
        idle: Option<Duration>,
        max_age: Option<Duration>,
    ) -> Self {
        let now = Instant::now();
        let expires = max_age.and_then(|age| now.checked_add(age));
        let deadline =
            next_deadline(now, idle, expires).map(|at| Box::pin(tokio::time::sleep_until(at)));
        Self {
            stream,
            idle,
            expires,
            deadline,
        }
    }
}

/// When reads must fail if nothing arrives after `now`; `None` if never. A limit too far
/// away to represent is no limit.
fn next_deadline(
    now: Instant,
    idle: Option<Duration>,
    expires: Option<Instant>,
) -> Option<Instant> {
    let idle_until = idle.and_then(|idle| now.checked_add(idle));
    match (idle_until, expires) {
        (Some(idle_until), Some(expires)) => Some(idle_until.min(expires)),
        (idle_until, expires) => idle_until.or(expires),
    }
}

impl AsyncRead for TimedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if let Some(deadline) = &mut this.deadline
                    && let Some(next) = next_deadline(Instant::now(), this.idle, this.expires)
                {
                    deadline.as_mut().reset(next);
                }
                Poll::Ready(result)
            }
            Poll::Pending => match this.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle too long, or too old",
                ))),
                Some(Poll::Pending) | None => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
