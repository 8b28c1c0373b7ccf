//! `flyq serve`: runs a broker. With no flags it keeps its data in `./flyq-data`, listens
//! for Kafka clients on 127.0.0.1:9092 and serves the HTTP operator API (health, metrics,
//! admin) on 127.0.0.1:9644.
//!
//! The HTTP listener starts first, before storage is recovered, so liveness probes answer
//! during a long recovery while readiness stays 503; readiness turns 503 again as soon as
//! shutdown begins, before the Kafka listener drains.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use flyq_broker::{Broker, BrokerConfig};
use flyq_http::{HttpState, Phase};
use flyq_server::kafka::{self, KafkaConfig};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Options of `flyq serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where topics and metadata are kept.
    #[arg(long, env = "FLYQ_DATA_DIR", default_value = "flyq-data")]
    data_dir: PathBuf,
    /// Address the Kafka listener binds (port 0 picks a free port).
    #[arg(long, env = "FLYQ_KAFKA_ADDR", default_value = "127.0.0.1:9092")]
    kafka_addr: SocketAddr,
    /// Address the HTTP API (health probes, /metrics, admin API) binds (port 0 picks a free
    /// port).
    #[arg(long, env = "FLYQ_HTTP_ADDR", default_value = "127.0.0.1:9644")]
    http_addr: SocketAddr,
    /// Address clients are told to connect to (default: the bound address).
    #[arg(long, env = "FLYQ_ADVERTISED_ADDR")]
    advertised_addr: Option<SocketAddr>,
    /// Do not create topics when clients produce to or ask for unknown ones.
    #[arg(long)]
    no_auto_create_topics: bool,
    /// Most client connections open at once.
    #[arg(long, env = "FLYQ_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Once a request starts arriving, the rest must arrive within this many milliseconds.
    #[arg(long, env = "FLYQ_REQUEST_READ_TIMEOUT_MS", default_value_t = 30_000)]
    request_read_timeout_ms: u64,
}

/// Runs the broker until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("flyq-worker")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

/// How long shutdown waits for HTTP requests in flight.
const HTTP_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// How often the metrics recorder folds histogram samples into its buckets.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the Prometheus recorder as the global `metrics` recorder, with its upkeep task.
fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    flyq_http::describe_metrics();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(METRICS_UPKEEP);
        loop {
            interval.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = BrokerConfig::new(&args.data_dir);
    config.auto_create_topics = !args.no_auto_create_topics;
    let http = HttpState::new(
        config.node_id,
        args.data_dir.clone(),
        Some(install_metrics()?),
    );
    let http_listener = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("binding the HTTP listener to {}", args.http_addr))?;
    let http_bound = http_listener
        .local_addr()
        .context("reading the bound HTTP address")?;
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http_task = tokio::spawn(flyq_http::serve(http_listener, http.clone(), async {
        let _ = http_stopped.await;
    }));
    tracing::info!(target: "flyq", http = %http_bound, "HTTP API listening; opening storage");
    let broker = tokio::task::spawn_blocking(move || Broker::open(config))
        .await
        .context("opening the broker")?
        .with_context(|| format!("opening the data directory {}", args.data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(args.kafka_addr)
        .await
        .with_context(|| format!("binding the Kafka listener to {}", args.kafka_addr))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let advertised = args.advertised_addr.unwrap_or(bound);
    let mut kafka_config = KafkaConfig::new(advertised);
    kafka_config.request_read_timeout =
        std::time::Duration::from_millis(args.request_read_timeout_ms);
    kafka_config.max_connections = args.max_connections.max(1);
    http.attach(
        std::sync::Arc::clone(&broker),
        kafka_config.advertised.clone(),
    );
    // The Kafka listener is bound: clients that connect now queue until the accept loop
    // below takes them, so the broker is ready (before the log line that tests wait for).
    http.set_phase(Phase::Ready);
    tracing::info!(
        target: "flyq",
        version = env!("CARGO_PKG_VERSION"),
        node_id = broker.node_id(),
        data_dir = %args.data_dir.display(),
        kafka = %bound,
        advertised = %advertised,
        http = %http_bound,
        "flyq listening"
    );
    let stopping = {
        let http = http.clone();
        async move {
            shutdown_signal().await;
            http.set_phase(Phase::Stopping);
        }
    };
    kafka::serve(
        listener,
        std::sync::Arc::clone(&broker),
        kafka_config,
        stopping,
    )
    .await
    .context("serving Kafka clients")?;
    tracing::info!(target: "flyq", "shutting down: flushing logs");
    tokio::task::spawn_blocking(move || broker.flush_all())
        .await
        .context("flushing logs")?
        .context("flushing logs")?;
    let _ = stop_http.send(());
    // A client stalled mid-request must not hold the exit for long: after the grace period the
    // runtime's shutdown drops its connection.
    match tokio::time::timeout(HTTP_SHUTDOWN_GRACE, http_task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(target: "flyq", error = %e, "the HTTP API failed"),
        Ok(Err(e)) => tracing::warn!(target: "flyq", error = %e, "the HTTP API task failed"),
        Err(_) => tracing::warn!(target: "flyq", "HTTP requests still open at exit; closing them"),
    }
    tracing::info!(target: "flyq", "stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
