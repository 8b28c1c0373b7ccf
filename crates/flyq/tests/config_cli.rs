//! `flyq config check` and `flyq serve --config`: the shipped example, errors that name the
//! key, and the precedence file < FLYQ_* variables < flags, seen in a running broker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

const FLYQ: &str = env!("CARGO_BIN_EXE_flyq");
const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/flyq.toml");

fn check(file: &Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(FLYQ)
        .args(["config", "check"])
        .arg(file)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_shipped_config_checks_clean_and_prints_every_section() {
    let (code, stdout, stderr) = check(Path::new(SHIPPED), &[]);
    assert_eq!(code, 0, "{stderr}");
    for section in [
        "[kafka]",
        "[http]",
        "[log]",
        "[topics]",
        "[groups]",
        "[topic_defaults]",
    ] {
        assert!(
            stdout.contains(section),
            "{section} missing from:\n{stdout}"
        );
    }
    assert!(stdout.contains("max_request_size = \"100MiB\""), "{stdout}");
}

#[test]
fn config_check_names_the_bad_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[kafka]\nmax_conections = 5\n").unwrap();
    let (code, stdout, stderr) = check(&file, &[]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("kafka.max_conections"), "{stderr}");

    std::fs::write(&file, "").unwrap();
    let (code, _, stderr) = check(&file, &[("FLYQ_TOPIC_DEFAULTS_SEGMENT_BYTES", "tiny")]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("FLYQ_TOPIC_DEFAULTS_SEGMENT_BYTES"),
        "{stderr}"
    );
}

/// Starts `flyq serve` with `args` and `env`, returns its startup line, and stops it.
fn startup_line(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = Command::new(FLYQ)
        .arg("serve")
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = common::startup_line(&mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    line.expect("no startup line")
}

#[test]
fn flags_beat_variables_which_beat_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flyq.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &file,
        format!(
            "node_id = 7\ndata_dir = {:?}\n[kafka]\naddr = \"127.0.0.1:0\"\nadvertised_addr = \"from-file:1\"\n[http]\naddr = \"127.0.0.1:0\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let config = file.to_str().unwrap();

    let line = startup_line(&["--config", config], &[]);
    assert!(line.contains("node_id=7"), "{line}");
    assert!(line.contains("advertised=from-file:1"), "{line}");

    let env = [
        ("FLYQ_NODE_ID", "8"),
        ("FLYQ_KAFKA_ADVERTISED_ADDR", "from-env:2"),
    ];
    let line = startup_line(&["--config", config], &env);
    assert!(line.contains("node_id=8"), "{line}");
    assert!(line.contains("advertised=from-env:2"), "{line}");

    let line = startup_line(
        &[
            "--config",
            config,
            "--node-id",
            "9",
            "--advertised-addr",
            "from-flag:3",
        ],
        &env,
    );
    assert!(line.contains("node_id=9"), "{line}");
    assert!(line.contains("advertised=from-flag:3"), "{line}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let line = startup_line(
        &[
            "--data-dir",
            data,
            "--kafka-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ],
        &[("FLYQ_HTTP_ADDR", "127.0.0.1:0")],
    );
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["message"], "flyq listening");
    assert_eq!(event["level"], "INFO");
    assert_eq!(event["data_dir"], data);
}

#[test]
fn serve_refuses_an_invalid_config_before_touching_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(FLYQ)
        .args([
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--kafka-addr",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("kafka.advertised_addr"), "{stderr}");
    assert!(!data.exists());
}
