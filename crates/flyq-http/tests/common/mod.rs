//! Helpers the HTTP API tests share.
#![allow(dead_code)]

use bytes::Bytes;
use flyq_testkit::TestBroker;
use flyq_testkit::http_client::{Answer, http};
use flyq_testkit::kafka::{Conn, batch, produce_to};

/// `GET path` on the broker's HTTP API.
pub fn get(flyq: &TestBroker, path: &str) -> Answer {
    http(flyq.http, "GET", path, None)
}

/// Produces `records` to `topic`-`partition` over Kafka with acks=all, asserts it succeeded and
/// returns the base offset.
pub fn produce(conn: &mut Conn, topic: &str, partition: i32, records: Bytes) -> i64 {
    let (error_code, base_offset) = produce_to(conn, topic, partition, -1, records);
    assert_eq!(error_code, 0, "produce to {topic}-{partition}");
    base_offset
}

/// An uncompressed batch of binary values (no keys).
pub fn plain_batch(values: &[&[u8]]) -> Bytes {
    batch(values)
}
