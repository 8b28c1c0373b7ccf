//! One TCP connection to one broker, shared by every task that talks to that broker.
//!
//! Requests are pipelined: each gets a correlation id, a writer task puts frames on the wire in
//! order and a reader task hands every response to the caller waiting on its id. The connection
//! negotiates API versions once, on connect. It does not reconnect; the cluster replaces a
//! closed connection on the next request.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::versions::client_range;

/// Frames queued for the writer before `send` waits: enough to keep the socket busy, bounded
/// so a stalled broker pushes back on callers.
const WRITE_QUEUE: usize = 64;
const IO_BUFFER: usize = 64 * 1024;
/// Most of a response's announced length allocated before its bytes arrive: a fetch answer is
/// read without growing (and copying) its buffer, while a length prefix that lies costs at most
/// this much until the connection times out.
const RESPONSE_PREALLOC: usize = 16 << 20;

/// Responses awaited on one connection, by correlation id.
#[derive(Default)]
struct Pending {
    waiting: HashMap<i32, oneshot::Sender<Bytes>>,
    closed: bool,
}

impl Pending {
    /// Marks the connection dead; dropping the senders wakes every waiter with `Disconnected`.
    fn close(&mut self) {
        self.closed = true;
        self.waiting.clear();
    }
}

/// A connected, version-negotiated broker connection.
pub(crate) struct Connection {
    addr: String,
    client_id: StrBytes,
    correlation: AtomicI32,
    frames: mpsc::Sender<Bytes>,
    pending: Arc<Mutex<Pending>>,
    /// Broker's (min, max) per API key.
    broker_versions: HashMap<i16, (i16, i16)>,
    request_timeout: Duration,
    reader: JoinHandle<()>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The writer stops when the last sender goes; the reader would otherwise wait for the
        // broker to close its side.
        self.reader.abort();
    }
}

impl Connection {
    /// Connects to `addr` and negotiates API versions.
    pub(crate) async fn connect(addr: &str, config: &ClientConfig) -> Result<Self> {
        let io_err = |source: std::io::Error| Error::Io {
            addr: addr.to_owned(),
            source: Arc::new(source),
        };
        let stream = tokio::time::timeout(config.request_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Timeout {
                addr: addr.to_owned(),
                api: ApiKey::ApiVersions,
                timeout: config.request_timeout,
            })?
            .map_err(io_err)?;
        stream.set_nodelay(true).map_err(io_err)?;
        let (rd, wr) = stream.into_split();
        let pending = Arc::new(Mutex::new(Pending::default()));
        let (frames, rx) = mpsc::channel(WRITE_QUEUE);
        tokio::spawn(write_loop(wr, rx, pending.clone()));
        let reader = tokio::spawn(read_loop(rd, pending.clone(), config.max_response_size));
        let mut conn = Self {
            addr: addr.to_owned(),
            client_id: StrBytes::from_string(config.client_id.clone()),
            correlation: AtomicI32::new(0),
            frames,
            pending,
            broker_versions: HashMap::new(),
            request_timeout: config.request_timeout,
            reader,
        };
        conn.negotiate().await?;
        Ok(conn)
    }

    async fn negotiate(&mut self) -> Result<()> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("flyq-client"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut response = self.send_version(&request, 3, self.request_timeout).await;
        // A broker older than v3 answers UNSUPPORTED_VERSION in a v0 body, which the v3
        // decoder rejects; v0 is understood by every broker.
        let retry = match &response {
            Ok(r) => r.error_code == 35,
            Err(Error::Protocol { .. }) => true,
            Err(_) => false,
        };
        if retry {
            response = self.send_version(&request, 0, self.request_timeout).await;
        }
        let response = response?;
        Error::check(response.error_code, || {
            format!("ApiVersions to {}", self.addr)
        })?;
        self.broker_versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(())
    }

    /// The broker address.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// Fails every pending request and stops reading: the connection is dead from now on.
    fn close(&self) {
        self.pending.lock().close();
        self.reader.abort();
    }

    /// Whether the connection has failed and must be replaced.
    pub(crate) fn is_closed(&self) -> bool {
        self.pending.lock().closed
    }

    /// Highest version of `R` both sides speak.
    pub(crate) fn version<R: Request>(&self) -> Result<i16> {
        let api = ApiKey::try_from(R::KEY).map_err(|()| self.protocol_error("unknown api key"))?;
        let (client_min, client_max) = client_range(api).unwrap_or((0, -1));
        let unsupported = |broker: String| Error::UnsupportedVersion {
            addr: self.addr.clone(),
            api,
            client_min,
            client_max,
            broker,
        };
        let Some(&(min, max)) = self.broker_versions.get(&R::KEY) else {
            return Err(unsupported("none".to_owned()));
        };
        let version = max.min(client_max).min(R::VERSIONS.max);
        if version < min.max(client_min) {
            return Err(unsupported(format!("{min}..={max}")));
        }
        Ok(version)
    }

    /// Sends `request` at the negotiated version and waits for the answer.
    pub(crate) async fn send<R: Request>(&self, request: &R) -> Result<R::Response> {
        self.send_timeout(request, self.request_timeout).await
    }

    /// Like [`Connection::send`] with an explicit timeout (JoinGroup waits for a rebalance).
    pub(crate) async fn send_timeout<R: Request>(
        &self,
        request: &R,
        timeout: Duration,
    ) -> Result<R::Response> {
        let version = self.version::<R>()?;
        self.send_version(request, version, timeout).await
    }

    /// Sends `request` without expecting an answer (Produce with acks=0).
    pub(crate) async fn send_oneway<R: Request>(&self, request: &R) -> Result<()> {
        let version = self.version::<R>()?;
        let (_, frame) = self.encode(request, version)?;
        self.frames
            .send(frame)
            .await
            .map_err(|_| self.disconnected::<R>())
    }

    async fn send_version<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response> {
        self.submit_version(request, version, timeout)
            .await?
            .response()
            .await
    }

    /// Queues `request` on the wire and returns at once; callers that call `submit` one after
    /// another have their requests written (and so processed by the broker) in that order.
    /// The answer must arrive within `timeout` of this call.
    pub(crate) async fn submit<R: Request>(
        &self,
        request: &R,
        timeout: Duration,
    ) -> Result<Submitted<'_, R>> {
        let version = self.version::<R>()?;
        self.submit_version(request, version, timeout).await
    }

    async fn submit_version<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<Submitted<'_, R>> {
        let (correlation, frame) = self.encode(request, version)?;
        let rx = {
            let mut pending = self.pending.lock();
            if pending.closed {
                return Err(self.disconnected::<R>());
            }
            let (tx, rx) = oneshot::channel();
            pending.waiting.insert(correlation, tx);
            rx
        };
        let submitted = Submitted {
            conn: self,
            rx,
            version,
            deadline: Instant::now() + timeout,
            timeout,
            request: PhantomData,
        };
        match tokio::time::timeout_at(submitted.deadline, self.frames.send(frame)).await {
            Ok(Ok(())) => Ok(submitted),
            Ok(Err(_)) => Err(self.disconnected::<R>()),
            Err(_) => Err(submitted.timed_out()),
        }
    }

    fn encode<R: Request>(&self, request: &R, version: i16) -> Result<(i32, Bytes)> {
        let correlation = self.correlation.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(self.client_id.clone()));
        let header_version = R::header_version(version);
        // Sized up front: a Produce request carries whole batches, and growing the buffer as
        // they are written would copy them again at every doubling.
        let size = header
            .compute_size(header_version)
            .and_then(|h| Ok(h + request.compute_size(version)?))
            .unwrap_or(0);
        let mut buf = BytesMut::with_capacity(4 + size);
        buf.put_i32(0);
        header
            .encode(&mut buf, header_version)
            .and_then(|()| request.encode(&mut buf, version))
            .map_err(|e| {
                self.protocol_error(&format!("{:?} v{version} request: {e}", api_key::<R>()))
            })?;
        let len = i32::try_from(buf.len() - 4)
            .map_err(|_| self.protocol_error("request larger than 2 GiB"))?;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        Ok((correlation, buf.freeze()))
    }

    fn timed_out<R: Request>(&self, timeout: Duration) -> Error {
        // No answer in time: the broker or the path to it is stuck (a half-open connection
        // never errors). Close the connection so the cluster opens a new one; keeping it
        // would time out every later request too.
        self.close();
        Error::Timeout {
            addr: self.addr.clone(),
            api: api_key::<R>(),
            timeout,
        }
    }

    fn disconnected<R: Request>(&self) -> Error {
        Error::Disconnected {
            addr: self.addr.clone(),
            api: api_key::<R>(),
        }
    }

    fn protocol_error(&self, what: &str) -> Error {
        Error::Protocol {
            addr: self.addr.clone(),
            what: what.to_owned(),
        }
    }
}

/// A request on its way; [`Submitted::response`] waits for the answer.
pub(crate) struct Submitted<'a, R: Request> {
    conn: &'a Connection,
    rx: oneshot::Receiver<Bytes>,
    version: i16,
    deadline: Instant,
    timeout: Duration,
    request: PhantomData<fn() -> R>,
}

impl<R: Request> Submitted<'_, R> {
    /// Waits for and decodes the answer.
    pub(crate) async fn response(self) -> Result<R::Response> {
        let conn = self.conn;
        let (version, timeout) = (self.version, self.timeout);
        let mut body = match tokio::time::timeout_at(self.deadline, &mut { self.rx }).await {
            Ok(Ok(body)) => body,
            Ok(Err(_)) => return Err(conn.disconnected::<R>()),
            Err(_) => return Err(conn.timed_out::<R>(timeout)),
        };
        let header_version = <R::Response as HeaderVersion>::header_version(version);
        ResponseHeader::decode(&mut body, header_version)
            .and_then(|_| <R::Response as Decodable>::decode(&mut body, version))
            .map_err(|e| {
                conn.protocol_error(&format!("{:?} v{version} response: {e}", api_key::<R>()))
            })
    }

    fn timed_out(self) -> Error {
        self.conn.timed_out::<R>(self.timeout)
    }
}

fn api_key<R: Request>() -> ApiKey {
    ApiKey::try_from(R::KEY).unwrap_or(ApiKey::ApiVersions)
}

async fn write_loop(
    wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Bytes>,
    pending: Arc<Mutex<Pending>>,
) {
    let mut wr = BufWriter::with_capacity(IO_BUFFER, wr);
    'outer: while let Some(frame) = rx.recv().await {
        if wr.write_all(&frame).await.is_err() {
            break;
        }
        // Coalesce whatever is already queued into one flush.
        while let Ok(frame) = rx.try_recv() {
            if wr.write_all(&frame).await.is_err() {
                break 'outer;
            }
        }
        if wr.flush().await.is_err() {
            break;
        }
    }
    pending.lock().close();
}

async fn read_loop(rd: OwnedReadHalf, pending: Arc<Mutex<Pending>>, max_response: usize) {
    let mut rd = BufReader::with_capacity(IO_BUFFER, rd);
    while let Ok(len) = rd.read_i32().await {
        let Ok(len) = usize::try_from(len) else { break };
        if !(4..=max_response).contains(&len) {
            tracing::warn!(target: "flyq_client::connection", len, "response frame length out of range; closing");
            break;
        }
        // Past the preallocation, grow with the bytes that actually arrive instead of trusting
        // the length prefix.
        let mut body = Vec::with_capacity(len.min(RESPONSE_PREALLOC));
        match (&mut rd).take(len as u64).read_to_end(&mut body).await {
            Ok(n) if n == len => {}
            _ => break,
        }
        let correlation = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let waiter = pending.lock().waiting.remove(&correlation);
        match waiter {
            Some(tx) => {
                let _ = tx.send(Bytes::from(body));
            }
            // The caller timed out and left.
            None => {
                tracing::debug!(target: "flyq_client::connection", correlation, "late response dropped")
            }
        }
    }
    pending.lock().close();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use tokio::io::AsyncWriteExt;

    use super::*;

    /// A peer that answers the first request with `reply` and then keeps the socket open.
    async fn peer(reply: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
            sock.write_all(reply).await.unwrap();
            let _ = sock.read(&mut buf).await;
        });
        addr
    }

    #[tokio::test]
    async fn an_oversized_length_prefix_closes_the_connection_instead_of_allocating() {
        let addr = peer(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]).await;
        let err = Connection::connect(&addr, &ClientConfig::new(&addr))
            .await
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                Error::Disconnected {
                    api: ApiKey::ApiVersions,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn garbage_in_a_response_is_a_protocol_error() {
        // A well-framed answer with the right correlation id and a body that is not an
        // ApiVersions response.
        let addr = peer(&[0, 0, 0, 6, 0, 0, 0, 0, 0xff, 0xff]).await;
        let err = Connection::connect(&addr, &ClientConfig::new(&addr))
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, Error::Protocol { .. } | Error::Disconnected { .. }),
            "{err:?}"
        );
    }

    /// A peer that answers ApiVersions (offering Metadata) and then never answers again.
    async fn silent_peer() -> String {
        use kafka_protocol::messages::ApiVersionsResponse;
        use kafka_protocol::messages::api_versions_response::ApiVersion;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n >= 12);
            let mut body = BytesMut::new();
            body.put_slice(&buf[8..12]);
            ApiVersionsResponse::default()
                .with_api_keys(vec![
                    ApiVersion::default()
                        .with_api_key(ApiKey::Metadata as i16)
                        .with_min_version(0)
                        .with_max_version(12),
                ])
                .encode(&mut body, 3)
                .unwrap();
            sock.write_all(&(body.len() as i32).to_be_bytes())
                .await
                .unwrap();
            sock.write_all(&body).await.unwrap();
            while sock.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        });
        addr
    }

    #[tokio::test]
    async fn a_request_timeout_closes_the_connection() {
        use kafka_protocol::messages::MetadataRequest;
        let addr = silent_peer().await;
        let conn = Connection::connect(&addr, &ClientConfig::new(&addr))
            .await
            .unwrap();
        assert!(!conn.is_closed());
        let err = conn
            .send_timeout(&MetadataRequest::default(), Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
        assert!(conn.is_closed());
    }
}
