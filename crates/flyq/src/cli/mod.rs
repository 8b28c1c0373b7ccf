//! The client commands (`flyq topic|produce|consume|group|cluster|bench|completion`): the
//! arguments they share, the exit codes scripts rely on, and how SDK errors map onto them.
//! Each command lives in its own file and talks to the broker only through `flyq-client`.
//!
//! Exit codes: 0 success; 1 the operation failed (topic exists, group not found, delivery
//! failed); 2 usage or configuration error (clap's own parse errors are 2 as well); 3 no broker
//! reachable.

mod bench;
mod cluster;
mod consume;
mod group;
mod output;
mod produce;
mod topic;

use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Subcommand};
use flyq_client::{Admin, ClientConfig, ConsumerConfig, ProducerConfig};

pub use bench::BenchCommand;
pub use consume::ConsumeArgs;
pub use group::GroupCommand;
pub use produce::ProduceArgs;
pub use topic::TopicCommand;

/// Where the cluster is; shared by every client command.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Bootstrap brokers, "HOST:PORT[,HOST:PORT...]" (client commands only).
    #[arg(
        long,
        global = true,
        env = "FLYQ_BROKERS",
        default_value = "127.0.0.1:9092",
        value_name = "HOST:PORT[,..]"
    )]
    pub brokers: String,
}

impl ClusterArgs {
    /// Client settings for these brokers. A short request timeout: a person is waiting.
    fn client(&self) -> ClientConfig {
        ClientConfig::new(&self.brokers)
            .client_id("flyq-cli")
            .request_timeout(Duration::from_secs(15))
    }

    fn admin(&self) -> Result<Admin, flyq_client::Error> {
        Admin::new(self.client())
    }

    /// SDK producer defaults with this connection setup.
    fn producer_config(&self) -> ProducerConfig {
        let mut config = ProducerConfig::new(&self.brokers);
        config.client = self.client();
        config
    }

    /// SDK consumer defaults with this connection setup.
    fn consumer_config(&self, group: Option<&str>) -> ConsumerConfig {
        let mut config = ConsumerConfig::new(&self.brokers, group);
        config.client = self.client();
        config
    }
}

/// `--json` for commands that list or describe things.
#[derive(Debug, Clone, Copy, Args)]
pub struct JsonFlag {
    /// Print one JSON document instead of tables (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// The client commands, as `main` hands them over.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create, list, describe, alter and delete topics.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Write records: values from the arguments, else one per stdin line.
    Produce(ProduceArgs),
    /// Read records and print them; follows the topic until Ctrl-C unless told when to stop.
    Consume(ConsumeArgs),
    /// List, describe, inspect lag of, reset and delete consumer groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Show the cluster: id, controller, brokers, topic count.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Measure produce or consume throughput and latency against any Kafka broker.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// A failure the user caused (bad flag combination, bad value): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A failure that has already been reported (e.g. per-record delivery errors): exit code 1
/// without repeating it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OperationFailed(pub String);

/// Runs a client command in its own runtime and turns the outcome into an exit code.
pub fn run(cluster: &ClusterArgs, command: ClientCommand) -> ExitCode {
    crate::logging::init_for_tools();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(&anyhow::Error::new(e).context("starting the async runtime")),
    };
    let result = runtime.block_on(async {
        match command {
            ClientCommand::Topic(c) => topic::run(cluster, c).await,
            ClientCommand::Produce(a) => produce::run(cluster, a).await,
            ClientCommand::Consume(a) => consume::run(cluster, a).await,
            ClientCommand::Group(c) => group::run(cluster, c).await,
            ClientCommand::Cluster(c) => cluster::run(cluster, c).await,
            ClientCommand::Bench(c) => bench::run(cluster, c).await,
        }
    });
    // Background tasks (fetches, heartbeats) must not keep a finished command alive.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

/// Prints `error` on stderr ("error:" in red on a terminal) and returns its exit code.
fn report(error: &anyhow::Error) -> ExitCode {
    // A reader that went away (`| head`) is not a failure worth a message.
    let broken_pipe = error.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    let style = anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Red.into()));
    anstream::eprintln!("{style}error:{style:#} {error:#}");
    ExitCode::from(exit_code(error))
}

/// The documented exit code for `error`: the first cause that says what kind of failure it is.
fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.is::<UsageError>() {
            return 2;
        }
        if cause.is::<OperationFailed>() {
            return 1;
        }
        if let Some(e) = cause.downcast_ref::<flyq_client::Error>() {
            return match e {
                flyq_client::Error::NoBrokerReachable { .. }
                | flyq_client::Error::Io { .. }
                | flyq_client::Error::Disconnected { .. }
                | flyq_client::Error::Timeout { .. } => 3,
                flyq_client::Error::Config(_) => 2,
                _ => 1,
            };
        }
    }
    1
}

/// Parses "key=value" (configs, headers).
fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// A starting point in a partition: `earliest`, `latest`, an offset or `@` + epoch millis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The log start.
    Earliest,
    /// The log end.
    Latest,
    /// This offset.
    Offset(i64),
    /// The first record at or after this timestamp (ms since the epoch).
    Timestamp(i64),
}

impl FromStr for StartAt {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected earliest, latest, an offset or @TIMESTAMP_MS, got {s:?}");
        match s {
            "earliest" | "beginning" => Ok(StartAt::Earliest),
            "latest" | "end" => Ok(StartAt::Latest),
            _ => match s.strip_prefix('@') {
                Some(ts) => ts.parse().map(StartAt::Timestamp).map_err(|_| bad()),
                None => match s.parse::<i64>() {
                    Ok(o) if o >= 0 => Ok(StartAt::Offset(o)),
                    _ => Err(bad()),
                },
            },
        }
    }
}

/// Prints a completion script for `shell` on stdout.
pub fn completion(shell: clap_complete::Shell, mut command: clap::Command) -> ExitCode {
    // Generated into memory first: clap_complete panics when its writer fails.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "flyq", &mut script);
    match std::io::Write::write_all(&mut std::io::stdout(), &script) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_at_parses_every_form_and_rejects_the_rest() {
        assert_eq!("earliest".parse(), Ok(StartAt::Earliest));
        assert_eq!("latest".parse(), Ok(StartAt::Latest));
        assert_eq!("42".parse(), Ok(StartAt::Offset(42)));
        assert_eq!(
            "@1700000000000".parse(),
            Ok(StartAt::Timestamp(1_700_000_000_000))
        );
        assert!("-1".parse::<StartAt>().is_err());
        assert!("@soon".parse::<StartAt>().is_err());
    }

    #[test]
    fn key_value_needs_a_key_and_keeps_later_equals_signs() {
        assert_eq!(key_value("a=b=c"), Ok(("a".to_owned(), "b=c".to_owned())));
        assert_eq!(key_value("a="), Ok(("a".to_owned(), String::new())));
        assert!(key_value("=b").is_err());
        assert!(key_value("ab").is_err());
    }

    #[test]
    fn unreachable_broker_maps_to_exit_code_3_and_usage_to_2() {
        let unreachable = flyq_client::Error::NoBrokerReachable {
            addrs: "x:1".to_owned(),
            source: std::sync::Arc::new(std::io::Error::other("refused")),
        };
        assert_eq!(
            exit_code(&anyhow::Error::new(unreachable).context("listing")),
            3
        );
        assert_eq!(exit_code(&anyhow::Error::new(UsageError("bad".into()))), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("other")), 1);
    }
}
