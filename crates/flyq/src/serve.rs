//! `flyq serve`: runs a broker. With no flags it keeps its data in `./flyq-data` and listens
//! for Kafka clients on 127.0.0.1:9092.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use flyq_broker::{Broker, BrokerConfig};
use flyq_server::kafka::{self, KafkaConfig};

/// Options of `flyq serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where topics and metadata are kept.
    #[arg(long, env = "FLYQ_DATA_DIR", default_value = "flyq-data")]
    data_dir: PathBuf,
    /// Address the Kafka listener binds (port 0 picks a free port).
    #[arg(long, env = "FLYQ_KAFKA_ADDR", default_value = "127.0.0.1:9092")]
    kafka_addr: SocketAddr,
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

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = BrokerConfig::new(&args.data_dir);
    config.auto_create_topics = !args.no_auto_create_topics;
    let broker = tokio::task::spawn_blocking(move || Broker::open(config))
        .await
        .context("opening the broker")?
        .with_context(|| format!("opening the data directory {}", args.data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(args.kafka_addr)
        .await
        .with_context(|| format!("binding the Kafka listener to {}", args.kafka_addr))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let advertised = args.advertised_addr.unwrap_or(bound);
    tracing::info!(
        target: "flyq",
        version = env!("CARGO_PKG_VERSION"),
        node_id = broker.node_id(),
        data_dir = %args.data_dir.display(),
        kafka = %bound,
        advertised = %advertised,
        "flyq listening"
    );
    let mut kafka_config = KafkaConfig::new(advertised);
    kafka_config.request_read_timeout =
        std::time::Duration::from_millis(args.request_read_timeout_ms);
    kafka_config.max_connections = args.max_connections.max(1);
    kafka::serve(
        listener,
        std::sync::Arc::clone(&broker),
        kafka_config,
        shutdown_signal(),
    )
    .await
    .context("serving Kafka clients")?;
    tracing::info!(target: "flyq", "shutting down: flushing logs");
    tokio::task::spawn_blocking(move || broker.flush_all())
        .await
        .context("flushing logs")?
        .context("flushing logs")?;
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
