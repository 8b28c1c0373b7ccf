//! Behaviour of the log's public API: appends, reads, offsets, rolls, retention, timestamps,
//! truncation, and the resource bounds that keep many partitions cheap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use flyq_log::storage::SimStorage;
use flyq_log::{BatchError, BatchHeader, FlushPolicy, Log, LogConfig, LogError, ManualClock};
use flyq_protocol::builder::{RecordSpec, build_batch};
use proptest::prelude::*;

fn open(disk: &SimStorage, clock: &Arc<ManualClock>, config: LogConfig) -> Log {
    Log::open(log_dir(), config, sim_env(disk, clock, 64)).unwrap()
}

fn setup(config: LogConfig) -> (SimStorage, Arc<ManualClock>, Log) {
    let disk = SimStorage::new();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let log = open(&disk, &clock, config);
    (disk, clock, log)
}

#[test]
fn append_assigns_consecutive_offsets_and_stamps_the_leader_epoch() {
    let (_disk, _clock, log) = setup(small_config());
    log.set_leader_epoch(7);
    let a = log.append(&tagged_batch(1, 3, 10, 100)).unwrap();
    let b = log.append(&tagged_batch(2, 2, 10, 200)).unwrap();
    assert_eq!(
        (a.base_offset, a.last_offset, b.base_offset, b.last_offset),
        (0, 2, 3, 4)
    );
    assert_eq!(log.log_end_offset(), 5);
    let read = log.read(3, 1 << 20, 5).unwrap();
    let header = BatchHeader::parse(&read.batches).unwrap();
    assert_eq!((header.base_offset, header.partition_leader_epoch), (3, 7));
    // The CRC still holds: the rewritten fields are outside it.
    flyq_protocol::header::check(&read.batches).unwrap();
}

#[test]
fn invalid_batches_are_refused_and_nothing_is_appended() {
    let mut config = small_config();
    config.max_batch_bytes = 1000;
    let (_disk, _clock, log) = setup(config);
    let mut bad = tagged_batch(1, 2, 10, 100);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let err = log.append(&bad).unwrap_err();
    assert!(
        matches!(err, LogError::InvalidBatch(BatchError::CrcMismatch { .. })),
        "{err}"
    );
    let big = tagged_batch(2, 1, 2000, 100);
    let err = log.append(&big).unwrap_err();
    assert!(
        matches!(err, LogError::InvalidBatch(BatchError::TooLarge { .. })),
        "{err}"
    );
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn read_returns_the_whole_batch_containing_the_offset() {
    let (_disk, _clock, log) = setup(small_config());
    log.append(&tagged_batch(1, 5, 10, 100)).unwrap();
    log.append(&tagged_batch(2, 5, 10, 100)).unwrap();
    let read = log.read(7, 1 << 20, log.log_end_offset()).unwrap();
    let header = BatchHeader::parse(&read.batches).unwrap();
    assert_eq!(header.base_offset, 5);
    assert_eq!(read.next_offset, 10);
}

#[test]
fn read_returns_at_least_one_batch_even_when_max_bytes_is_smaller() {
    let (_disk, _clock, log) = setup(small_config());
    let batch = tagged_batch(1, 3, 100, 100);
    log.append(&batch).unwrap();
    log.append(&batch).unwrap();
    let read = log.read(0, 1, log.log_end_offset()).unwrap();
    assert_eq!(read.batches.len(), batch.len());
    assert_eq!(read.next_offset, 3);
}

#[test]
fn read_at_most_returns_nothing_when_the_first_batch_does_not_fit() {
    let (_disk, _clock, log) = setup(small_config());
    let batch = tagged_batch(1, 3, 100, 100);
    log.append(&batch).unwrap();
    log.append(&batch).unwrap();
    let end = log.log_end_offset();
    for max_bytes in [0, 1, batch.len() - 1] {
        let read = log.read_at_most(0, max_bytes, end).unwrap();
        assert!(read.batches.is_empty(), "{max_bytes} bytes");
        assert_eq!(read.next_offset, 0);
    }
    let read = log.read_at_most(0, 2 * batch.len() - 1, end).unwrap();
    assert_eq!((read.batches.len(), read.next_offset), (batch.len(), 3));
    let read = log.read_at_most(0, 2 * batch.len(), end).unwrap();
    assert_eq!((read.batches.len(), read.next_offset), (2 * batch.len(), 6));
    assert!(matches!(
        log.read_at_most(7, 1 << 20, end),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn read_stops_below_the_upper_bound_and_at_the_end() {
    let (_disk, _clock, log) = setup(small_config());
    log.append(&tagged_batch(1, 2, 10, 100)).unwrap();
    log.append(&tagged_batch(2, 2, 10, 100)).unwrap();
    let read = log.read(0, 1 << 20, 2).unwrap();
    assert_eq!(read.next_offset, 2);
    let read = log.read(2, 1 << 20, 2).unwrap();
    assert!(read.batches.is_empty());
    let read = log.read(4, 1 << 20, 4).unwrap();
    assert!(read.batches.is_empty());
    assert!(matches!(
        log.read(5, 100, 5),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.read(-1, 100, 5),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn segments_roll_by_size_and_reads_cross_them() {
    let (_disk, _clock, log) = setup(small_config());
    for i in 0..40 {
        log.append(&tagged_batch(i, 2, 50, 100)).unwrap();
    }
    assert!(log.segment_count() > 5, "{} segments", log.segment_count());
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 40);
    for (i, (base, _)) in all.iter().enumerate() {
        assert_eq!(*base, 2 * i as i64);
    }
}

#[test]
fn segments_roll_by_age() {
    let mut config = small_config();
    config.segment_bytes = 1 << 20;
    config.segment_ms = Some(Duration::from_secs(60));
    let (_disk, clock, log) = setup(config);
    log.append(&tagged_batch(1, 1, 10, 100)).unwrap();
    clock.advance(59_000);
    log.append(&tagged_batch(2, 1, 10, 100)).unwrap();
    assert_eq!(log.segment_count(), 1);
    clock.advance(1_000);
    log.append(&tagged_batch(3, 1, 10, 100)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
}

#[test]
fn reopen_after_clean_close_keeps_everything_and_scans_almost_nothing() {
    let disk = SimStorage::new();
    let clock = Arc::new(ManualClock::new(0));
    let log = open(&disk, &clock, small_config());
    for i in 0..30 {
        log.append(&tagged_batch(i, 2, 40, 100 + i as i64)).unwrap();
    }
    let before = read_all(&log, 0);
    log.close().unwrap();
    let log = open(&disk, &clock, small_config());
    assert_eq!(read_all(&log, 0), before);
    let report = log.recovery_report();
    assert!(report.truncation.is_none());
    assert!(
        report.scanned_bytes < 200,
        "scanned {} bytes",
        report.scanned_bytes
    );
    assert!(log.verify().unwrap().is_empty());
}

#[test]
fn retention_by_size_deletes_oldest_segments_but_never_the_active_one() {
    let mut config = small_config();
    config.retention_bytes = Some(2048);
    let (disk, _clock, log) = setup(config);
    for i in 0..40 {
        log.append(&tagged_batch(i, 2, 50, 100)).unwrap();
    }
    let before = log.size_bytes();
    log.set_high_watermark(log.log_end_offset());
    let outcome = log.apply_retention().unwrap();
    assert!(outcome.segments_deleted > 0);
    assert_eq!(log.size_bytes(), before - outcome.bytes_deleted);
    assert!(log.size_bytes() <= 2048 + 1024);
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
    assert!(matches!(
        log.read(0, 100, 80),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // Files of deleted segments are gone.
    let names = files_in(&disk, log_dir());
    assert!(!names.contains(&flyq_log::segment_file_name(0, "log")));
}

#[test]
fn retention_never_deletes_past_the_high_watermark() {
    let mut config = small_config();
    config.retention_bytes = Some(1);
    let (_disk, _clock, log) = setup(config);
    for i in 0..30 {
        log.append(&tagged_batch(i, 2, 50, 100)).unwrap();
    }
    log.set_high_watermark(10);
    log.apply_retention().unwrap();
    assert!(
        log.log_start_offset() <= 10,
        "uncommitted data deleted: start {}",
        log.log_start_offset()
    );
    assert_eq!(log.high_watermark(), 10);
    log.set_high_watermark(log.log_end_offset());
    log.apply_retention().unwrap();
    assert_eq!(log.segment_count(), 1);
}

#[test]
fn retention_by_time_uses_the_newest_record_and_empties_an_idle_log() {
    let mut config = small_config();
    config.retention_ms = Some(Duration::from_secs(3600));
    let disk = SimStorage::new();
    let now = 1_700_000_000_000;
    let clock = Arc::new(ManualClock::new(now));
    let log = open(&disk, &clock, config);
    for i in 0..20 {
        log.append(&tagged_batch(i, 2, 50, now - 7_200_000 + i as i64))
            .unwrap();
    }
    for i in 20..30 {
        log.append(&tagged_batch(i, 2, 50, now)).unwrap();
    }
    log.set_high_watermark(log.log_end_offset());
    let outcome = log.apply_retention().unwrap();
    assert!(outcome.segments_deleted > 0);
    let kept = read_all(&log, log.log_start_offset());
    assert!(
        kept.iter().all(|(base, _)| *base >= 2 * 14),
        "old data kept: {:?}",
        kept[0].0
    );
    // Later, everything expires, including what sat in the active segment.
    clock.advance(2 * 3_600_000);
    log.set_high_watermark(log.log_end_offset());
    log.apply_retention().unwrap();
    assert_eq!(log.log_start_offset(), log.log_end_offset());
    assert_eq!(log.log_end_offset(), 60);
    assert!(log.read(60, 100, 60).unwrap().batches.is_empty());
}

#[test]
fn delete_records_moves_the_log_start_durably() {
    let disk = SimStorage::new();
    let clock = Arc::new(ManualClock::new(0));
    let log = open(&disk, &clock, small_config());
    for i in 0..20 {
        log.append(&tagged_batch(i, 2, 50, 100)).unwrap();
    }
    log.set_high_watermark(30);
    assert!(matches!(
        log.delete_records(31),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.delete_records(13).unwrap(), 13);
    assert!(matches!(
        log.read(12, 100, 30),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // Reading at the new start returns the batch containing it (base 12), as Kafka does.
    let read = log.read(13, 100, 30).unwrap();
    assert_eq!(BatchHeader::parse(&read.batches).unwrap().base_offset, 12);
    drop(log);
    let log = open(&disk.crash_image(3), &clock, small_config());
    assert_eq!(log.log_start_offset(), 13);
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after() {
    let (_disk, _clock, log) = setup(small_config());
    // Batch i holds 3 records with timestamps 1000*i + 0, 1, 2.
    for i in 0..30 {
        log.append(&tagged_batch(i, 3, 40, 1000 * i as i64))
            .unwrap();
    }
    let hit = log.offset_for_timestamp(5001).unwrap().unwrap();
    assert_eq!((hit.offset, hit.timestamp), (16, 5001));
    let hit = log.offset_for_timestamp(5003).unwrap().unwrap();
    assert_eq!((hit.offset, hit.timestamp), (18, 6000));
    assert_eq!(log.offset_for_timestamp(0).unwrap().unwrap().offset, 0);
    assert_eq!(log.offset_for_timestamp(1_000_000).unwrap(), None);
}

/// One batch whose records carry these timestamps, in order.
fn batch_with_timestamps(timestamps: &[i64]) -> Vec<u8> {
    let specs: Vec<RecordSpec> = timestamps
        .iter()
        .map(|ts| RecordSpec {
            timestamp_delta: ts - timestamps[0],
            ..RecordSpec::value(vec![7; 20])
        })
        .collect();
    build_batch(0, timestamps[0], &specs)
}

#[test]
fn offset_of_max_timestamp_finds_the_first_record_with_the_largest_timestamp() {
    // Index entries every few batches, so that some batches lie between entries.
    let config = LogConfig {
        index_interval_bytes: 300,
        ..small_config()
    };
    let (disk, clock, log) = setup(config.clone());
    assert_eq!(log.offset_of_max_timestamp().unwrap(), None);
    // Offsets 0-9 rise slowly; batch 10-12 peaks at 9000 in its middle record; 13-31 are
    // lower; 32 peaks at 9000 again, later; 33-37 are lower.
    for i in 0..10 {
        log.append(&batch_with_timestamps(&[100 * i])).unwrap();
    }
    log.append(&batch_with_timestamps(&[500, 9000, 9000]))
        .unwrap();
    for i in 0..19 {
        log.append(&batch_with_timestamps(&[2000 + i])).unwrap();
    }
    log.append(&batch_with_timestamps(&[9000])).unwrap();
    for _ in 0..5 {
        log.append(&batch_with_timestamps(&[3000])).unwrap();
    }
    // The first peak opens a segment that offset 13 also lies in; the second is in a later
    // one; the active segment is later still.
    assert_eq!(log.segment_base_offsets(), vec![0, 10, 22, 33]);
    let found = |log: &Log| {
        let hit = log.offset_of_max_timestamp().unwrap().unwrap();
        (hit.offset, hit.timestamp)
    };
    assert_eq!(found(&log), (11, 9000));
    // The same from indexes loaded from disk.
    drop(log);
    let log = open(&disk, &clock, config);
    assert_eq!(found(&log), (11, 9000));
    // Deleted records no longer count, though their segment's index still does.
    log.set_high_watermark(log.log_end_offset());
    log.delete_records(13).unwrap();
    assert_eq!(found(&log), (32, 9000));
    // Each new peak in the active segment, on an index entry or between two.
    for peak in [9500, 9600, 9700, 9800] {
        let info = log
            .append(&batch_with_timestamps(&[peak - 50, peak]))
            .unwrap();
        assert_eq!(found(&log), (info.base_offset + 1, peak));
    }
}

#[test]
fn truncate_removes_the_tail_and_appends_reuse_the_offsets() {
    let (_disk, _clock, log) = setup(small_config());
    for i in 0..30 {
        log.append(&tagged_batch(i, 2, 40, 100)).unwrap();
    }
    let segments = log.segment_count();
    log.truncate_to(21).unwrap();
    assert_eq!(log.log_end_offset(), 20);
    assert!(log.segment_count() < segments);
    let info = log.append(&tagged_batch(99, 1, 5, 100)).unwrap();
    assert_eq!(info.base_offset, 20);
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 11);
    assert!(log.verify().unwrap().is_empty());
}

#[test]
fn deleting_segments_does_not_disturb_a_reader_holding_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config();
    config.retention_bytes = Some(1);
    let log = Arc::new(Log::open(dir.path(), config, flyq_log::LogEnv::os()).unwrap());
    for i in 0..50 {
        log.append(&tagged_batch(i, 2, 50, 100)).unwrap();
    }
    let end = log.log_end_offset();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut ok = 0;
                for _ in 0..200 {
                    let start = log.log_start_offset();
                    match log.read(start, 1 << 20, end) {
                        Ok(read) => {
                            let mut rest = &read.batches[..];
                            while !rest.is_empty() {
                                let len = flyq_protocol::header::check(
                                    &rest[..BatchHeader::parse(rest).unwrap().total_len() as usize],
                                )
                                .unwrap()
                                .total_len() as usize;
                                rest = &rest[len..];
                            }
                            ok += 1;
                        }
                        Err(LogError::OffsetOutOfRange { .. }) => {}
                        Err(e) => panic!("reader disturbed: {e}"),
                    }
                }
                ok
            })
        })
        .collect();
    for i in 0..20 {
        log.append(&tagged_batch(100 + i, 2, 50, 100)).unwrap();
        log.set_high_watermark(log.log_end_offset());
        log.apply_retention().unwrap();
    }
    let reads: i32 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 0);
    assert_eq!(log.segment_count(), 1);
}

#[test]
fn thousands_of_partitions_hold_a_bounded_number_of_files_and_indexes() {
    let disk = SimStorage::new();
    let clock = Arc::new(ManualClock::new(0));
    let env = sim_env(&disk, &clock, 32);
    let mut logs = Vec::new();
    for p in 0..2000 {
        let dir = std::path::PathBuf::from(format!("/data/t-{p}"));
        let log = Log::open(&dir, small_config(), Arc::clone(&env)).unwrap();
        for i in 0..12 {
            log.append(&tagged_batch(i, 1, 100, 100)).unwrap();
        }
        logs.push(log);
    }
    for log in &logs {
        assert_eq!(read_all(log, 0).len(), 12);
    }
    assert!(env.open_files() <= 32, "{} files open", env.open_files());
    assert!(
        env.loaded_indexes() <= 32,
        "{} indexes loaded",
        env.loaded_indexes()
    );
    // Reopening is lazy: nothing is opened until used.
    drop(logs);
    let env = sim_env(&disk, &clock, 32);
    let reopened: Vec<Log> = (0..2000)
        .map(|p| Log::open(format!("/data/t-{p}"), small_config(), Arc::clone(&env)).unwrap())
        .collect();
    assert_eq!(env.open_files(), 0);
    assert_eq!(reopened[1999].log_end_offset(), 12);
}

#[test]
fn flush_policy_by_count_and_by_time() {
    let mut config = small_config();
    config.flush = FlushPolicy {
        messages: Some(5),
        interval: Some(Duration::from_millis(100)),
    };
    let (_disk, clock, log) = setup(config);
    log.append(&tagged_batch(1, 3, 10, 100)).unwrap();
    assert_eq!(log.durable_offset(), 0);
    log.append(&tagged_batch(2, 3, 10, 100)).unwrap();
    assert_eq!(log.durable_offset(), 6);
    log.append(&tagged_batch(3, 1, 10, 100)).unwrap();
    assert!(!log.flush_if_due().unwrap());
    clock.advance(100);
    assert!(log.flush_if_due().unwrap());
    assert_eq!(log.durable_offset(), 7);
}

#[test]
fn background_flusher_syncs_logs_on_their_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config();
    config.flush = FlushPolicy::every(Duration::from_millis(5));
    let log = Arc::new(Log::open(dir.path(), config, flyq_log::LogEnv::os()).unwrap());
    let flusher = flyq_log::Flusher::start(Duration::from_millis(2)).unwrap();
    flusher.register(&log);
    log.append(&tagged_batch(1, 4, 10, 100)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while log.durable_offset() < 4 {
        assert!(std::time::Instant::now() < deadline, "flusher never synced");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn concurrent_appenders_share_syncs_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config();
    config.segment_bytes = 1 << 20;
    config.flush = FlushPolicy::EVERY_APPEND;
    let log = Arc::new(Log::open(dir.path(), config.clone(), flyq_log::LogEnv::os()).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| {
                        log.append(&tagged_batch(t * 1000 + i, 2, 64, 100))
                            .unwrap()
                            .base_offset
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut bases: Vec<i64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    bases.sort_unstable();
    assert_eq!(bases, (0..400).map(|i| 2 * i).collect::<Vec<_>>());
    assert_eq!(log.durable_offset(), 800);
    drop(log);
    let log = Log::open(dir.path(), config, flyq_log::LogEnv::os()).unwrap();
    assert_eq!(read_all(&log, 0).len(), 400);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any offset, any max_bytes: the read starts with the batch holding the offset, returns
    /// only whole batches, at least one, and never more than max_bytes beyond the first.
    #[test]
    fn read_boundaries_hold_for_any_offset_and_size(
        sizes in proptest::collection::vec((1usize..5, 0usize..120), 1..40),
        probe in any::<prop::sample::Index>(),
        max_bytes in 1usize..3000,
    ) {
        let (_disk, _clock, log) = setup(small_config());
        let mut batches = Vec::new();
        for (i, (records, len)) in sizes.iter().enumerate() {
            let batch = tagged_batch(i as u64, *records, *len, 100);
            let info = log.append(&batch).unwrap();
            batches.push((info.base_offset, info.last_offset, batch));
        }
        let end = log.log_end_offset();
        let offset = probe.index(end as usize) as i64;
        let read = log.read(offset, max_bytes, end).unwrap();
        let first = batches.iter().position(|(b, l, _)| *b <= offset && offset <= *l).unwrap();
        let mut rest = &read.batches[..];
        let mut i = first;
        while !rest.is_empty() {
            let (base, _, original) = &batches[i];
            prop_assert!(same_batch(&rest[..original.len()], original, *base));
            rest = &rest[original.len()..];
            i += 1;
        }
        prop_assert!(i > first, "no batch returned");
        prop_assert!(i == first + 1 || read.batches.len() <= max_bytes);
        prop_assert_eq!(read.next_offset, batches[i - 1].1 + 1);
    }

    /// Any offset, any max_bytes: read_at_most is read when the first batch fits, else nothing.
    #[test]
    fn read_at_most_is_read_within_max_bytes(
        sizes in proptest::collection::vec((1usize..5, 0usize..120), 1..40),
        probe in any::<prop::sample::Index>(),
        max_bytes in 0usize..3000,
    ) {
        let (_disk, _clock, log) = setup(small_config());
        for (i, (records, len)) in sizes.iter().enumerate() {
            log.append(&tagged_batch(i as u64, *records, *len, 100)).unwrap();
        }
        let end = log.log_end_offset();
        let offset = probe.index(end as usize) as i64;
        let strict = log.read_at_most(offset, max_bytes, end).unwrap();
        let read = log.read(offset, max_bytes, end).unwrap();
        let first_len = BatchHeader::parse(&read.batches).unwrap().total_len() as usize;
        if first_len <= max_bytes {
            prop_assert_eq!(strict, read);
        } else {
            prop_assert!(strict.batches.is_empty());
            prop_assert_eq!(strict.next_offset, offset);
        }
    }
}

#[test]
fn sync_to_past_the_end_returns_once_everything_is_durable() {
    let (_disk, _clock, log) = setup(small_config());
    log.append(&tagged_batch(1, 3, 10, 100)).unwrap();
    log.sync_to(1_000).unwrap();
    assert_eq!(log.durable_offset(), 3);
}

#[test]
fn truncation_below_the_log_start_is_refused() {
    let (_disk, _clock, log) = setup(small_config());
    for i in 0..10 {
        log.append(&tagged_batch(i, 10, 10, 100)).unwrap();
    }
    log.set_high_watermark(log.log_end_offset());
    log.delete_records(55).unwrap();
    // 50 is below the start; 56 lies in the batch 50..59, whose start is below it too.
    assert!(matches!(
        log.truncate_to(50),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.truncate_to(56),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    log.truncate_to(60).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (55, 60));
}

/// Truncations racing fsynced appends and the background flusher: the durable offset never
/// passes the end, nothing is poisoned, and the reopened log is intact.
#[test]
fn truncation_racing_syncs_keeps_the_log_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config();
    config.flush = FlushPolicy {
        messages: Some(1),
        interval: Some(Duration::from_millis(1)),
    };
    let log = Arc::new(Log::open(dir.path(), config.clone(), flyq_log::LogEnv::os()).unwrap());
    let flusher = flyq_log::Flusher::start(Duration::from_millis(1)).unwrap();
    flusher.register(&log);
    let appender = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for i in 0..300 {
                log.append(&tagged_batch(i, 2, 40, 100)).unwrap();
            }
        })
    };
    for _ in 0..40 {
        let end = log.log_end_offset();
        log.truncate_to(end / 2).unwrap();
        assert!(log.durable_offset() <= log.log_end_offset());
        std::thread::sleep(Duration::from_millis(1));
    }
    appender.join().unwrap();
    log.flush().unwrap();
    assert!(log.poisoned().is_none());
    assert_eq!(log.durable_offset(), log.log_end_offset());
    let end = log.log_end_offset();
    drop(flusher);
    let log = Arc::try_unwrap(log).unwrap();
    log.close().unwrap();
    let log = Log::open(dir.path(), config, flyq_log::LogEnv::os()).unwrap();
    assert_eq!(log.log_end_offset(), end);
    assert!(log.verify().unwrap().is_empty());
    assert!(log.recovery_report().truncation.is_none());
}
