//! RELIABILITY.md S2: the active segment cut at every byte of its last two batches, and random
//! bit flips anywhere in the log. Recovery must cut a torn tail back to the last whole batch and
//! say so; corruption elsewhere must be detected (by recovery or by `verify`), never served
//! silently as good data and never silently cut from a sealed segment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::*;
use flyq_log::{Log, LogConfig, LogEnv};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        ..small_config()
    }
}

/// A log of 40+ batches over several segments, all synced, and its batches.
fn build(dir: &Path) -> Vec<(i64, Vec<u8>)> {
    let (log, all) = build_open(dir);
    log.close().unwrap();
    all
}

/// The same log, left open: the caller may append more without syncing.
fn build_open(dir: &Path) -> (Log, Vec<(i64, Vec<u8>)>) {
    let log = Log::open(dir, config(), LogEnv::os()).unwrap();
    let mut active_batches = 0;
    let mut i = 0;
    while i < 40 || active_batches < 3 {
        let info = log
            .append(&tagged_batch(
                i,
                1 + (i as usize % 4),
                30 + 7 * (i as usize % 40),
                1000 + i as i64,
            ))
            .unwrap();
        let active_base = *log.segment_base_offsets().last().unwrap();
        active_batches = if info.base_offset == active_base {
            1
        } else {
            active_batches + 1
        };
        i += 1;
    }
    log.flush().unwrap();
    let all = read_all(&log, 0);
    (log, all)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

/// (segment base, position in that segment, batch length) for every batch.
fn layout(batches: &[(i64, Vec<u8>)], bases: &[i64]) -> Vec<(i64, u64, u64)> {
    let mut out = Vec::new();
    let mut position = 0;
    let mut segment = bases[0];
    for (base, bytes) in batches {
        let owner = *bases.iter().rev().find(|b| **b <= *base).unwrap();
        if owner != segment {
            segment = owner;
            position = 0;
        }
        out.push((segment, position, bytes.len() as u64));
        position += bytes.len() as u64;
    }
    out
}

/// Everything the log writes through `tracing` in this test binary. One global subscriber:
/// a scoped one misses callsites another test thread registered first.
fn captured_logs() -> String {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static BUF: std::sync::OnceLock<Buf> = std::sync::OnceLock::new();
    let buf = BUF.get_or_init(|| {
        let buf = Buf::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    });
    String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn torn_tail_at_every_byte_of_the_last_two_batches_is_cut_to_the_last_whole_batch() {
    // A crash image: everything synced, then two more batches that never were. Their bytes
    // and no index entry for them are in the files, as after a kill -9 or a power loss.
    let original = tempfile::tempdir().unwrap();
    let (log, mut batches) = build_open(original.path());
    for i in 0..2 {
        let batch = tagged_batch(500 + i, 2, 40, 5000);
        let info = log.append(&batch).unwrap();
        let mut stored = batch.clone();
        stored[..8].copy_from_slice(&info.base_offset.to_be_bytes());
        batches.push((info.base_offset, stored));
    }
    assert_eq!(
        log.durable_offset() + 4,
        log.log_end_offset(),
        "the last two batches are unsynced"
    );
    drop(log);
    let active = segment_files(original.path()).pop().unwrap();
    let active_len = fs::metadata(&active).unwrap().len();
    let (last_two_start, kept_before) = {
        let n = batches.len();
        let tail: u64 = batches[n - 2..].iter().map(|(_, b)| b.len() as u64).sum();
        (active_len - tail, n - 2)
    };
    let boundary = last_two_start + batches[kept_before].1.len() as u64;
    let mut truncations = 0;
    for cut in last_two_start..active_len {
        let work = tempfile::tempdir().unwrap();
        copy_dir(original.path(), work.path());
        let torn = work.path().join(active.file_name().unwrap());
        fs::OpenOptions::new()
            .write(true)
            .open(&torn)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let log = Log::open(work.path(), config(), LogEnv::os()).unwrap();
        // Whole batches survive; the partial one goes.
        let survivors = if cut < boundary {
            kept_before
        } else {
            kept_before + 1
        };
        let expected: Vec<_> = batches[..survivors].to_vec();
        assert_eq!(read_all(&log, 0), expected, "cut at byte {cut}");
        let report = log.recovery_report();
        let cut_point = if cut < boundary {
            last_two_start
        } else {
            boundary
        };
        match &report.truncation {
            Some(t) => {
                assert_eq!(t.position, cut_point, "cut at byte {cut}");
                assert_eq!(t.bytes_dropped, cut - cut_point);
                assert_eq!(
                    t.first_dropped_offset,
                    expected.last().map_or(0, |(b, bytes)| {
                        b + flyq_log::BatchHeader::parse(bytes)
                            .unwrap()
                            .last_offset_delta as i64
                            + 1
                    })
                );
                truncations += 1;
            }
            None => assert_eq!(cut, cut_point, "cut at byte {cut} not reported"),
        }
        assert_eq!(fs::metadata(&torn).unwrap().len(), cut_point);
        assert!(log.verify().unwrap().is_empty());
        // It appends where it left off.
        let next = log.log_end_offset();
        assert_eq!(
            log.append(&tagged_batch(999, 1, 5, 5)).unwrap().base_offset,
            next
        );
    }
    // Every cut except the two at batch starts leaves a partial batch.
    assert_eq!(truncations as u64, active_len - last_two_start - 2);
}

#[test]
fn truncation_is_logged_with_offset_and_bytes() {
    let original = tempfile::tempdir().unwrap();
    let (log, _) = build_open(original.path());
    let unsynced = tagged_batch(77, 3, 50, 5000);
    log.append(&unsynced).unwrap();
    drop(log);
    let active = segment_files(original.path()).pop().unwrap();
    let len = fs::metadata(&active).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&active)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    captured_logs(); // install the subscriber before the log is opened
    Log::open(original.path(), config(), LogEnv::os()).unwrap();
    let output = captured_logs();
    let dir = original.path().display().to_string();
    let line = output
        .lines()
        .find(|l| l.contains("recovery truncated a torn or corrupt tail") && l.contains(&dir))
        .unwrap_or_else(|| panic!("no truncation line for {dir} in:\n{output}"));
    // The 3 bytes cut leave a partial batch: all of what is left of it goes.
    let dropped = format!("bytes_dropped={}", unsynced.len() - 3);
    assert!(line.contains(&dropped), "{line}");
    assert!(line.contains("first_dropped_offset="), "{line}");
}

/// splitmix64, for reproducible positions.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn hundred_random_bit_flips_are_all_detected() {
    let original = tempfile::tempdir().unwrap();
    let batches = build(original.path());
    let files = segment_files(original.path());
    let bases: Vec<i64> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect();
    assert!(bases.len() >= 3, "want sealed segments and an active one");
    let layout = layout(&batches, &bases);
    let mut rng = 42u64;
    let (mut by_recovery, mut by_verify) = (0, 0);
    for _ in 0..100 {
        // A random byte of a random batch, skipping the partition leader epoch (bytes 12..16),
        // which Kafka's format leaves outside the CRC.
        let (segment, position, len) = layout[(next(&mut rng) % layout.len() as u64) as usize];
        let within = loop {
            let b = next(&mut rng) % len;
            if !(12..16).contains(&b) {
                break b;
            }
        };
        let bit = 1u8 << (next(&mut rng) % 8);
        let work = tempfile::tempdir().unwrap();
        copy_dir(original.path(), work.path());
        let path = work
            .path()
            .join(flyq_log::segment_file_name(segment, "log"));
        let mut bytes = fs::read(&path).unwrap();
        bytes[(position + within) as usize] ^= bit;
        fs::write(&path, &bytes).unwrap();

        let log = Log::open(work.path(), config(), LogEnv::os()).unwrap();
        let truncated = log.recovery_report().truncation.clone();
        let fenced = log.recovery_report().corruption.clone();
        let problems = log.verify().unwrap();
        let detected_by_recovery = truncated
            .as_ref()
            .is_some_and(|t| t.segment_base_offset == segment && t.position == position)
            || fenced
                .as_ref()
                .is_some_and(|c| c.segment_base_offset == segment && c.position == position);
        if fenced.is_some() {
            // Durable data is reported and fenced, never cut.
            assert_eq!(fs::read(&path).unwrap(), bytes);
            assert!(log.poisoned().is_some());
        }
        let detected_by_verify = problems
            .iter()
            .any(|p| p.segment_base_offset == segment && p.position == position);
        assert!(
            detected_by_recovery || detected_by_verify,
            "flip of bit {bit:#x} at byte {within} of the batch at {position} in segment {segment} \
             went unnoticed: recovery {truncated:?} {fenced:?}, verify {problems:?}"
        );
        // Recovery only ever cuts the active segment.
        if let Some(t) = &truncated {
            assert_eq!(t.segment_base_offset, *bases.last().unwrap());
        }
        by_recovery += usize::from(detected_by_recovery);
        by_verify += usize::from(detected_by_verify);
    }
    assert!(
        by_verify > 0 && by_recovery > 0,
        "recovery {by_recovery}, verify {by_verify}"
    );
}
