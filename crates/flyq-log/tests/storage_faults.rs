//! RELIABILITY.md S3 (a failed fsync poisons the log) and S4 (a full disk gives clean errors,
//! no corruption, and the log recovers when space returns), on the simulated disk and on a
//! real size-capped tmpfs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::*;
use flyq_log::storage::SimStorage;
use flyq_log::{FlushPolicy, Log, LogConfig, LogEnv, LogError, ManualClock};

fn sync_every_append() -> LogConfig {
    LogConfig {
        flush: FlushPolicy::EVERY_APPEND,
        ..small_config()
    }
}

#[test]
fn failed_fsync_poisons_the_log_and_nothing_is_acknowledged_after_it() {
    let disk = SimStorage::new();
    let clock = Arc::new(ManualClock::new(0));
    let log = Log::open(log_dir(), sync_every_append(), sim_env(&disk, &clock, 8)).unwrap();
    for i in 0..5 {
        log.append(&tagged_batch(i, 2, 20, 100)).unwrap();
    }
    disk.set_fail_syncs(true);
    let err = log.append(&tagged_batch(5, 2, 20, 100)).unwrap_err();
    assert!(matches!(err, LogError::Io { .. }), "{err}");
    assert!(log.poisoned().is_some());
    // The disk works again, but the log does not pretend: the dirty pages may be gone.
    disk.set_fail_syncs(false);
    for i in 6..10 {
        let err = log.append(&tagged_batch(i, 1, 20, 100)).unwrap_err();
        assert!(matches!(err, LogError::Poisoned(_)), "{err}");
    }
    assert!(matches!(log.flush(), Err(LogError::Poisoned(_))));
    assert!(matches!(log.roll(), Err(LogError::Poisoned(_))));
    assert!(
        log.poisoned().unwrap().contains("syncing"),
        "{}",
        log.poisoned().unwrap()
    );
    assert_eq!(log.durable_offset(), 10);
    // Reads still serve what is there.
    assert_eq!(read_all(&log, 0).len(), 6);
    // After a crash, every acknowledged record is there; reopening clears the poison.
    let image = disk.crash_image(11);
    drop(log);
    let log = Log::open(log_dir(), sync_every_append(), sim_env(&image, &clock, 8)).unwrap();
    assert!(log.log_end_offset() >= 10);
    assert!(log.verify().unwrap().is_empty());
    log.append(&tagged_batch(20, 1, 20, 100)).unwrap();
}

#[test]
fn failed_background_flush_poisons_too() {
    let disk = SimStorage::new();
    let clock = Arc::new(ManualClock::new(0));
    let mut config = small_config();
    config.flush = FlushPolicy::every(std::time::Duration::from_millis(10));
    let log = Log::open(log_dir(), config, sim_env(&disk, &clock, 8)).unwrap();
    log.append(&tagged_batch(1, 2, 20, 100)).unwrap();
    disk.set_fail_syncs(true);
    clock.advance(10);
    assert!(log.flush_if_due().is_err());
    disk.set_fail_syncs(false);
    assert!(matches!(
        log.append(&tagged_batch(2, 1, 20, 100)),
        Err(LogError::Poisoned(_))
    ));
}

#[test]
fn failed_fsync_while_sealing_a_rolled_segment_poisons() {
    let disk = SimStorage::new();
    let clock = Arc::new(ManualClock::new(0));
    let log = Log::open(log_dir(), small_config(), sim_env(&disk, &clock, 8)).unwrap();
    log.append(&tagged_batch(1, 2, 20, 100)).unwrap();
    disk.set_fail_syncs(true);
    // Rolling syncs nothing, so it succeeds; the seal that follows cannot.
    log.roll().unwrap();
    assert!(log.flush().is_err());
    assert!(log.poisoned().is_some());
    assert!(matches!(
        log.append(&tagged_batch(2, 1, 20, 100)),
        Err(LogError::Poisoned(_))
    ));
}

/// Appends batches of `records` x `value_len` until `attempts` were made; every failure must be
/// a clean, retriable disk-full error that leaves the log unpoisoned and intact. Returns the
/// offset after the last acknowledged record.
fn fill_until_full(log: &Log, attempts: u64, records: usize, value_len: usize) -> i64 {
    let mut acknowledged = 0;
    let mut full_errors = 0;
    for i in 0..attempts {
        match log.append(&tagged_batch(i, records, value_len, 100)) {
            Ok(info) => acknowledged = info.last_offset + 1,
            Err(e) => {
                assert!(matches!(e, LogError::DiskFull { .. }), "{e}");
                assert!(e.is_retriable());
                full_errors += 1;
            }
        }
    }
    assert!(full_errors > 0, "the disk never filled");
    assert!(acknowledged > 0, "nothing fit");
    assert!(
        log.poisoned().is_none(),
        "a full disk must not poison the log"
    );
    assert_eq!(log.log_end_offset(), acknowledged);
    assert!(log.verify().unwrap().is_empty());
    acknowledged
}

/// Fills a simulated disk, checks the log refuses cleanly and stays intact, then frees space.
#[test]
fn full_simulated_disk_gives_clean_errors_and_recovers_when_space_returns() {
    let disk = SimStorage::new();
    let clock = Arc::new(ManualClock::new(0));
    let log = Log::open(log_dir(), sync_every_append(), sim_env(&disk, &clock, 8)).unwrap();
    disk.set_capacity(Some(6000));
    let acknowledged = fill_until_full(&log, 200, 2, 60);
    disk.set_capacity(None);
    let info = log.append(&tagged_batch(999, 2, 60, 100)).unwrap();
    assert_eq!(info.base_offset, acknowledged);
    // A crash now loses nothing acknowledged and shows no corruption.
    let image = disk.crash_image(5);
    drop(log);
    let log = Log::open(log_dir(), sync_every_append(), sim_env(&image, &clock, 8)).unwrap();
    assert_eq!(log.log_end_offset(), acknowledged + 2);
    assert!(log.verify().unwrap().is_empty());
    assert_eq!(read_all(&log, 0).len() as i64, acknowledged / 2 + 1);
}

struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root: run the tests through scripts/test as root"
        );
        Tmpfs(dir.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The same on a real file system: a tmpfs capped at 512 KiB, then grown.
#[test]
fn full_tmpfs_gives_clean_errors_and_recovers_when_space_returns() {
    let outer = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(outer.path(), "512k");
    let dir = outer.path().join("topic-0");
    let mut config = sync_every_append();
    config.segment_bytes = 64 * 1024;
    let log = Log::open(&dir, config.clone(), LogEnv::os()).unwrap();
    let acknowledged = fill_until_full(&log, 400, 4, 1000);
    fs.resize("4m");
    let info = log.append(&tagged_batch(9999, 4, 1000, 100)).unwrap();
    assert_eq!(info.base_offset, acknowledged);
    drop(log);
    let log = Log::open(&dir, config, LogEnv::os()).unwrap();
    assert_eq!(log.log_end_offset(), acknowledged + 4);
    assert!(log.recovery_report().truncation.is_none());
    assert!(log.verify().unwrap().is_empty());
    assert_eq!(read_all(&log, 0).len() as i64, acknowledged / 4 + 1);
}
