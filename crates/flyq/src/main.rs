//! `flyq`: the FlyQ binary. `flyq serve` runs a broker; `flyq log check|dump` inspect
//! partition logs on disk. The client CLI (topics, produce, consume, ...) lands here too.

mod log_tools;
mod serve;

use clap::{Parser, Subcommand};

/// FlyQ: a Kafka-compatible message streaming and queueing system.
#[derive(Debug, Parser)]
#[command(name = "flyq", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a broker (Kafka protocol on 127.0.0.1:9092, data in ./flyq-data by default).
    Serve(serve::ServeArgs),
    /// Inspect and check partition log directories on disk.
    #[command(subcommand)]
    Log(log_tools::LogCommand),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).map(|()| std::process::ExitCode::SUCCESS),
        Command::Log(command) => log_tools::run(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}
