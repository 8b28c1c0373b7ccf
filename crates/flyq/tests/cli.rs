//! The client CLI end to end: each test starts its own `flyq serve`, runs `flyq <command>
//! --brokers ADDR` against it and checks stdout, stderr and the documented exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Flyq;
use serde_json::Value;

const FLYQ: &str = env!("CARGO_BIN_EXE_flyq");

/// A broker and the CLI pointed at it.
struct Cli {
    broker: Flyq,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let broker = Flyq::start(dir.path(), &[]);
        Self { broker, _dir: dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(FLYQ);
        cmd.arg("--brokers")
            .arg(self.broker.bootstrap())
            .args(args)
            .env_remove("NO_COLOR")
            .env_remove("FLYQ_BROKERS");
        cmd
    }

    /// Runs `flyq ARGS` with `stdin`; (exit code, stdout, stderr). Piped output must be plain.
    fn run_with(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let out = common::run(&mut self.command(args), stdin);
        assert!(
            !out.1.contains('\x1b'),
            "colour escapes in piped output: {out:?}"
        );
        out
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_with(args, None)
    }

    /// Runs a command that must succeed and returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "flyq {args:?} failed: {err}");
        out
    }

    /// Runs a command that must fail with exit `code` and returns its stderr.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let (actual, _, err) = self.run(args);
        assert_eq!(actual, code, "flyq {args:?}: {err}");
        err
    }

    /// Runs a command with `--json` and parses its stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(&args)).unwrap()
    }
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

/// JSON objects, one per line (consume --format json).
fn records(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Polls `check` until it returns `Some` or 30 s pass.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn topic_create_list_describe_alter_grow_and_delete() {
    let cli = Cli::start();
    let out = cli.ok(&[
        "topic",
        "create",
        "orders",
        "--partitions",
        "2",
        "--config",
        "retention.ms=3600000",
    ]);
    assert!(out.contains("created topic orders"), "{out}");

    let err = cli.fails(1, &["topic", "create", "orders"]);
    assert!(err.contains("already exists"), "{err}");

    let table = cli.ok(&["topic", "list"]);
    assert_eq!(lines(&table)[0].trim(), "TOPIC");
    assert!(lines(&table).contains(&"orders"), "{table}");
    let listed = cli.json(&["topic", "list"]);
    assert!(listed.as_array().unwrap().contains(&"orders".into()));

    let described = cli.json(&["topic", "describe", "orders"]);
    assert_eq!(described["name"], "orders");
    assert_eq!(described["partitions"].as_array().unwrap().len(), 2);
    assert_eq!(described["partitions"][1]["high_watermark"], 0);
    assert_eq!(described["configs"]["retention.ms"]["value"], "3600000");
    assert_eq!(described["configs"]["retention.ms"]["default"], false);
    let table = cli.ok(&["topic", "describe", "orders"]);
    assert!(table.contains("PARTITION") && table.contains("LEADER") && table.contains("HIGH"));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("retention.ms") && l.contains("3600000")),
        "{table}"
    );

    cli.ok(&[
        "topic",
        "alter",
        "orders",
        "--config",
        "segment.ms=60000",
        "--delete-config",
        "retention.ms",
    ]);
    let described = cli.json(&["topic", "describe", "orders"]);
    assert_eq!(described["configs"]["segment.ms"]["value"], "60000");
    assert_eq!(described["configs"]["retention.ms"]["default"], true);

    cli.ok(&["topic", "add-partitions", "orders", "--count", "3"]);
    let described = cli.json(&["topic", "describe", "orders"]);
    assert_eq!(described["partitions"].as_array().unwrap().len(), 3);

    cli.ok(&["topic", "delete", "orders"]);
    let listed = cli.json(&["topic", "list"]);
    assert!(!listed.as_array().unwrap().contains(&"orders".into()));
    let err = cli.fails(1, &["topic", "describe", "orders"]);
    assert!(err.contains("orders"), "{err}");
}

#[test]
fn produce_from_args_and_stdin_then_consume_as_text_and_json() {
    let cli = Cli::start();
    cli.ok(&["topic", "create", "events", "--partitions", "1"]);
    let out = cli.ok(&[
        "produce", "events", "one", "two", "--key", "k0", "--header", "h=v", "-v",
    ]);
    assert_eq!(
        lines(&out),
        [
            "events\tpartition=0\toffset=0",
            "events\tpartition=0\toffset=1"
        ]
    );
    let (code, out, err) = cli.run_with(
        &["produce", "events", "--key-separator", ":"],
        Some("k1:three\nk2:four:4\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "{out}");

    let err = cli.fails(1, &["produce", "events", "--partition", "7", "x"]);
    assert!(err.contains("events/7"), "{err}");

    let text = cli.ok(&["consume", "events", "--exit-at-end"]);
    assert_eq!(lines(&text), ["one", "two", "three", "four:4"]);
    let text = cli.ok(&[
        "consume",
        "events",
        "--exit-at-end",
        "--show-key",
        "--show-headers",
    ]);
    assert_eq!(
        lines(&text),
        [
            "k0\tone\th=v",
            "k0\ttwo\th=v",
            "k1\tthree\t",
            "k2\tfour:4\t"
        ]
    );

    let json = records(&cli.ok(&["consume", "events", "--count", "2", "--format", "json"]));
    assert_eq!(json.len(), 2);
    assert_eq!(json[0]["topic"], "events");
    assert_eq!(json[0]["partition"], 0);
    assert_eq!(json[1]["offset"], 1);
    assert_eq!(json[0]["key"], "k0");
    assert_eq!(json[0]["value"], "one");
    assert_eq!(json[0]["headers"][0]["key"], "h");
    assert_eq!(json[0]["headers"][0]["value"], "v");
    assert!(json[0]["timestamp"].as_i64().unwrap() > 0);
    assert!(json[0].get("value_encoding").is_none());
}

#[test]
fn produce_delivers_each_stdin_line_while_more_input_may_come() {
    let cli = Cli::start();
    cli.ok(&["topic", "create", "live", "--partitions", "1"]);
    let mut child = cli
        .command(&["produce", "live", "-v"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = Reaped(Some(child));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let _ = tx.send(line.unwrap());
        }
    });
    std::io::Write::write_all(&mut stdin, b"first\n").unwrap();
    // Stdin stays open: the record must still go out (after its linger), not wait for more.
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(line, "live\tpartition=0\toffset=0");
    std::io::Write::write_all(&mut stdin, b"second\n").unwrap();
    drop(stdin);
    let status = child.0.take().unwrap().wait().unwrap();
    assert!(status.success());
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(20)).unwrap(),
        "live\tpartition=0\toffset=1"
    );
}

#[test]
fn binary_values_round_trip_as_base64_in_json() {
    let cli = Cli::start();
    cli.ok(&["topic", "create", "bin", "--partitions", "1"]);
    let mut child = cli
        .command(&["produce", "bin", "--key-separator", "="])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"k\xff=\x00\xfe\ntext\n").unwrap();
    assert!(child.wait().unwrap().success());
    let json = records(&cli.ok(&["consume", "bin", "-e", "--format", "json"]));
    assert_eq!(json.len(), 2);
    assert_eq!(json[0]["key"], "a/8=");
    assert_eq!(json[0]["key_encoding"], "base64");
    assert_eq!(json[0]["value"], "AP4=");
    assert_eq!(json[0]["value_encoding"], "base64");
    assert_eq!(json[1]["key"], Value::Null);
    assert_eq!(json[1]["value"], "text");
    assert!(json[1].get("value_encoding").is_none());
}

#[test]
fn tables_are_bold_only_when_colour_is_forced_and_never_with_no_color() {
    let cli = Cli::start();
    let forced = common::run(
        cli.command(&["topic", "list"]).env("CLICOLOR_FORCE", "1"),
        None,
    );
    assert_eq!(forced.0, 0, "{forced:?}");
    assert!(forced.1.starts_with("\x1b["), "{forced:?}");
    let refused = common::run(
        cli.command(&["topic", "list"])
            .env("CLICOLOR_FORCE", "1")
            .env("NO_COLOR", "1"),
        None,
    );
    assert_eq!(refused.0, 0, "{refused:?}");
    assert!(!refused.1.contains('\x1b'), "{refused:?}");
}

#[test]
fn consume_starts_at_an_offset_a_timestamp_or_the_end() {
    let cli = Cli::start();
    cli.ok(&["topic", "create", "t", "--partitions", "1"]);
    cli.ok(&["produce", "t", "r0", "r1", "r2"]);
    let from_offset = cli.ok(&["consume", "t", "--from", "1", "--exit-at-end"]);
    assert_eq!(lines(&from_offset), ["r1", "r2"]);

    // Later records get a later timestamp: wait for the clock to pass the last one.
    let last = records(&cli.ok(&["consume", "t", "--from", "2", "-n", "1", "--format", "json"]));
    let last_ts = last[0]["timestamp"].as_i64().unwrap();
    eventually("the clock to move", || (now_ms() > last_ts).then_some(()));
    let cut = now_ms();
    cli.ok(&["produce", "t", "r3", "r4"]);
    let from_time = cli.ok(&["consume", "t", "--from", &format!("@{cut}"), "-e"]);
    assert_eq!(lines(&from_time), ["r3", "r4"]);

    let at_end = cli.ok(&["consume", "t", "--from", "latest", "--exit-at-end"]);
    assert!(at_end.is_empty(), "{at_end}");

    // Following from the end prints only records written after it started; keep writing
    // until one arrives, since the start is not observable from outside.
    let follower = cli
        .command(&["consume", "t", "--from", "latest", "--count", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut follower = Reaped(Some(follower));
    let mut n = 0;
    eventually("the follower to print a new record", || {
        cli.ok(&["produce", "t", &format!("new-{n}")]);
        n += 1;
        follower.0.as_mut().unwrap().try_wait().unwrap().map(|_| ())
    });
    let output = follower.0.take().unwrap().wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(lines(&printed).len(), 1, "{printed}");
    assert!(printed.starts_with("new-"), "{printed}");
}

#[test]
fn following_consumer_stops_cleanly_on_ctrl_c() {
    let cli = Cli::start();
    cli.ok(&["topic", "create", "f", "--partitions", "2"]);
    cli.ok(&["produce", "f", "x", "--partition", "1"]);
    let mut child = cli
        .command(&["consume", "f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = Reaped(Some(child));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let _ = tx.send(line.unwrap());
        }
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), "x");
    child.interrupt();
}

/// A child process killed if the test fails before waiting for it.
struct Reaped(Option<Child>);

impl Reaped {
    /// Sends Ctrl-C (SIGINT), waits, and checks the command exited 0; returns its output.
    fn interrupt(&mut self) -> std::process::Output {
        let child = self.0.take().unwrap();
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn group_lag(cli: &Cli, group: &str) -> i64 {
    cli.json(&["group", "lag", group])["total_lag"]
        .as_i64()
        .unwrap()
}

#[test]
fn consumer_group_commits_then_describe_lag_reset_and_delete() {
    let cli = Cli::start();
    cli.ok(&["topic", "create", "jobs", "--partitions", "1"]);
    cli.ok(&["produce", "jobs", "a", "b", "c", "d"]);

    let first = cli.ok(&["consume", "jobs", "--group", "workers", "--count", "2"]);
    assert_eq!(lines(&first), ["a", "b"]);
    // The group resumes where it committed.
    let next = cli.ok(&["consume", "jobs", "--group", "workers", "--count", "1"]);
    assert_eq!(lines(&next), ["c"]);

    let groups = cli.json(&["group", "list"]);
    assert!(
        groups
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["group"] == "workers"),
        "{groups}"
    );
    assert!(cli.ok(&["group", "list"]).contains("workers"));

    let described = cli.json(&["group", "describe", "workers"]);
    assert_eq!(described["state"], "Empty");
    assert_eq!(described["members"].as_array().unwrap().len(), 0);
    assert_eq!(described["offsets"][0]["committed"], 3);
    assert_eq!(described["offsets"][0]["log_end"], 4);
    assert_eq!(described["offsets"][0]["lag"], 1);
    let table = cli.ok(&["group", "describe", "workers"]);
    assert!(
        table.contains("COMMITTED") && table.contains("LAG"),
        "{table}"
    );
    assert_eq!(group_lag(&cli, "workers"), 1);
    assert!(
        cli.ok(&["group", "lag", "workers"])
            .contains("total lag: 1")
    );

    let dry = cli.json(&[
        "group",
        "reset-offsets",
        "workers",
        "--topic",
        "jobs",
        "--to",
        "earliest",
        "--dry-run",
    ]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["partitions"][0]["previous"], 3);
    assert_eq!(dry["partitions"][0]["new"], 0);
    assert_eq!(group_lag(&cli, "workers"), 1, "a dry run must not commit");
    cli.ok(&[
        "group",
        "reset-offsets",
        "workers",
        "--topic",
        "jobs",
        "--to",
        "1",
    ]);
    assert_eq!(group_lag(&cli, "workers"), 3);

    // A live member: reset is refused, and Ctrl-C makes it commit and leave at once.
    let member = cli
        .command(&["consume", "jobs", "--group", "workers"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut member = Reaped(Some(member));
    eventually("the member to join and catch up", || {
        let d = cli.json(&["group", "describe", "workers"]);
        (d["members"].as_array().unwrap().len() == 1 && d["offsets"][0]["lag"] == 0).then_some(())
    });
    let described = cli.json(&["group", "describe", "workers"]);
    assert_eq!(described["state"], "Stable");
    assert_eq!(described["members"][0]["client_id"], "flyq-cli");
    assert_eq!(described["members"][0]["assignments"][0], "jobs/0");
    let err = cli.fails(
        1,
        &[
            "group",
            "reset-offsets",
            "workers",
            "--topic",
            "jobs",
            "--to",
            "earliest",
        ],
    );
    assert!(err.contains("active member"), "{err}");

    let output = member.interrupt();
    assert_eq!(
        lines(&String::from_utf8(output.stdout).unwrap()),
        ["b", "c", "d"]
    );
    // Left cleanly: no session timeout to wait for.
    let described = cli.json(&["group", "describe", "workers"]);
    assert_eq!(described["members"].as_array().unwrap().len(), 0);

    cli.ok(&["group", "delete", "workers"]);
    let groups = cli.json(&["group", "list"]);
    assert!(
        !groups
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["group"] == "workers"),
        "{groups}"
    );
}

#[test]
fn cluster_info_names_the_broker_and_counts_topics() {
    let cli = Cli::start();
    cli.ok(&["topic", "create", "a"]);
    let info = cli.json(&["cluster", "info"]);
    assert!(!info["cluster_id"].as_str().unwrap().is_empty());
    let nodes = info["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["port"], cli.broker.addr.port());
    assert_eq!(nodes[0]["id"], info["controller"]);
    assert!(info["topics"].as_u64().unwrap() >= 1);
    let table = cli.ok(&["cluster", "info"]);
    assert!(table.contains(&cli.broker.bootstrap()), "{table}");
    assert!(table.contains("controller"), "{table}");
}

fn check_bench(report: &Value, mode: &str, records: u64, bytes: u64) {
    assert_eq!(report["mode"], mode);
    assert_eq!(report["records"], records);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["bytes"], bytes);
    let seconds = report["seconds"].as_f64().unwrap();
    let rate = report["records_per_sec"].as_f64().unwrap();
    assert!(seconds > 0.0 && rate > 0.0, "{report}");
    // msgs/s and MB/s must agree with the counts and the elapsed time.
    assert!((rate * seconds - records as f64).abs() < 1.0, "{report}");
    let mb = report["mb_per_sec"].as_f64().unwrap() * seconds * 1024.0 * 1024.0;
    assert!((mb - bytes as f64).abs() < 1.0, "{report}");
    let l = &report["latency_ms"];
    let p = |k: &str| l[k].as_f64().unwrap();
    assert!(p("p50") > 0.0, "{report}");
    assert!(p("p50") <= p("p95") && p("p95") <= p("p99"), "{report}");
    assert!(p("p99") <= p("p999") && p("p999") <= p("max"), "{report}");
}

#[test]
fn bench_produce_then_consume_report_consistent_json() {
    let cli = Cli::start();
    let produced = cli.json(&[
        "bench",
        "produce",
        "--topic",
        "perf",
        "--count",
        "3000",
        "--size",
        "64",
        "--partitions",
        "3",
        "--batch-size",
        "16384",
    ]);
    check_bench(&produced, "produce", 3000, 3000 * 64);
    assert_eq!(produced["latency_kind"], "send-to-ack");
    let described = cli.json(&["topic", "describe", "perf"]);
    let partitions = described["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 3);
    let stored: i64 = partitions
        .iter()
        .map(|p| p["high_watermark"].as_i64().unwrap())
        .sum();
    assert_eq!(stored, 3000);

    let consumed = cli.json(&["bench", "consume", "--topic", "perf"]);
    check_bench(&consumed, "consume", 3000, 3000 * 64);
    assert_eq!(consumed["latency_kind"], "end-to-end");

    let tuned = cli.json(&[
        "bench",
        "produce",
        "--topic",
        "perf",
        "--count",
        "500",
        "--size",
        "10",
        "--acks",
        "1",
        "--compression",
        "lz4",
        "--linger",
        "1ms",
    ]);
    check_bench(&tuned, "produce", 500, 500 * 10);
    // Without idempotence more requests may be in flight; with it, more than 5 are refused.
    let unordered = cli.json(&[
        "bench",
        "produce",
        "--topic",
        "perf",
        "--count",
        "500",
        "--no-idempotence",
        "--max-in-flight",
        "20",
    ]);
    check_bench(&unordered, "produce", 500, 500 * 100);
    let err = cli.fails(
        2,
        &[
            "bench",
            "produce",
            "--topic",
            "perf",
            "--max-in-flight",
            "6",
        ],
    );
    assert!(err.contains("max_in_flight"), "{err}");

    // The rate limit is an upper bound whatever the machine's speed: at most rate x duration
    // sends are due (plus the one at time zero).
    let limited = cli.json(&[
        "bench",
        "produce",
        "--topic",
        "perf",
        "--duration",
        "1s",
        "--rate",
        "100",
    ]);
    let sent = limited["records"].as_u64().unwrap();
    assert!(sent > 0 && sent <= 101, "{limited}");
    assert_eq!(limited["failed"], 0);

    let human = cli.ok(&["bench", "produce", "--topic", "perf", "--count", "10"]);
    assert!(
        human.contains("msgs/s") && human.contains("p99.9"),
        "{human}"
    );
}

#[test]
fn completion_prints_a_bash_script_for_every_command() {
    let out = Command::new(FLYQ)
        .args(["completion", "bash"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("_flyq()"), "not a bash completion script");
    for word in ["topic", "produce", "consume", "reset-offsets", "bench"] {
        assert!(script.contains(word), "{word} missing");
    }
}

#[test]
fn unreachable_broker_exits_3_and_says_what_to_do() {
    // Port 1 (tcpmux) is privileged and unused: no test broker can take it, unlike a port
    // released by another test.
    let addr = "127.0.0.1:1";
    let out = common::run(
        Command::new(FLYQ)
            .args(["topic", "list"])
            .env("FLYQ_BROKERS", addr),
        None,
    );
    assert_eq!(out.0, 3, "{out:?}");
    assert!(out.1.is_empty());
    assert!(
        out.2.contains(&format!("no broker reachable at {addr}")),
        "{}",
        out.2
    );
    assert!(out.2.contains("flyq serve"), "{}", out.2);
}

#[test]
fn usage_errors_exit_2() {
    let cli = Cli::start();
    for args in [
        &["topic", "create"][..],
        &["consume", "t", "--from", "yesterday"],
        &["consume", "t", "--group", "g", "--from", "5"],
        &["topic", "alter", "t"],
        &["produce", "t", "--header", "novalue"],
        &["bench", "produce", "--acks", "2"],
    ] {
        let (code, out, err) = cli.run(args);
        assert_eq!(code, 2, "flyq {args:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert!(!err.is_empty());
    }
}
