//! The kit's own promises: a `TestBroker` serves both listeners until dropped, and dropping it
//! stops them and lets the data directory be opened again, with what was written still there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;

use flyq_testkit::TestBroker;
use flyq_testkit::http_client::http;
use flyq_testkit::kafka::{Conn, batch, fetch, produce};

#[test]
fn dropping_stops_both_listeners_and_releases_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path());
    let (kafka, web) = (broker.addr, broker.http);
    assert_eq!(http(web, "GET", "/health/ready", None).status, 200);
    let mut conn = Conn::open(kafka);
    assert_eq!(produce(&mut conn, "kept", -1, batch(&["one"])), (0, 0));
    drop(broker);
    assert!(TcpStream::connect(kafka).is_err(), "Kafka still listening");
    assert!(TcpStream::connect(web).is_err(), "HTTP still listening");
    // The directory lock is gone with the broker, and the record is there.
    let broker = TestBroker::start(dir.path());
    let mut conn = Conn::open(broker.addr);
    let (error_code, high_watermark, _) = fetch(&mut conn, "kept", 0, 0);
    assert_eq!((error_code, high_watermark), (0, 1));
}

#[test]
fn the_kafka_listener_takes_the_settings_given() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::builder(dir.path())
        .kafka(|kafka| kafka.max_connections = 1)
        .start();
    let mut first = Conn::open(broker.addr);
    assert_eq!(produce(&mut first, "t", 1, batch(&["a"])).0, 0);
    let mut second = Conn::open(broker.addr);
    assert!(second.closed_within(std::time::Duration::from_secs(5)));
}
