//! The Kafka listener of a real `flyq serve` process, where the process matters: a clean stop
//! on SIGTERM, idempotent producer state rebuilt after kill -9, and the process's memory under
//! 2,000 idle connections and an unread pipeline. The protocol-level tests that need no
//! process are in `crates/flyq-kafka/tests/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::Flyq;
use flyq_protocol::builder::{RecordSpec, build_batch};
use flyq_testkit::kafka::{Conn, batch, canary, fetch, produce};
use kafka_protocol::messages::*;

#[test]
fn sigterm_stops_cleanly_and_data_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    let mut conn = Conn::open(flyq.addr);
    produce(&mut conn, "durable", -1, batch(&["kept"]));
    drop(conn);
    assert_eq!(flyq.terminate(), Some(0));
    let flyq = Flyq::start(dir.path(), &[]);
    let mut conn = Conn::open(flyq.addr);
    let (code, high_watermark, records) = fetch(&mut conn, "durable", 0, 0);
    assert_eq!((code, high_watermark), (0, 1));
    assert!(!records.is_empty());
}

fn init_producer_id(conn: &mut Conn, existing: Option<(i64, i16)>) -> (i16, i64, i16) {
    let mut request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000);
    if let Some((id, epoch)) = existing {
        request = request
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch);
    } else {
        request = request
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    let response: InitProducerIdResponse = conn.call(ApiKey::InitProducerId, 4, &request);
    (
        response.error_code,
        response.producer_id.0,
        response.producer_epoch,
    )
}

fn idempotent(values: &[&str], producer_id: i64, epoch: i16, sequence: i32) -> Bytes {
    let specs: Vec<RecordSpec> = values
        .iter()
        .map(|v| RecordSpec::value(v.as_bytes().to_vec()))
        .collect();
    let batch = build_batch(0, 1_700_000_000_000, &specs);
    Bytes::from(flyq_protocol::builder::with_producer(
        batch,
        producer_id,
        epoch,
        sequence,
    ))
}

#[test]
fn idempotent_producer_retries_are_not_appended_twice_even_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut flyq = Flyq::start(dir.path(), &[]);
    let mut conn = Conn::open(flyq.addr);
    let (code, pid, epoch) = init_producer_id(&mut conn, None);
    assert_eq!((code, epoch), (0, 0));
    assert_eq!(
        produce(&mut conn, "idem", -1, idempotent(&["a", "b"], pid, 0, 0)),
        (0, 0)
    );
    // A retry of the same batch: acknowledged with its original offset, not appended again.
    assert_eq!(
        produce(&mut conn, "idem", -1, idempotent(&["a", "b"], pid, 0, 0)),
        (0, 0)
    );
    assert_eq!(fetch(&mut conn, "idem", 0, 0).1, 2);
    // A gap in sequences is refused.
    assert_eq!(
        produce(&mut conn, "idem", -1, idempotent(&["x"], pid, 0, 5)).0,
        45
    );
    assert_eq!(
        produce(&mut conn, "idem", -1, idempotent(&["c"], pid, 0, 2)),
        (0, 2)
    );
    // After a crash, the state is rebuilt from the log: the retry is still recognised.
    flyq.kill9_and_restart();
    let mut conn = Conn::open(flyq.addr);
    assert_eq!(
        produce(&mut conn, "idem", -1, idempotent(&["c"], pid, 0, 2)),
        (0, 2)
    );
    assert_eq!(fetch(&mut conn, "idem", 0, 0).1, 3);
    // Producer ids are not handed out twice, restarts included.
    let (_, other, _) = init_producer_id(&mut conn, None);
    assert_ne!(other, pid);
    // A new epoch (KIP-360) fences the old one.
    let (code, same, bumped) = init_producer_id(&mut conn, Some((pid, 0)));
    assert_eq!((code, same, bumped), (0, pid, 1));
    assert_eq!(
        produce(&mut conn, "idem", -1, idempotent(&["d"], pid, 1, 0)),
        (0, 3)
    );
    assert_eq!(
        produce(&mut conn, "idem", -1, idempotent(&["e"], pid, 0, 3)).0,
        47
    );
}

/// Resident memory of a process, in KiB, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// N1 #19: 2,000 idle connections and a client pipelining requests without reading answers.
/// Others are still served, and the broker's memory stays bounded.
#[test]
fn two_thousand_idle_connections_and_an_unread_pipeline_keep_memory_bounded() {
    // 2,000 sockets here and as many in the broker (which inherits the limit).
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let wanted = limit.maximum.map_or(8192, |max| max.min(8192));
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(wanted),
            maximum: limit.maximum,
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    let pid = flyq.pid();
    let before = rss_kib(pid);
    let idle: Vec<std::net::TcpStream> = (0..2000)
        .map(|_| std::net::TcpStream::connect(flyq.addr).unwrap())
        .collect();
    // Pipelining: 5,000 ApiVersions requests written, none of the answers read.
    let mut pipeline = Conn::open(flyq.addr);
    pipeline.stream.set_nonblocking(true).unwrap();
    let one = {
        // One ApiVersions request as bytes, written again and again.
        let mut buf = bytes::BytesMut::new();
        let header = kafka_protocol::messages::RequestHeader::default()
            .with_request_api_key(ApiKey::ApiVersions as i16)
            .with_request_api_version(3)
            .with_correlation_id(1);
        use kafka_protocol::protocol::Encodable;
        bytes::BufMut::put_i32(&mut buf, 0);
        header
            .encode(&mut buf, ApiKey::ApiVersions.request_header_version(3))
            .unwrap();
        ApiVersionsRequest::default().encode(&mut buf, 3).unwrap();
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        buf.to_vec()
    };
    let mut written = 0usize;
    for _ in 0..5000 {
        match std::io::Write::write(&mut pipeline.stream, &one) {
            Ok(n) => written += n,
            Err(_) => break, // the broker stopped reading: back-pressure
        }
    }
    assert!(written > 0);
    canary(flyq.addr);
    let after = rss_kib(pid);
    // Bounded: far below what 2,000 connections with unbounded buffers would take.
    assert!(
        after < before + 100 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    drop(idle);
    canary(flyq.addr);
}
