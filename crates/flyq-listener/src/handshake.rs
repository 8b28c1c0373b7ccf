//! The seam where connections will be secured (TLS) before a front end sees them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::timed::TimedStream;

/// What every accepted connection goes through before its front end reads from it.
///
/// The handshake runs on the connection's own task, so a slow one holds up no one else, and
/// the stream it returns is what the front end reads and writes. The front ends are generic
/// over that stream, so a new handshake changes no front-end code.
///
/// Today every listener is [`Plaintext`]. Where the rest will go:
///
/// - **TLS** is a second implementation: it wraps the [`TimedStream`] in a TLS server stream
///   (for instance tokio-rustls' `TlsAcceptor::accept`) and returns that. Because it wraps
///   the timed stream, the listener's idle and age limits also bound a handshake that stalls;
///   a listener without them (Kafka) should bound the handshake with a timeout of its own.
/// - **SASL** is not a byte-stream handshake: Kafka clients authenticate with SaslHandshake
///   and SaslAuthenticate *requests*, framed like any other. It belongs to the Kafka front
///   end's connection loop (`kafka/connection.rs`), which must then refuse every other API
///   until authentication succeeds. If it needs what TLS learnt (a client
///   certificate for mTLS), the TLS `Stream` type carries it.
pub trait Handshake: Send + Sync + 'static {
    /// The stream the front end is given.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Secures `stream`, accepted from `peer`. An error closes the connection (logged at
    /// debug level: failed handshakes are the peer's problem).
    fn handshake(
        &self,
        stream: TimedStream,
        peer: SocketAddr,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// No handshake: the front end speaks directly over TCP.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plaintext;

impl Handshake for Plaintext {
    type Stream = TimedStream;

    fn handshake(
        &self,
        stream: TimedStream,
        _peer: SocketAddr,
    ) -> impl Future<Output = io::Result<TimedStream>> + Send {
        std::future::ready(Ok(stream))
    }
}
