//! Helpers for tests that run the real `flyq` binary: start a broker on a free port, stop it
//! (gracefully or with SIGKILL), run commands and kcat against it. Raw Kafka requests are sent
//! with flyq-testkit's `kafka::Conn`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `flyq serve` process owned by a test; killed when dropped. Its HTTP API listens on a
/// free port unless `extra` names `--http-addr` (the default port would clash between tests).
pub struct Flyq {
    child: Child,
    pub addr: SocketAddr,
    /// Where the HTTP API listens.
    pub http: SocketAddr,
    pub data_dir: PathBuf,
    extra: Vec<String>,
}

impl Flyq {
    /// Starts a broker on a free port with its data in `data_dir`.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, addr, http) = spawn(data_dir, "127.0.0.1:0", &extra);
        Self {
            child,
            addr,
            http,
            data_dir: data_dir.to_path_buf(),
            extra,
        }
    }

    /// SIGKILLs the broker and starts it again on the same port and data.
    pub fn kill9_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let (child, addr, http) = spawn(&self.data_dir, &self.addr.to_string(), &self.extra);
        self.child = child;
        self.http = http;
        assert_eq!(addr, self.addr);
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "flyq did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Flyq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `name=` in a log line.
fn field(line: &str, name: &str) -> Option<String> {
    line.split(&format!(" {name}="))
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .map(str::to_owned)
}

fn spawn(data_dir: &Path, addr: &str, extra: &[String]) -> (Child, SocketAddr, SocketAddr) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flyq"));
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--kafka-addr", addr]);
    if !extra.iter().any(|a| a == "--http-addr") {
        command.args(["--http-addr", "127.0.0.1:0"]);
    }
    let mut child = command
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = startup_line(&mut child).expect("flyq did not start");
    let (addr, http) = field(&line, "kafka")
        .zip(field(&line, "http"))
        .expect("no addresses in the log line");
    (child, addr.parse().unwrap(), http.parse().unwrap())
}

/// Waits (30 s at most) for a `flyq serve` child's "flyq listening" line on its piped stderr,
/// and keeps draining stderr afterwards so the broker never blocks on a full pipe.
pub fn startup_line(child: &mut Child) -> Option<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("flyq listening") {
                let _ = tx.send(line.clone());
            }
            if std::env::var_os("FLYQ_TEST_ECHO").is_some() {
                eprintln!("[flyq] {line}");
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30)).ok()
}

/// Runs a command with a timeout, returning (exit code, stdout, stderr).
pub fn run(cmd: &mut Command, input: Option<&str>) -> (i32, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs kcat against `flyq` (30 s at most) with `args` and optional stdin; asserts it
/// succeeded and returns its stdout.
pub fn kcat(flyq: &Flyq, args: &[&str], input: Option<&str>) -> String {
    let (code, out, err) = run(
        Command::new("timeout")
            .arg("30")
            .arg("kcat")
            .args(["-b", &flyq.bootstrap()])
            .args(args),
        input,
    );
    assert_eq!(code, 0, "kcat {args:?} failed:\n{err}");
    out
}
