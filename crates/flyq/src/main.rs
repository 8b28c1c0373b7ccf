//! `flyq`: the FlyQ binary. Today it carries the storage engine's operator tools
//! (`flyq log check`, `flyq log dump`); the broker (`flyq serve`) and the client CLI build on
//! the same binary as they land.

mod log_tools;

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
    /// Inspect and check partition log directories on disk.
    #[command(subcommand)]
    Log(log_tools::LogCommand),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
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
