//! Byte-level golden tests: they pin the on-disk format described in docs/log-format.md. A
//! change that breaks one of these breaks every existing data directory; change the format
//! only with a version bump and a migration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use flyq_log::{FlushPolicy, Log, LogConfig, LogEnv};
use flyq_protocol::Header;
use flyq_protocol::builder::{RecordSpec, build_batch};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One record, key "k", value "hello", header ("h", "v"), base timestamp 1_700_000_000_000.
fn sample_batch() -> Vec<u8> {
    let record = RecordSpec {
        key: Some(b"k".to_vec()),
        value: Some(b"hello".to_vec()),
        headers: vec![Header::new("h", &b"v"[..])],
        timestamp_delta: 0,
    };
    build_batch(0, 1_700_000_000_000, &[record])
}

/// The batch as a producer sends it (RecordBatch v2), field by field.
const SAMPLE_BATCH_HEX: &str = concat!(
    "0000000000000000", // base offset (producer sends 0)
    "00000042",         // batch length: 66 bytes follow
    "ffffffff",         // partition leader epoch (-1 from a producer)
    "02",               // magic
    "SAMPLECRC",        // CRC-32C of attributes..end, checked separately below
    "0000",             // attributes: no compression, CreateTime
    "00000000",         // last offset delta
    "0000018bcfe56800", // base timestamp 1_700_000_000_000
    "0000018bcfe56800", // max timestamp
    "ffffffffffffffff", // producer id
    "ffff",             // producer epoch
    "ffffffff",         // base sequence
    "00000001",         // records count
    // record: length 16 (zig-zag 0x20), attributes, ts delta 0, offset delta 0,
    // key len 1 (zig-zag 0x02) "k", value len 5 (0x0a) "hello", 1 header: "h" = "v"
    "20",
    "00",
    "00",
    "00",
    "02",
    "6b",
    "0a",
    "68656c6c6f",
    "02",
    "02",
    "68",
    "02",
    "76",
);

#[test]
fn record_batch_encoding_is_kafkas() {
    let batch = sample_batch();
    let crc = flyq_protocol::header::compute_crc(&batch);
    let expected = SAMPLE_BATCH_HEX.replace("SAMPLECRC", &format!("{crc:08x}"));
    assert_eq!(hex(&batch), expected);
    // CRC-32C (Castagnoli) over bytes 21.. of this exact batch, as computed by an independent
    // bitwise implementation.
    assert_eq!(crc, 0xc622_acfa, "crc {crc:#x}");
}

#[test]
fn segment_files_hold_batches_as_received_with_offsets_and_epoch_assigned() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 1,
        flush: FlushPolicy::EVERY_APPEND,
        ..LogConfig::default()
    };
    let log = Log::open(dir.path(), config, LogEnv::os()).unwrap();
    log.set_leader_epoch(5);
    let batch = sample_batch();
    log.append(&batch).unwrap();
    log.append(&batch).unwrap();
    log.close().unwrap();

    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "00000000000000000000.index",
            "00000000000000000000.log",
            "00000000000000000000.timeindex"
        ]
    );

    let log_bytes = fs::read(dir.path().join("00000000000000000000.log")).unwrap();
    let mut expected = Vec::new();
    for base in [0i64, 1] {
        let mut stored = batch.clone();
        stored[..8].copy_from_slice(&base.to_be_bytes());
        stored[12..16].copy_from_slice(&5i32.to_be_bytes());
        expected.extend_from_slice(&stored);
    }
    assert_eq!(log_bytes, expected);
    // The second batch starts at byte 78: base offset 1, length 66, leader epoch 5.
    assert_eq!(hex(&log_bytes[78..94]), "00000000000000010000004200000005");

    // Offset index: (relative offset u32, position u32) big-endian, one entry per batch here.
    let index = fs::read(dir.path().join("00000000000000000000.index")).unwrap();
    // With an index interval of 1 byte every batch gets an entry: (0, 0) and (1, 78).
    assert_eq!(hex(&index), "0000000000000000000000010000004e");
    // Time index: (max timestamp i64, relative offset u32) big-endian.
    let time_index = fs::read(dir.path().join("00000000000000000000.timeindex")).unwrap();
    assert_eq!(hex(&time_index), "0000018bcfe5680000000000");
}

#[test]
fn sealed_segment_index_ends_with_the_seal_trailer() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let log = Log::open(dir.path(), config, LogEnv::os()).unwrap();
    log.append(&sample_batch()).unwrap();
    log.append(&sample_batch()).unwrap();
    log.roll().unwrap();
    log.close().unwrap();
    let index = fs::read(dir.path().join("00000000000000000000.index")).unwrap();
    assert_eq!(
        hex(&index),
        "0000000000000000000000010000004effffffffffffffff"
    );
    // The new active segment has no trailer (and no entries yet).
    let active = fs::read(dir.path().join("00000000000000000002.index")).unwrap_or_default();
    assert!(active.is_empty());
}

#[test]
fn log_start_checkpoint_format() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default(), LogEnv::os()).unwrap();
    for _ in 0..3 {
        log.append(&sample_batch()).unwrap();
    }
    log.set_high_watermark(log.log_end_offset());
    log.delete_records(2).unwrap();
    let bytes = fs::read(dir.path().join(flyq_log::LOG_START_FILE)).unwrap();
    // "FQLS", version 1, offset 2, CRC-32C of the first 16 bytes.
    assert_eq!(hex(&bytes[..16]), "46514c53000000010000000000000002");
    assert_eq!(
        u32::from_be_bytes(bytes[16..].try_into().unwrap()),
        crc32c::crc32c(&bytes[..16])
    );
}
