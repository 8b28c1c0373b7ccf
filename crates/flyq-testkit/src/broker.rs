//! [`TestBroker`]: `flyq serve` in-process, as far as a test can tell from the outside.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use flyq_broker::{Broker, BrokerConfig};
use flyq_http::{HttpState, Phase};
use flyq_kafka::KafkaConfig;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How long a stopping broker gives its Kafka connections: clients a test has not closed yet
/// may hold a long-poll or a rebalance open, and a test should not wait `flyq serve`'s 10 s.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A broker with its Kafka and HTTP listeners, each on a free port of 127.0.0.1, running on
/// a runtime of its own (so sync and async tests alike can use it). Dropping it stops both
/// listeners the way `flyq serve` does on SIGTERM and waits until they have.
pub struct TestBroker {
    /// Where the Kafka listener listens; also the address it advertises.
    pub addr: SocketAddr,
    /// Where the HTTP API listens.
    pub http: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    running: Option<JoinHandle<()>>,
}

impl TestBroker {
    /// Starts a broker with the defaults of `flyq serve`, keeping its data in `data_dir`.
    pub fn start(data_dir: &Path) -> Self {
        Self::builder(data_dir).start()
    }

    /// A broker to configure before [`Builder::start`].
    pub fn builder(data_dir: &Path) -> Builder {
        Builder {
            data_dir: data_dir.to_path_buf(),
            kafka: Box::new(|_| {}),
            metrics: false,
        }
    }

    /// The bootstrap address clients are given.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            // A panic on the broker's thread was printed already; the test goes on failing or
            // not by its own assertions.
            let _ = running.join();
        }
    }
}

/// Settings of a [`TestBroker`] before it starts.
pub struct Builder {
    data_dir: PathBuf,
    kafka: Box<dyn FnOnce(&mut KafkaConfig) + Send>,
    metrics: bool,
}

impl Builder {
    /// Changes the Kafka listener's settings (`--max-connections`, `--request-read-timeout`,
    /// ...), given the defaults for the bound address.
    pub fn kafka(mut self, configure: impl FnOnce(&mut KafkaConfig) + Send + 'static) -> Self {
        self.kafka = Box::new(configure);
        self
    }

    /// Serves `/metrics`. The Prometheus recorder is process-wide: it is installed by the
    /// first broker that asks, and every listener started after that, in any test of the same
    /// test binary, records into it. Tests that check absolute values belong in a test binary
    /// of their own.
    pub fn metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// Starts the broker and returns once both listeners accept connections.
    pub fn start(self) -> TestBroker {
        let metrics = self.metrics.then(recorder);
        let (ready, started) = mpsc::channel();
        let (stop, stopped) = oneshot::channel();
        let running = std::thread::Builder::new()
            .name("flyq-testkit".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("starting the test broker's runtime");
                let served = runtime.block_on(run(self, metrics, &ready, stopped));
                if let Err(e) = served {
                    // Heard by `start` if it is still waiting; otherwise shown with the
                    // output of the test that is about to fail for it.
                    eprintln!("test broker: {e}");
                    let _ = ready.send(Err(e));
                }
            })
            .expect("starting the test broker's thread");
        match started.recv() {
            Ok(Ok((addr, http))) => TestBroker {
                addr,
                http,
                stop: Some(stop),
                running: Some(running),
            },
            Ok(Err(e)) => panic!("the test broker did not start: {e}"),
            Err(_) => panic!("the test broker's thread ended while starting"),
        }
    }
}

/// The addresses of both listeners once they are bound, or why the broker did not start.
type Ready = mpsc::Sender<Result<(SocketAddr, SocketAddr), String>>;

/// What `flyq serve` does, in the same order: the HTTP listener first, then the broker, then
/// the Kafka listener until told to stop.
async fn run(
    settings: Builder,
    metrics: Option<PrometheusHandle>,
    ready: &Ready,
    stopped: oneshot::Receiver<()>,
) -> Result<(), String> {
    let broker_config = BrokerConfig::new(&settings.data_dir);
    let state = HttpState::new(broker_config.node_id, settings.data_dir.clone(), metrics);
    let (http_listener, http) = bind("HTTP").await?;
    let (stop_http, http_stopped) = oneshot::channel::<()>();
    let http_task = tokio::spawn(flyq_http::serve(http_listener, state.clone(), async {
        let _ = http_stopped.await;
    }));
    // As `flyq serve` does: the broker's background tasks (the group ticker) start with it.
    let broker = Broker::start(broker_config)
        .await
        .map_err(|e| format!("opening the broker: {e}"))?;
    let (kafka_listener, addr) = bind("Kafka").await?;
    let mut config = KafkaConfig::new(addr);
    config.shutdown_grace = SHUTDOWN_GRACE;
    (settings.kafka)(&mut config);
    state.attach(Arc::clone(&broker), config.advertised.clone());
    state.set_phase(Phase::Ready);
    let _ = ready.send(Ok((addr, http)));
    let served = flyq_kafka::serve(kafka_listener, broker, config, async {
        let _ = stopped.await;
    })
    .await;
    let _ = stop_http.send(());
    let _ = http_task.await;
    served.map_err(|e| format!("serving Kafka clients: {e}"))
}

/// A listener on a free port of 127.0.0.1, and its address.
async fn bind(which: &str) -> Result<(TcpListener, SocketAddr), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("binding the {which} listener: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("reading the {which} listener's address: {e}"))?;
    Ok((listener, addr))
}

/// The process's Prometheus recorder, installed on first use.
fn recorder() -> PrometheusHandle {
    static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();
    RECORDER
        .get_or_init(|| {
            flyq_http::install_metrics_recorder().expect("installing the metrics recorder")
        })
        .clone()
}
