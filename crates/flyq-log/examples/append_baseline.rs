//! Sustained append throughput of `Log::append` next to raw `pwrite` loops on the same disk,
//! so the log's figure can be read against what the machine itself does.
//!
//! Writes 6 GiB of 64 KiB batches (1 KiB records) into 256 MiB segments, keeping about 1 GiB
//! (older files are deleted, like retention). Three runs:
//! - raw `pwrite`, nothing synced (files are deleted before most of them reach the disk),
//! - raw `pwrite` with an `fdatasync` every second and at every file switch,
//! - `Log::append` with `flush.ms` = 1 s (background flusher) and retention on its own thread.
//!
//! `cargo run --release -p flyq-log --example append_baseline -- [DIR]` (default: a temporary
//! directory under the current one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flyq_log::{FlushPolicy, Flusher, Log, LogConfig, LogEnv};
use flyq_protocol::builder::filler_batch;
use parking_lot::Mutex;

const TOTAL: u64 = 6 << 30;
const FILE_BYTES: u64 = 256 << 20;
const KEEP_FILES: usize = 4;

fn mb_per_s(bytes: u64, started: Instant) -> f64 {
    bytes as f64 / started.elapsed().as_secs_f64() / 1e6
}

/// Writes `TOTAL` bytes of `batch` into rolling files; `on_new_file` sees each new file.
fn raw(dir: &Path, batch: &[u8], mut on_new_file: impl FnMut(&Arc<std::fs::File>)) -> f64 {
    let started = Instant::now();
    let (mut written, mut index) = (0u64, 0usize);
    while written < TOTAL {
        let path = dir.join(format!("raw-{index}"));
        let file = Arc::new(
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(path)
                .unwrap(),
        );
        on_new_file(&file);
        let mut position = 0;
        while position < FILE_BYTES {
            file.write_all_at(batch, position).unwrap();
            position += batch.len() as u64;
        }
        written += position;
        if index >= KEEP_FILES {
            std::fs::remove_file(dir.join(format!("raw-{}", index - KEEP_FILES))).unwrap();
        }
        index += 1;
    }
    let rate = mb_per_s(written, started);
    for i in index.saturating_sub(KEEP_FILES)..index {
        let _ = std::fs::remove_file(dir.join(format!("raw-{i}")));
    }
    rate
}

fn main() {
    let base = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let dir = tempfile::tempdir_in(base).unwrap();
    let batch = filler_batch(1_700_000_000_000, 63, 1000);

    let rate = raw(dir.path(), &batch, |_| {});
    println!("raw pwrite, nothing synced:              {rate:6.0} MB/s");

    let current: Arc<Mutex<Option<Arc<std::fs::File>>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let syncer = {
        let (current, stop) = (Arc::clone(&current), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let file = current.lock().clone();
                if let Some(file) = file {
                    file.sync_data().unwrap();
                }
            }
        })
    };
    let rate = raw(dir.path(), &batch, |file| {
        if let Some(previous) = current.lock().replace(Arc::clone(file)) {
            previous.sync_data().unwrap();
        }
    });
    stop.store(true, Ordering::Relaxed);
    syncer.join().unwrap();
    println!("raw pwrite, fdatasync each second/file:  {rate:6.0} MB/s");

    let config = LogConfig {
        segment_bytes: FILE_BYTES,
        retention_bytes: Some(KEEP_FILES as u64 * FILE_BYTES),
        retention_ms: None,
        flush: FlushPolicy::every(Duration::from_secs(1)),
        ..LogConfig::default()
    };
    let log = Arc::new(Log::open(dir.path().join("log"), config, LogEnv::os()).unwrap());
    let flusher = Flusher::start(Duration::from_millis(100)).unwrap();
    flusher.register(&log);
    let stop = Arc::new(AtomicBool::new(false));
    let retention = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                log.apply_retention().unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let started = Instant::now();
    let mut written = 0;
    while written < TOTAL {
        log.append(&batch).unwrap();
        written += batch.len() as u64;
    }
    stop.store(true, Ordering::Relaxed);
    retention.join().unwrap();
    println!(
        "Log::append, flush.ms = 1 s + retention:  {:6.0} MB/s",
        mb_per_s(written, started)
    );
}
