//! Helpers shared by the flyq-log integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use flyq_log::storage::{SimStorage, Storage};
use flyq_log::{Log, LogConfig, LogEnv, ManualClock};
use flyq_protocol::builder::{RecordSpec, build_batch};
use flyq_protocol::layout::{BASE_OFFSET, BATCH_LENGTH, PARTITION_LEADER_EPOCH};

/// A batch whose record values encode `tag`, so every batch in a test is distinguishable.
pub fn tagged_batch(tag: u64, records: usize, value_len: usize, timestamp: i64) -> Vec<u8> {
    let specs: Vec<RecordSpec> = (0..records)
        .map(|i| {
            let mut value = format!("{tag}:{i}:").into_bytes();
            value.resize(value.len().max(value_len), (tag % 251) as u8);
            RecordSpec {
                timestamp_delta: i as i64,
                ..RecordSpec::value(value)
            }
        })
        .collect();
    build_batch(0, timestamp, &specs)
}

/// An environment on a simulated disk with a manual clock.
pub fn sim_env(disk: &SimStorage, clock: &Arc<ManualClock>, open_segments: usize) -> Arc<LogEnv> {
    LogEnv::new(Arc::new(disk.clone()), clock.clone(), open_segments)
}

/// A small-segment config that exercises rolls and index entries with tiny logs.
pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 64,
        segment_ms: None,
        retention_ms: None,
        flush: flyq_log::FlushPolicy {
            messages: None,
            interval: None,
        },
        ..LogConfig::default()
    }
}

/// Every batch from `from` to the log end, as (base offset, bytes).
pub fn read_all(log: &Log, from: i64) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = from;
    let end = log.log_end_offset();
    while offset < end {
        let read = log.read(offset, 4096, end).unwrap();
        assert!(
            !read.batches.is_empty(),
            "no batch at {offset} below end {end}"
        );
        let mut rest = &read.batches[..];
        while !rest.is_empty() {
            let header = flyq_log::BatchHeader::parse(rest).unwrap();
            let len = header.total_len() as usize;
            out.push((header.base_offset, rest[..len].to_vec()));
            rest = &rest[len..];
        }
        offset = read.next_offset;
    }
    out
}

/// Whether `stored` is `original` with only the log-assigned fields changed.
pub fn same_batch(stored: &[u8], original: &[u8], base_offset: i64) -> bool {
    let unassigned = PARTITION_LEADER_EPOCH.end();
    stored.len() == original.len()
        && BASE_OFFSET.read(stored) == Some(base_offset)
        && BATCH_LENGTH.read(stored) == BATCH_LENGTH.read(original)
        && stored[unassigned..] == original[unassigned..]
}

pub fn log_dir() -> &'static Path {
    Path::new("/data/topic-0")
}

pub fn files_in(storage: &dyn Storage, dir: &Path) -> Vec<String> {
    let mut names = storage.list_dir(dir).unwrap();
    names.sort();
    names
}
