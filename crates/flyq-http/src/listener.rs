//! The HTTP listener's limits. axum's server has no connection cap and, without a timer, no
//! header-read timeout, so a client could hold any number of connections open forever, each a
//! file descriptor the Kafka listener also needs. This listener takes a slot per connection
//! (waiting, with new connections left in the kernel's backlog, when all are taken) and closes
//! connections that send nothing for a while, and any connection once it reaches a maximum
//! age: a client trickling a byte now and then cannot keep its slot for ever (well-behaved
//! clients just reconnect).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Accepts at most `slots` connections at once.
pub(crate) struct Bounded {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    idle: Duration,
    max_age: Duration,
}

impl Bounded {
    /// At most `max_connections` open at once; each closed after `idle` without input, and
    /// reads fail once it is `max_age` old.
    pub(crate) fn new(
        listener: TcpListener,
        max_connections: usize,
        idle: Duration,
        max_age: Duration,
    ) -> Self {
        Self {
            listener,
            slots: Arc::new(Semaphore::new(max_connections.max(1))),
            idle,
            max_age,
        }
    }
}

impl axum::serve::Listener for Bounded {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed, so acquiring only fails if it were; then serve
        // without a slot rather than stop accepting.
        let slot = Arc::clone(&self.slots).acquire_owned().await.ok();
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    let now = Instant::now();
                    let connection = Connection {
                        stream,
                        _slot: slot,
                        idle: self.idle,
                        expires: now + self.max_age,
                        deadline: Box::pin(tokio::time::sleep_until(
                            (now + self.idle).min(now + self.max_age),
                        )),
                    };
                    return (connection, peer);
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(target: "flyq::http", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// An accepted connection: holds its slot until dropped and fails its reads once the client
/// has sent nothing for the idle time.
pub(crate) struct Connection {
    stream: TcpStream,
    _slot: Option<OwnedSemaphorePermit>,
    idle: Duration,
    /// When the connection reaches its maximum age.
    expires: Instant,
    deadline: Pin<Box<Sleep>>,
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                let next = (Instant::now() + this.idle).min(this.expires);
                this.deadline.as_mut().reset(next);
                Poll::Ready(result)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "HTTP client idle too long, or connection too old",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Connection {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::serve::Listener;
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn slots_bound_open_connections_and_idle_ones_are_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut bounded = Bounded::new(
            listener,
            1,
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        let _first_client = TcpStream::connect(addr).await.unwrap();
        let (mut first, _) = bounded.accept().await;
        let _second_client = TcpStream::connect(addr).await.unwrap();
        // The only slot is taken: the second connection waits.
        let waiting = tokio::time::timeout(Duration::from_millis(100), bounded.accept()).await;
        assert!(waiting.is_err());
        // The first client sends nothing: its read fails once idle, and closing it frees the
        // slot for the second.
        let mut buf = [0u8; 8];
        let err = first.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(first);
        let accepted = tokio::time::timeout(Duration::from_secs(5), bounded.accept()).await;
        assert!(accepted.is_ok());
    }

    #[tokio::test]
    async fn a_client_trickling_bytes_is_closed_at_the_maximum_age() {
        use tokio::io::AsyncWriteExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut bounded = Bounded::new(
            listener,
            1,
            Duration::from_millis(300),
            Duration::from_millis(700),
        );
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = bounded.accept().await;
        let started = Instant::now();
        let trickle = tokio::spawn(async move {
            // A byte every 100 ms: never idle for 300 ms.
            while client.write_all(b"G").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut buf = [0u8; 8];
        let error = loop {
            match server.read(&mut buf).await {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(600));
        trickle.abort();
    }
}
