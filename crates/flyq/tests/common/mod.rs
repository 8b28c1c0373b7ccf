//! Helpers for tests that run the real `flyq` binary: start a broker on a free port, stop it
//! (gracefully or with SIGKILL), and speak raw Kafka frames to it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

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

/// A raw connection speaking Kafka frames.
pub struct Conn {
    pub stream: TcpStream,
    correlation: i32,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Self {
            stream,
            correlation: 0,
        }
    }

    /// Sends raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a request and returns the decoded response.
    pub fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Req,
    ) -> Resp {
        self.send(key, version, request);
        let mut body = self
            .read_frame()
            .expect("connection closed instead of answering");
        let header =
            ResponseHeader::decode(&mut body, key.response_header_version(version)).unwrap();
        assert_eq!(header.correlation_id, self.correlation);
        Resp::decode(&mut body, version).unwrap()
    }

    /// Sends a request without waiting for the answer.
    pub fn send<Req: Encodable>(&mut self, key: ApiKey, version: i16, request: &Req) {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("flyq-test")));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, key.request_header_version(version))
            .unwrap();
        request.encode(&mut buf, version).unwrap();
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        self.stream.write_all(&buf).unwrap();
    }

    /// Reads one response frame; `None` if the connection was closed.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut body).ok()?;
        Some(Bytes::from(body))
    }

    /// Whether the broker closed the connection (reads EOF or reset) within `within`.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut buf = [0u8; 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return false;
                }
                Err(_) => return true,
            }
        }
    }
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

/// Joins `group` as a consumer-protocol member subscribed to `topic` (the first JoinGroup
/// gets MEMBER_ID_REQUIRED, the second joins), then syncs as leader, giving itself
/// `partitions` of `topic`. Returns the member id and generation.
pub fn join_consumer_group(
    conn: &mut Conn,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> (StrBytes, i32) {
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    use kafka_protocol::messages::{
        ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupId, JoinGroupRequest,
        JoinGroupResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
    };
    let group = GroupId(StrBytes::from_string(group.to_owned()));
    let topic = StrBytes::from_string(topic.to_owned());
    // Consumer-protocol payloads start with their version (i16).
    let mut subscription = BytesMut::new();
    subscription.put_i16(0);
    ConsumerProtocolSubscription::default()
        .with_topics(vec![topic.clone()])
        .encode(&mut subscription, 0)
        .unwrap();
    let join = |conn: &mut Conn, member: StrBytes| -> JoinGroupResponse {
        let request = JoinGroupRequest::default()
            .with_group_id(group.clone())
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(member)
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))
                    .with_metadata(subscription.clone().freeze()),
            ]);
        conn.call(ApiKey::JoinGroup, 5, &request)
    };
    let first = join(conn, StrBytes::default());
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let joined = join(conn, first.member_id);
    assert_eq!(joined.error_code, 0);
    let mut assignment = BytesMut::new();
    assignment.put_i16(0);
    ConsumerProtocolAssignment::default()
        .with_assigned_partitions(vec![
            TopicPartition::default()
                .with_topic(TopicName(topic))
                .with_partitions(partitions.to_vec()),
        ])
        .encode(&mut assignment, 0)
        .unwrap();
    let sync = SyncGroupRequest::default()
        .with_group_id(group)
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(joined.member_id.clone())
                .with_assignment(assignment.freeze()),
        ]);
    let synced: SyncGroupResponse = conn.call(ApiKey::SyncGroup, 3, &sync);
    assert_eq!(synced.error_code, 0);
    (joined.member_id, joined.generation_id)
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
