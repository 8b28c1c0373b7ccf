//! `flyq log ...`: operator tools for partition log directories.
//!
//! Both commands open the log the way the broker does at start, which runs crash recovery (a
//! torn tail is cut and reported). Do not point them at a directory a running broker owns.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use flyq_log::{Log, LogConfig, LogEnv};
use flyq_protocol::BatchHeader;

/// Commands on one partition's log directory.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Recover the log, verify every batch's CRC and offsets, and report what was found.
    /// Exits 1 if corruption is found.
    Check {
        /// The partition's directory (e.g. flyq-data/topics/orders-0).
        dir: PathBuf,
    },
    /// Print the header of every batch: offsets, records, size, timestamps, codec, producer.
    Dump {
        /// The partition's directory.
        dir: PathBuf,
        /// First offset to print.
        #[arg(long, default_value_t = 0)]
        from: i64,
        /// Print at most this many batches.
        #[arg(long)]
        count: Option<usize>,
    },
}

fn open(dir: &PathBuf) -> anyhow::Result<Log> {
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    Log::open(dir, LogConfig::default(), LogEnv::os())
        .with_context(|| format!("opening the log in {}", dir.display()))
}

/// Runs a log command.
pub fn run(command: LogCommand) -> anyhow::Result<ExitCode> {
    match command {
        LogCommand::Check { dir } => check(&dir),
        LogCommand::Dump { dir, from, count } => dump(&dir, from, count),
    }
}

fn check(dir: &PathBuf) -> anyhow::Result<ExitCode> {
    let log = open(dir)?;
    let report = log.recovery_report();
    println!("log:            {}", dir.display());
    println!("segments:       {}", log.segment_count());
    println!(
        "offsets:        {} .. {}",
        log.log_start_offset(),
        log.log_end_offset()
    );
    println!("size:           {} bytes", log.size_bytes());
    if let Some(c) = &report.corruption {
        println!(
            "recovery:       FENCED: corrupt batch at byte {} of segment {} ({}); writes refused",
            c.position, c.segment_base_offset, c.detail
        );
    }
    match &report.truncation {
        Some(t) => println!(
            "recovery:       cut {} bytes at byte {} of segment {} (offsets from {} dropped): {}",
            t.bytes_dropped, t.position, t.segment_base_offset, t.first_dropped_offset, t.reason
        ),
        None if report.corruption.is_none() => {
            println!(
                "recovery:       clean ({} bytes verified)",
                report.scanned_bytes
            )
        }
        None => {}
    }
    let problems = log.verify()?;
    if problems.is_empty() {
        println!("verify:         every batch intact");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        println!(
            "corrupt:        segment {} at byte {}: {}",
            p.segment_base_offset, p.position, p.detail
        );
    }
    Ok(ExitCode::from(1))
}

fn dump(dir: &PathBuf, from: i64, count: Option<usize>) -> anyhow::Result<ExitCode> {
    let log = open(dir)?;
    let end = log.log_end_offset();
    let mut offset = from.max(log.log_start_offset());
    let mut printed = 0;
    println!(
        "{:>12} {:>12} {:>8} {:>9} {:>6} {:>15} {:>8} {:>14}",
        "base", "last", "records", "bytes", "codec", "max_timestamp", "epoch", "producer_id"
    );
    while offset < end && count.is_none_or(|c| printed < c) {
        let read = log.read(offset, 1 << 20, end)?;
        if read.batches.is_empty() {
            break;
        }
        let mut rest = &read.batches[..];
        while let Ok(h) = BatchHeader::parse(rest) {
            if count.is_some_and(|c| printed >= c) {
                break;
            }
            let codec = h
                .compression()
                .map_or_else(|e| e.to_string(), |c| format!("{c:?}").to_lowercase());
            println!(
                "{:>12} {:>12} {:>8} {:>9} {:>6} {:>15} {:>8} {:>14}",
                h.base_offset,
                h.last_offset(),
                h.records_count,
                h.total_len(),
                codec,
                h.max_timestamp,
                h.partition_leader_epoch,
                h.producer_id
            );
            printed += 1;
            rest = &rest[h.total_len() as usize..];
        }
        offset = read.next_offset;
    }
    Ok(ExitCode::SUCCESS)
}
