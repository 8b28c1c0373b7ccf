//! RELIABILITY.md S1: random crash points over a simulated disk that keeps only what was synced
//! plus an arbitrary subset (some torn) of what was not. After every crash the recovered log
//! must be a prefix of what was appended, hold every record whose durability was acknowledged,
//! and contain nothing that was never appended.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use flyq_log::storage::SimStorage;
use flyq_log::{FlushPolicy, Log, ManualClock};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append { records: usize, value_len: usize },
    Flush,
    Roll,
    DeleteRecords { fraction: u8 },
    Truncate { fraction: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (1usize..6, 0usize..200).prop_map(|(records, value_len)| Op::Append { records, value_len }),
        2 => Just(Op::Flush),
        1 => Just(Op::Roll),
        1 => any::<u8>().prop_map(|fraction| Op::DeleteRecords { fraction }),
        1 => any::<u8>().prop_map(|fraction| Op::Truncate { fraction }),
    ]
}

/// What the test knows for certain before the crash.
#[derive(Default)]
struct Model {
    /// Appended batches still in the log: (base offset, original bytes).
    batches: Vec<(i64, Vec<u8>)>,
    /// Every batch ever appended, including those later truncated away.
    history: Vec<(i64, Vec<u8>)>,
    /// Every record below this offset was acknowledged durable.
    durable: i64,
    /// The log start is at least this (a delete-records call returned Ok).
    min_start: i64,
    /// The log start is at most this (the largest delete-records ever attempted).
    max_start: i64,
}

impl Model {
    fn end(&self) -> i64 {
        self.batches.last().map_or(0, |(base, bytes)| {
            base + flyq_log::BatchHeader::parse(bytes)
                .unwrap()
                .last_offset_delta as i64
                + 1
        })
    }

    /// Where `truncate_to(offset)` cuts: the start of the batch containing `offset`.
    fn cut_point(&self, offset: i64) -> i64 {
        if offset >= self.end() {
            return self.end();
        }
        self.batches
            .iter()
            .rev()
            .map(|(b, _)| *b)
            .find(|b| *b <= offset)
            .unwrap_or(0)
    }
}

fn run_case(
    ops: &[Op],
    crash_after: u64,
    seed: u64,
    sync_every_append: bool,
) -> Result<(), TestCaseError> {
    let disk = SimStorage::new();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut config = small_config();
    if sync_every_append {
        config.flush = FlushPolicy::EVERY_APPEND;
    }
    let log = Log::open(log_dir(), config.clone(), sim_env(&disk, &clock, 4)).unwrap();
    disk.crash_after_ops(crash_after, seed);
    let mut model = Model::default();
    for (tag, op) in ops.iter().enumerate() {
        let ok = match op {
            Op::Append { records, value_len } => {
                let batch = tagged_batch(tag as u64, *records, *value_len, 1_000 + tag as i64);
                match log.append(&batch) {
                    Ok(info) => {
                        prop_assert_eq!(info.base_offset, model.end());
                        model.history.push((info.base_offset, batch.clone()));
                        model.batches.push((info.base_offset, batch));
                        if sync_every_append {
                            model.durable = info.last_offset + 1;
                        }
                        true
                    }
                    Err(_) => {
                        // Its write may have reached the disk before the failure.
                        model.history.push((model.end(), batch));
                        false
                    }
                }
            }
            Op::Flush => {
                let end = log.log_end_offset();
                let result = log.flush();
                if result.is_ok() {
                    model.durable = model.durable.max(end);
                }
                result.is_ok()
            }
            // A roll promises nothing about durability: the rolled segment is sealed by the
            // next sync.
            Op::Roll => log.roll().is_ok(),
            Op::DeleteRecords { fraction } => {
                let target = model.end() * i64::from(*fraction) / 255;
                model.max_start = model.max_start.max(target);
                match log.delete_records(target) {
                    Ok(start) => {
                        model.min_start = model.min_start.max(start);
                        true
                    }
                    Err(_) => false,
                }
            }
            Op::Truncate { fraction } => {
                let wanted = model.end() * i64::from(*fraction) / 255;
                if wanted < log.log_start_offset() {
                    continue;
                }
                let cut = model.cut_point(wanted);
                model.durable = model.durable.min(cut);
                let result = log.truncate_to(wanted);
                if result.is_ok() {
                    model.batches.retain(|(base, _)| *base < cut);
                    prop_assert_eq!(log.log_end_offset(), cut);
                }
                // A failed truncation may or may not have happened: either way nothing at or
                // after `cut` is promised any more, and what remains must still match.
                result.is_ok()
            }
        };
        if !ok {
            break;
        }
    }
    let image = disk
        .take_crash_image()
        .unwrap_or_else(|| disk.crash_image(seed));
    drop(log);

    let recovered = Log::open(log_dir(), config, sim_env(&image, &clock, 4));
    let recovered = match recovered {
        Ok(log) => log,
        Err(e) => return Err(TestCaseError::fail(format!("reopen failed: {e}"))),
    };
    let start = recovered.log_start_offset();
    prop_assert!(
        start >= model.min_start && start <= model.max_start.max(model.min_start),
        "log start {} outside [{}, {}]",
        start,
        model.min_start,
        model.max_start
    );
    prop_assert!(
        recovered.log_end_offset() >= model.durable.max(start),
        "lost acknowledged records: end {} < durable {}",
        recovered.log_end_offset(),
        model.durable
    );
    let stored = read_all(&recovered, start);
    // Everything visible must be exactly what was appended at that offset. A truncation that
    // did not complete before the crash may leave batches it was removing: those are in the
    // history, at their original offsets.
    for (base, bytes) in &stored {
        let known = model
            .history
            .iter()
            .any(|(b, original)| b == base && same_batch(bytes, original, *base));
        prop_assert!(known, "batch at {} is not what was appended there", base);
    }
    let visible: std::collections::BTreeSet<i64> = stored.iter().map(|(b, _)| *b).collect();
    for (base, _) in model
        .batches
        .iter()
        .filter(|(b, _)| *b >= start && *b < model.durable)
    {
        prop_assert!(
            visible.contains(base),
            "acknowledged batch at {} is missing",
            base
        );
    }
    let problems = recovered.verify().unwrap();
    prop_assert!(
        problems.is_empty(),
        "verify: {:?}; recovery: {:?}; segments {:?}",
        problems,
        recovered.recovery_report(),
        recovered.segment_base_offsets()
    );
    // The recovered log keeps working.
    let next = recovered.log_end_offset();
    let info = recovered.append(&tagged_batch(9_999, 2, 10, 5)).unwrap();
    prop_assert_eq!(info.base_offset, next);
    recovered.flush().unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn recovered_log_holds_every_acknowledged_record_and_nothing_wrong(
        ops in proptest::collection::vec(op(), 1..60),
        crash_after in 1u64..100,
        seed in any::<u64>(),
        sync_every_append in any::<bool>(),
    ) {
        run_case(&ops, crash_after, seed, sync_every_append)?;
    }
}
