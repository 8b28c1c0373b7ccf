//! The HTTP operator API of a real `flyq serve` process, where the process matters:
//! readiness turns 503 as soon as SIGTERM arrives. Everything else about the HTTP API is
//! tested in-process in `crates/flyq-http/tests/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::Flyq;
use flyq_testkit::http_client::{Answer, http};
use flyq_testkit::kafka::{Conn, batch, name, produce_to};
use kafka_protocol::messages::*;
use serde_json::json;

fn get(flyq: &Flyq, path: &str) -> Answer {
    http(flyq.http, "GET", path, None)
}

#[test]
fn readiness_turns_503_as_soon_as_shutdown_begins() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    let mut conn = Conn::open(flyq.addr);
    let (error_code, _) = produce_to(&mut conn, "quiet", 0, -1, batch(&[b"x"]));
    assert_eq!(error_code, 0, "produce to quiet-0");
    // A fetch long-polling past the end holds shutdown open while Kafka connections drain.
    let fetch = FetchRequest::default()
        .with_max_wait_ms(5000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name("quiet"))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(1)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    conn.send(ApiKey::Fetch, 12, &fetch);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(get(&flyq, "/health/ready").status, 200);
    let pid = flyq.pid().to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(signalled.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while get(&flyq, "/health/ready").status != 503 {
        assert!(
            std::time::Instant::now() < deadline,
            "still ready after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let health = get(&flyq, "/health");
    assert_eq!(
        (health.status, &health.json()["status"]),
        (503, &json!("stopping"))
    );
    assert_eq!(get(&flyq, "/health/live").status, 200);
    assert_eq!(flyq.terminate(), Some(0));
}
