//! Interop with kcat (Debian's, librdkafka 2.0.2) against a real `flyq serve`: produce and
//! consume with keys and headers, every compression codec, and data surviving kill -9.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{Flyq, kcat, run};

fn consume_all(flyq: &Flyq, topic: &str, format: &str) -> Vec<String> {
    let out = kcat(
        flyq,
        &[
            "-C",
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            format,
        ],
        None,
    );
    out.lines().map(str::to_owned).collect()
}

#[test]
fn kcat_produces_and_consumes_keys_values_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    kcat(
        &flyq,
        &[
            "-P",
            "-t",
            "orders",
            "-K:",
            "-H",
            "source=test",
            "-H",
            "n=1",
        ],
        Some("k1:v1\nk2:v2\n"),
    );
    kcat(&flyq, &["-P", "-t", "orders", "-K:"], Some("k3:v3\n"));
    let lines = consume_all(&flyq, "orders", "%o %k=%s [%h]\\n");
    assert_eq!(
        lines,
        [
            "0 k1=v1 [source=test,n=1]",
            "1 k2=v2 [source=test,n=1]",
            "2 k3=v3 []"
        ]
    );
    let metadata = kcat(&flyq, &["-L", "-t", "orders"], None);
    assert!(
        metadata.contains("topic \"orders\" with 1 partitions"),
        "{metadata}"
    );
}

#[test]
fn every_compression_codec_is_stored_and_served_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let input: String = (0..50).map(|i| format!("{codec}-{i}\n")).collect();
        kcat(&flyq, &["-P", "-t", codec, "-z", codec], Some(&input));
        let lines = consume_all(&flyq, codec, "%s\\n");
        let expected: Vec<String> = (0..50).map(|i| format!("{codec}-{i}")).collect();
        assert_eq!(lines, expected, "{codec}");
    }
    // The batches really are compressed on disk: the log's dump shows the codec.
    let (_, dump, _) = run(
        Command::new(env!("CARGO_BIN_EXE_flyq"))
            .args(["log", "dump"])
            .arg(dir.path().join("topics").join("zstd-0")),
        None,
    );
    assert!(dump.contains("zstd"), "{dump}");
}

#[test]
fn acknowledged_records_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut flyq = Flyq::start(dir.path(), &[]);
    let input: String = (0..200).map(|i| format!("record-{i}\n")).collect();
    kcat(
        &flyq,
        &["-P", "-t", "durable", "-X", "acks=all"],
        Some(&input),
    );
    flyq.kill9_and_restart();
    let lines = consume_all(&flyq, "durable", "%s\\n");
    let expected: Vec<String> = (0..200).map(|i| format!("record-{i}")).collect();
    assert_eq!(lines, expected);
}
