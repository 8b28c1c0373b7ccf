//! `flyq`: the FlyQ binary. `flyq serve` runs a broker; `flyq config check` validates a config
//! file; `flyq log check|dump` inspect partition logs on disk. The client commands (`topic`,
//! `produce`, `consume`, `group`, `cluster`, `bench`) talk to any Kafka-protocol broker through
//! `flyq-client` (see `cli`); `flyq completion SHELL` prints a shell completion script.

mod cli;
mod config;
mod log_tools;
mod logging;
mod serve;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

/// FlyQ: a Kafka-compatible message streaming and queueing system.
#[derive(Debug, Parser)]
#[command(name = "flyq", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    cluster: cli::ClusterArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a broker (Kafka protocol on 127.0.0.1:9092, data in ./flyq-data by default).
    Serve(serve::ServeArgs),
    /// Check configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Inspect and check partition log directories on disk.
    #[command(subcommand)]
    Log(log_tools::LogCommand),
    #[command(flatten)]
    Client(cli::ClientCommand),
    /// Print a shell completion script, e.g. `flyq completion bash > /etc/bash_completion.d/flyq`.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a config file (with any FLYQ_* variables applied) and print the effective
    /// config, every key included.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => args
            .resolve()
            .and_then(|config| {
                logging::init(&config.log.level, config.log.format)?;
                serve::run(config)
            })
            .map(|()| std::process::ExitCode::SUCCESS),
        Command::Config(ConfigCommand::Check { file }) => {
            config::Config::load(Some(&file), |name| std::env::var(name).ok())
                .and_then(|config| config.validate().map(|()| config))
                .and_then(|config| config.to_toml())
                .map(|text| {
                    print!("{text}");
                    std::process::ExitCode::SUCCESS
                })
        }
        Command::Log(command) => {
            logging::init_for_tools();
            log_tools::run(command)
        }
        // Client commands map their errors onto their own documented exit codes.
        Command::Client(command) => return cli::run(&cli.cluster, command),
        Command::Completion { shell } => return cli::completion(shell, Cli::command()),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}
