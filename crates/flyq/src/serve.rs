//! `flyq serve`: runs a broker. With no configuration it keeps its data in `./flyq-data`,
//! listens for Kafka clients on 127.0.0.1:9092 and serves the HTTP operator API (health,
//! metrics, admin) on 127.0.0.1:9644; a config file, `FLYQ_*` variables and these flags change
//! that (see [`crate::config`]).
//!
//! The HTTP listener starts first, before storage is recovered, so liveness probes answer
//! during a long recovery while readiness stays 503; readiness turns 503 again as soon as
//! shutdown begins, before the Kafka listener drains.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use flyq_broker::Broker;
use flyq_http::{HttpState, Phase};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::units::Span;
use crate::config::{Config, LogFormat};

/// Options of `flyq serve`. Each overrides the config file and the `FLYQ_*` variables.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML config file (config/flyq.toml lists every key with its default).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where topics and metadata are kept [default: flyq-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// This node's id [default: 1].
    #[arg(long)]
    node_id: Option<i32>,
    /// Address the Kafka listener binds; port 0 picks a free port [default: 127.0.0.1:9092].
    #[arg(long, value_name = "HOST:PORT")]
    kafka_addr: Option<SocketAddr>,
    /// host:port clients are told to connect to [default: the bound address].
    #[arg(long, value_name = "HOST:PORT")]
    advertised_addr: Option<String>,
    /// Address the HTTP listener (health, metrics, admin API) binds [default: 127.0.0.1:9644].
    #[arg(long, value_name = "HOST:PORT")]
    http_addr: Option<SocketAddr>,
    /// Do not create topics when clients produce to or ask for unknown ones.
    #[arg(long)]
    no_auto_create_topics: bool,
    /// Most client connections open at once [default: 10000].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Once a request starts arriving, the rest must arrive within this [default: 30s].
    #[arg(long, value_name = "DURATION")]
    request_read_timeout: Option<Span>,
    /// Log filter: a level or tracing directives [default: RUST_LOG, else info].
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Log line format [default: text].
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

impl ServeArgs {
    /// The effective config: the file, then `FLYQ_*` variables, then these flags; validated.
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref(), |name| std::env::var(name).ok())?;
        set(&mut config.data_dir, &self.data_dir);
        set(&mut config.node_id, &self.node_id);
        set(&mut config.kafka.addr, &self.kafka_addr);
        set(&mut config.http.addr, &self.http_addr);
        if self.advertised_addr.is_some() {
            config.kafka.advertised_addr = self.advertised_addr.clone();
        }
        set(&mut config.kafka.max_connections, &self.max_connections);
        set(
            &mut config.kafka.request_read_timeout,
            &self.request_read_timeout,
        );
        set(&mut config.log.format, &self.log_format);
        if self.no_auto_create_topics {
            config.topics.auto_create = false;
        }
        // The log filter: this flag, else RUST_LOG, else the config's.
        if let Some(level) = self
            .log_level
            .clone()
            .or_else(|| std::env::var("RUST_LOG").ok())
        {
            config.log.level = level;
        }
        config.validate()?;
        Ok(config)
    }
}

/// Overrides `target` with a flag's value, if the flag was given.
fn set<T: Clone>(target: &mut T, flag: &Option<T>) {
    if let Some(value) = flag {
        *target = value.clone();
    }
}

/// Runs the broker with `config` until SIGTERM or Ctrl-C.
pub fn run(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("flyq-worker")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config))
}

/// How often the metrics recorder folds histogram samples into its buckets.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the Prometheus recorder as the global `metrics` recorder, with its upkeep task.
fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle =
        flyq_http::install_metrics_recorder().context("installing the metrics recorder")?;
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

async fn serve(config: Config) -> anyhow::Result<()> {
    let broker_config = config.broker_config()?;
    let http = HttpState::new(
        broker_config.node_id,
        config.data_dir.clone(),
        Some(install_metrics()?),
    );
    let http_listener = tokio::net::TcpListener::bind(config.http.addr)
        .await
        .with_context(|| format!("binding the HTTP listener to {}", config.http.addr))?;
    let http_bound = http_listener
        .local_addr()
        .context("reading the bound HTTP address")?;
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http_task = tokio::spawn(flyq_http::serve(http_listener, http.clone(), async {
        let _ = http_stopped.await;
    }));
    tracing::info!(target: "flyq", http = %http_bound, "HTTP API listening; opening storage");
    let broker = Broker::start(broker_config)
        .await
        .with_context(|| format!("opening the data directory {}", config.data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(config.kafka.addr)
        .await
        .with_context(|| format!("binding the Kafka listener to {}", config.kafka.addr))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let kafka_config = config.kafka_config(bound)?;
    http.attach(
        std::sync::Arc::clone(&broker),
        kafka_config.advertised.clone(),
    );
    // The Kafka listener is bound: clients that connect now queue until the accept loop
    // below takes them, so the broker is ready (before the log line that tests wait for).
    http.set_phase(Phase::Ready);
    let (advertised_host, advertised_port) = &kafka_config.advertised;
    tracing::info!(
        target: "flyq",
        version = env!("CARGO_PKG_VERSION"),
        node_id = broker.node_id(),
        data_dir = %config.data_dir.display(),
        kafka = %bound,
        advertised = %format!("{advertised_host}:{advertised_port}"),
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
    flyq_kafka::serve(
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
    match http_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(target: "flyq", error = %e, "the HTTP API failed"),
        Err(e) => tracing::warn!(target: "flyq", error = %e, "the HTTP API task failed"),
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
