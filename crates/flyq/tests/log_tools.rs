//! Runs the `flyq log` commands as a user would, against logs written by flyq-log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use flyq_log::{Log, LogConfig, LogEnv};
use flyq_protocol::builder::filler_batch;

fn flyq(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flyq"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn write_log(dir: &std::path::Path, batches: usize) {
    let log = Log::open(dir, LogConfig::default(), LogEnv::os()).unwrap();
    for i in 0..batches {
        log.append(&filler_batch(1_700_000_000_000 + i as i64, 5, 20))
            .unwrap();
    }
    log.close().unwrap();
}

#[test]
fn check_reports_a_healthy_log_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 4);
    let (code, out) = flyq(&["log", "check", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("offsets:        0 .. 20"), "{out}");
    assert!(out.contains("every batch intact"), "{out}");
}

#[test]
fn check_reports_a_cut_tail() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 4);
    let seg = dir.path().join("00000000000000000000.log");
    let bytes = std::fs::read(&seg).unwrap();
    std::fs::write(&seg, &bytes[..bytes.len() - 5]).unwrap();
    let (code, out) = flyq(&["log", "check", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("recovery:       cut"), "{out}");
    assert!(out.contains("offsets:        0 .. 15"), "{out}");
}

#[test]
fn check_flags_corrupt_durable_data_without_cutting_it() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 4);
    let seg = dir.path().join("00000000000000000000.log");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[70] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let (code, out) = flyq(&["log", "check", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("recovery:       FENCED"), "{out}");
    assert!(out.contains("corrupt:        segment 0 at byte 0"), "{out}");
    assert_eq!(
        std::fs::read(&seg).unwrap(),
        bytes,
        "corrupt durable data must not be cut"
    );
}

#[test]
fn dump_prints_one_line_per_batch() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 3);
    let (code, out) = flyq(&["log", "dump", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(
        rows[1].split_whitespace().take(3).eq(["5", "9", "5"]),
        "{out}"
    );
    let (_, out) = flyq(&[
        "log",
        "dump",
        dir.path().to_str().unwrap(),
        "--from",
        "7",
        "--count",
        "1",
    ]);
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn missing_directory_is_a_clear_error() {
    let (code, out) = flyq(&["log", "check", "/nonexistent/flyq"]);
    assert_eq!(code, 2);
    assert!(
        out.contains("/nonexistent/flyq is not a directory"),
        "{out}"
    );
}
