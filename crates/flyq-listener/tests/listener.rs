//! The shared listener against real sockets, with a toy front end: the connection cap in both
//! modes, idle and age limits, counting, and the drain on shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flyq_listener::{
    Closing, ConnectionCounters, Listener, Plaintext, ProblemLog, Settings, TimedStream, WhenFull,
};
use metrics::{Counter, Gauge};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

/// Long enough for anything that must happen; reaching it fails the test.
const PATIENCE: Duration = Duration::from_secs(5);

fn settings(max_connections: usize, when_full: WhenFull) -> Settings {
    Settings {
        name: "test",
        max_connections,
        when_full,
        idle_timeout: None,
        max_age: None,
        shutdown_grace: Duration::from_secs(10),
    }
}

/// Open and refused connections as the listener counted them.
#[derive(Clone, Default)]
struct Counted {
    open: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
}

impl Counted {
    fn counters(&self) -> ConnectionCounters {
        ConnectionCounters {
            open: Gauge::from_arc(Arc::clone(&self.open)),
            refused: Counter::from_arc(Arc::clone(&self.refused)),
        }
    }

    fn open(&self) -> f64 {
        f64::from_bits(self.open.load(Ordering::SeqCst))
    }

    fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    /// Waits until the open gauge reads `expected`.
    async fn wait_open(&self, expected: f64) {
        let deadline = Instant::now() + PATIENCE;
        while self.open() != expected {
            assert!(
                Instant::now() < deadline,
                "open gauge stuck at {}",
                self.open()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A listener running on its own task.
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    served: JoinHandle<()>,
}

impl Running {
    /// Starts draining and waits for `serve` to return.
    async fn shut_down(self) {
        self.stop.send(()).unwrap();
        timeout(PATIENCE * 4, self.served)
            .await
            .expect("serve did not return")
            .unwrap();
    }
}

async fn start<F>(
    settings: Settings,
    counted: &Counted,
    serve_connection: impl Fn(TimedStream, SocketAddr, Closing) -> F + Send + Sync + 'static,
) -> Running
where
    F: Future<Output = ()> + Send + 'static,
{
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = Listener {
        tcp,
        settings,
        handshake: Plaintext,
        counters: counted.counters(),
        problems: Arc::new(ProblemLog::new()),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(listener.serve(serve_connection, async {
        let _ = stopped.await;
    }));
    Running { addr, stop, served }
}

/// What a toy connection tells the test.
#[derive(Debug, PartialEq)]
enum Event {
    /// The front end was handed the connection.
    Started,
    /// A request (a byte) arrived and is being worked on.
    Working,
    /// The connection ended: by a read error of this kind, the peer leaving, or the drain.
    Ended(Option<io::ErrorKind>),
    /// The listener drained it between requests.
    Drained,
}

/// A toy front end: each byte read is a request, answered with the same byte after `work`;
/// between requests it stops once the listener drains.
async fn echo(
    mut stream: TimedStream,
    mut closing: Closing,
    work: Duration,
    events: mpsc::UnboundedSender<Event>,
) {
    let _ = events.send(Event::Started);
    let mut byte = [0u8; 1];
    loop {
        let read = tokio::select! {
            biased;
            () = closing.wait() => {
                let _ = events.send(Event::Drained);
                return;
            }
            read = stream.read(&mut byte) => read,
        };
        match read {
            Ok(0) => break,
            Ok(_) => {
                let _ = events.send(Event::Working);
                tokio::time::sleep(work).await;
                if stream.write_all(&byte).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                let _ = events.send(Event::Ended(Some(e.kind())));
                return;
            }
        }
    }
    let _ = events.send(Event::Ended(None));
}

/// Starts a listener whose connections run [`echo`]; their events arrive on the receiver.
async fn start_echo(
    settings: Settings,
    counted: &Counted,
    work: Duration,
) -> (Running, mpsc::UnboundedReceiver<Event>) {
    let (events, received) = mpsc::unbounded_channel();
    let running = start(settings, counted, move |stream, _peer, closing| {
        echo(stream, closing, work, events.clone())
    })
    .await;
    (running, received)
}

async fn next(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    timeout(PATIENCE, events.recv())
        .await
        .expect("no event")
        .expect("events closed")
}

/// Whether the peer closed `stream` (EOF or reset) within [`PATIENCE`], reading past any
/// answers still on their way.
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match timeout(PATIENCE, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn a_waiting_listener_holds_connections_beyond_the_cap_and_closes_idle_ones() {
    let counted = Counted::default();
    let settings = Settings {
        idle_timeout: Some(Duration::from_millis(200)),
        max_age: Some(Duration::from_secs(60)),
        ..settings(1, WhenFull::Wait)
    };
    let (running, mut events) = start_echo(settings, &counted, Duration::ZERO).await;
    let _first_client = TcpStream::connect(running.addr).await.unwrap();
    assert_eq!(next(&mut events).await, Event::Started);
    let _second_client = TcpStream::connect(running.addr).await.unwrap();
    // The only slot is taken: the second connection waits.
    let waiting = timeout(Duration::from_millis(100), events.recv()).await;
    assert!(waiting.is_err());
    // The first client sends nothing: its read fails once idle, and closing it frees the slot
    // for the second, which nothing refused.
    assert_eq!(
        next(&mut events).await,
        Event::Ended(Some(io::ErrorKind::TimedOut))
    );
    assert_eq!(next(&mut events).await, Event::Started);
    assert_eq!(counted.refused(), 0);
    running.shut_down().await;
}

#[tokio::test]
async fn a_client_trickling_bytes_is_closed_at_the_maximum_age() {
    let counted = Counted::default();
    let settings = Settings {
        idle_timeout: Some(Duration::from_millis(300)),
        max_age: Some(Duration::from_millis(700)),
        ..settings(1, WhenFull::Wait)
    };
    let (ended, mut error) = mpsc::unbounded_channel();
    let running = start(settings, &counted, move |mut stream, _peer, _closing| {
        let ended = ended.clone();
        async move {
            let started = Instant::now();
            let mut buf = [0u8; 8];
            let error = loop {
                match stream.read(&mut buf).await {
                    Ok(_) => continue,
                    Err(e) => break e,
                }
            };
            let _ = ended.send((error.kind(), started.elapsed()));
        }
    })
    .await;
    let mut client = TcpStream::connect(running.addr).await.unwrap();
    let trickle = tokio::spawn(async move {
        // A byte every 100 ms: never idle for 300 ms.
        while client.write_all(b"G").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let (kind, lived) = timeout(PATIENCE, error.recv()).await.unwrap().unwrap();
    assert_eq!(kind, io::ErrorKind::TimedOut);
    assert!(
        lived >= Duration::from_millis(600),
        "closed after {lived:?}"
    );
    trickle.abort();
    running.shut_down().await;
}

#[tokio::test]
async fn a_refusing_listener_closes_connections_beyond_the_cap_at_once_and_counts_them() {
    let counted = Counted::default();
    let (running, mut events) =
        start_echo(settings(1, WhenFull::Refuse), &counted, Duration::ZERO).await;
    let mut first = TcpStream::connect(running.addr).await.unwrap();
    assert_eq!(next(&mut events).await, Event::Started);
    let mut second = TcpStream::connect(running.addr).await.unwrap();
    assert!(closed(&mut second).await, "a second connection was kept");
    assert_eq!(counted.refused(), 1);
    assert_eq!(counted.open(), 1.0);
    // The first is still served.
    first.write_all(b"a").await.unwrap();
    let mut answer = [0u8; 1];
    first.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"a");
    // Once it leaves, its slot is free again.
    drop(first);
    assert_eq!(next(&mut events).await, Event::Working);
    assert_eq!(next(&mut events).await, Event::Ended(None));
    counted.wait_open(0.0).await;
    let _third = TcpStream::connect(running.addr).await.unwrap();
    assert_eq!(next(&mut events).await, Event::Started);
    assert_eq!(counted.refused(), 1);
    running.shut_down().await;
}

#[tokio::test]
async fn draining_lets_requests_in_flight_finish_then_closes_every_connection() {
    let counted = Counted::default();
    let (running, mut events) = start_echo(
        settings(10, WhenFull::Refuse),
        &counted,
        Duration::from_millis(300),
    )
    .await;
    let addr = running.addr;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    assert_eq!(next(&mut events).await, Event::Started);
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert_eq!(next(&mut events).await, Event::Started);
    busy.write_all(b"r").await.unwrap();
    assert_eq!(next(&mut events).await, Event::Working);
    running.shut_down().await;
    // The request in flight was answered, then both connections were closed by the drain.
    let mut answer = [0u8; 1];
    busy.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"r");
    assert!(closed(&mut busy).await);
    assert!(closed(&mut idle).await);
    let mut drained = 0;
    while let Ok(event) = events.try_recv() {
        assert_eq!(event, Event::Drained);
        drained += 1;
    }
    assert_eq!(drained, 2);
    assert_eq!(counted.open(), 0.0);
    // Nothing listens any more.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn connections_still_busy_when_the_grace_period_ends_are_closed() {
    let counted = Counted::default();
    let settings = Settings {
        shutdown_grace: Duration::from_millis(200),
        ..settings(10, WhenFull::Refuse)
    };
    let (started, mut events) = mpsc::unbounded_channel();
    // A front end that never looks at `closing` and never finishes.
    let running = start(settings, &counted, move |stream, _peer, _closing| {
        let started = started.clone();
        async move {
            let _ = started.send(());
            let _held = stream;
            std::future::pending::<()>().await;
        }
    })
    .await;
    let mut client = TcpStream::connect(running.addr).await.unwrap();
    timeout(PATIENCE, events.recv()).await.unwrap().unwrap();
    assert_eq!(counted.open(), 1.0);
    running.shut_down().await;
    assert!(closed(&mut client).await, "the stuck connection was kept");
    // Counted as closed even though its task was aborted.
    assert_eq!(counted.open(), 0.0);
}
