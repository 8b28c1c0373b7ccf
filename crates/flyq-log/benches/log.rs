//! Criterion benchmarks for the storage engine's performance targets (issue: storage engine).
//! Figures go to docs/benchmarks.md. Run with `cargo bench -p flyq-log --bench log`.
//!
//! Set FLYQ_BENCH_DIR to put the data somewhere other than the system temp dir (it must be a
//! real disk for the fsync figures), and FLYQ_BENCH_RECOVERY_GB to size the recovery log
//! (default 10, as in the target).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use flyq_log::{FlushPolicy, Log, LogConfig, LogEnv};
use flyq_protocol::builder::filler_batch;

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("FLYQ_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).unwrap(),
        None => tempfile::tempdir_in(".").unwrap_or_else(|_| tempfile::tempdir().unwrap()),
    }
}

fn no_sync() -> LogConfig {
    LogConfig {
        flush: FlushPolicy::every(Duration::from_secs(1)),
        retention_ms: None,
        ..LogConfig::default()
    }
}

/// 64 KiB batches of 1 KiB records, durably: flush.ms = 1 s by the background flusher, and
/// retention (1 GiB) on its own thread, as a broker runs them.
fn append_64k_batches(c: &mut Criterion) {
    let dir = bench_dir();
    let config = LogConfig {
        segment_bytes: 256 << 20,
        retention_bytes: Some(1 << 30),
        ..no_sync()
    };
    let log = Arc::new(Log::open(dir.path(), config, LogEnv::os()).unwrap());
    let flusher = flyq_log::Flusher::start(Duration::from_millis(100)).unwrap();
    flusher.register(&log);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let retention = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                log.apply_retention().unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let batch = filler_batch(1_700_000_000_000, 63, 1000); // ~64 KiB
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("64KiB_batches_background_flush", |b| {
        b.iter(|| log.append(&batch).unwrap())
    });
    group.finish();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    retention.join().unwrap();
}

/// Eight appenders, 16 KiB batches, each append fsynced before it returns (group commit).
fn append_fsync_8_appenders(c: &mut Criterion) {
    let dir = bench_dir();
    let config = LogConfig {
        flush: FlushPolicy::EVERY_APPEND,
        retention_bytes: Some(1 << 30),
        ..no_sync()
    };
    let log = Arc::new(Log::open(dir.path(), config, LogEnv::os()).unwrap());
    let batch = Arc::new(filler_batch(1_700_000_000_000, 15, 1000)); // ~16 KiB
    let mut group = c.benchmark_group("append_fsync");
    let appends_per_thread = 200u64;
    group.throughput(Throughput::Bytes(
        batch.len() as u64 * appends_per_thread * 8,
    ));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("16KiB_batches_8_appenders_fsync_each", |b| {
        b.iter(|| {
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let log = Arc::clone(&log);
                    let batch = Arc::clone(&batch);
                    std::thread::spawn(move || {
                        for _ in 0..appends_per_thread {
                            log.append(&batch).unwrap();
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            log.apply_retention().unwrap();
        })
    });
    group.finish();
}

/// Sequential reads of whole batches (1 MiB per read) from the page cache.
fn sequential_read(c: &mut Criterion) {
    let dir = bench_dir();
    let log = Log::open(dir.path(), no_sync(), LogEnv::os()).unwrap();
    let batch = filler_batch(1_700_000_000_000, 63, 1000);
    let total: u64 = 512 << 20;
    while log.size_bytes() < total {
        log.append(&batch).unwrap();
    }
    log.flush().unwrap();
    let end = log.log_end_offset();
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Bytes(log.size_bytes()));
    group.sample_size(10);
    group.bench_function("sequential_512MiB_1MiB_reads", |b| {
        b.iter(|| {
            let mut offset = 0;
            let mut bytes = 0;
            while offset < end {
                let read = log.read(offset, 1 << 20, end).unwrap();
                bytes += read.batches.len();
                offset = read.next_offset;
            }
            assert!(bytes > 0);
        })
    });
    group.finish();
}

/// Finding the batch of a random offset in a 1 GiB segment (sparse index + header walk).
fn offset_lookup(c: &mut Criterion) {
    let dir = bench_dir();
    let config = LogConfig {
        segment_bytes: (1 << 30) + (1 << 20),
        ..no_sync()
    };
    let log = Log::open(dir.path(), config, LogEnv::os()).unwrap();
    let batch = filler_batch(1_700_000_000_000, 15, 1000); // ~16 KiB, so 65k batches
    while log.size_bytes() < 1 << 30 {
        log.append(&batch).unwrap();
    }
    assert_eq!(log.segment_count(), 1);
    let end = log.log_end_offset();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut group = c.benchmark_group("lookup");
    group.bench_function("random_offset_in_1GiB_segment_read_64B", |b| {
        b.iter(|| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let offset = (x % end as u64) as i64;
            // max_bytes 1: locate the batch and read just it; dominated by the lookup.
            log.read(offset, 1, end).unwrap()
        })
    });
    group.finish();
}

/// Opening a 10 GB log in 1,000 segments, after a clean shutdown and after a crash that left
/// an unsynced tail in the active segment.
fn open_recover(c: &mut Criterion) {
    let gb: u64 = std::env::var("FLYQ_BENCH_RECOVERY_GB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = bench_dir();
    let path: PathBuf = dir.path().join("big-0");
    let segment_bytes = (gb << 30) / 1000;
    let config = LogConfig {
        segment_bytes,
        ..no_sync()
    };
    let started = Instant::now();
    {
        let log = Log::open(&path, config.clone(), LogEnv::os()).unwrap();
        let batch = filler_batch(1_700_000_000_000, 255, 1000); // ~256 KiB
        while log.size_bytes() < gb << 30 {
            log.append(&batch).unwrap();
        }
        log.close().unwrap();
    }
    eprintln!("wrote {gb} GB in {:?}", started.elapsed());
    let mut group = c.benchmark_group("open");
    group.sample_size(10);
    group.bench_function(format!("{gb}GB_1000_segments_clean"), |b| {
        b.iter(|| {
            let log = Log::open(&path, config.clone(), LogEnv::os()).unwrap();
            assert!(log.segment_count() >= 1000);
            log
        })
    });
    // A crash: half an active segment's worth of unsynced batches (a crash of this process
    // keeps them in the page cache, which is what recovery then has to verify).
    group.bench_function(format!("{gb}GB_1000_segments_after_crash"), |b| {
        b.iter_batched(
            || {
                let log = Log::open(&path, config.clone(), LogEnv::os()).unwrap();
                log.truncate_to(log.segment_base_offsets().last().copied().unwrap())
                    .unwrap();
                let batch = filler_batch(1_700_000_000_000, 255, 1000);
                while log.size_bytes() % segment_bytes < segment_bytes / 2 {
                    log.append(&batch).unwrap();
                }
                // Dropped without close: no final sync, no index entries for the tail.
            },
            |()| {
                let log = Log::open(&path, config.clone(), LogEnv::os()).unwrap();
                assert!(log.recovery_report().scanned_bytes > 0);
                log
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    append_64k_batches,
    append_fsync_8_appenders,
    sequential_read,
    offset_lookup,
    open_recover
);
criterion_main!(benches);
