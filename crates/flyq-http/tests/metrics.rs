//! `/metrics` of an in-process broker: HTTP requests counted by route template, Kafka traffic,
//! partition, group and process gauges. A test binary of its own: the Prometheus recorder is
//! process-wide, and these tests check absolute values that other tests' brokers would move.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{get, plain_batch, produce};
use flyq_testkit::TestBroker;
use flyq_testkit::http_client::http;
use flyq_testkit::kafka::{Conn, name};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;

/// The value of the request counter for one method, route and status (0 if not yet seen).
fn requests_counted(flyq: &TestBroker, method: &str, route: &str, status: u16) -> u64 {
    let metrics = get(flyq, "/metrics");
    assert_eq!(metrics.status, 200);
    let labels = format!(r#"method="{method}",route="{route}",status="{status}""#);
    metrics
        .body
        .lines()
        .find(|l| l.starts_with("flyq_http_requests_total{") && l.contains(&labels))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |v| v.parse().unwrap())
}

#[test]
fn metrics_count_requests_by_route_template() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::builder(dir.path()).metrics().start();
    let route = "/api/v1/topics/{topic}";
    let before = requests_counted(&flyq, "GET", route, 404);
    assert_eq!(get(&flyq, "/api/v1/topics/a").status, 404);
    assert_eq!(get(&flyq, "/api/v1/topics/b").status, 404);
    assert_eq!(requests_counted(&flyq, "GET", route, 404), before + 2);
    // Unknown paths share one label, whatever the path.
    get(&flyq, "/no/such/path/1");
    get(&flyq, "/no/such/path/2");
    assert_eq!(requests_counted(&flyq, "GET", "unmatched", 404), 2);
    let metrics = get(&flyq, "/metrics").body;
    assert!(
        !metrics.contains("/no/such/path"),
        "raw paths leaked into labels"
    );
    assert!(metrics.contains("# TYPE flyq_http_requests_total counter"));
    assert!(
        metrics.contains(r#"flyq_http_request_duration_seconds_count{method="GET",route="/api/v1/topics/{topic}"}"#),
        "{metrics}"
    );
}

/// The value of the sample `name{labels}` (0 if absent).
fn sample(metrics: &str, name: &str, labels: &str) -> f64 {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0.0, |v| v.parse().unwrap())
}

#[test]
fn metrics_move_with_kafka_traffic_and_show_partitions_groups_and_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::builder(dir.path()).metrics().start();
    let created = http(
        flyq.http,
        "POST",
        "/api/v1/topics",
        Some(r#"{"name":"metered","partitions":1,"configs":{"flush.messages":"1"}}"#),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let before = get(&flyq, "/metrics").body;
    let mut conn = Conn::open(flyq.addr);
    let values: Vec<Vec<u8>> = (0..7).map(|i| vec![b'x'; 10 + i]).collect();
    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    let batch = plain_batch(&refs);
    let batch_len = batch.len() as f64;
    produce(&mut conn, "metered", 0, batch.clone());
    produce(&mut conn, "metered", 0, batch);
    // Unknown topic: one error, under the API that answered it.
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name("metered"))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(9)
                        .with_records(Some(plain_batch(&[b"x"]))),
                ]),
        ]);
    let _: ProduceResponse = conn.call(ApiKey::Produce, 9, &request);
    let reset = http(
        flyq.http,
        "POST",
        "/api/v1/groups/metered-group/reset-offsets",
        Some(r#"{"topic":"metered","to":"offset","offset":4}"#),
    );
    assert_eq!(reset.status, 200, "{}", reset.body);

    let after = get(&flyq, "/metrics").body;
    let topic = r#"topic="metered""#;
    let moved =
        |name: &str, labels: &str| sample(&after, name, labels) - sample(&before, name, labels);
    assert_eq!(moved("flyq_topic_records_in_total", topic), 14.0, "{after}");
    assert_eq!(moved("flyq_topic_bytes_in_total", topic), 2.0 * batch_len);
    assert_eq!(moved("flyq_kafka_requests_total", r#"api="Produce""#), 3.0);
    assert_eq!(
        moved(
            "flyq_kafka_request_errors_total",
            r#"api="Produce",error="UnknownTopicOrPartition""#
        ),
        1.0,
        "{after}"
    );
    assert!(
        moved(
            "flyq_kafka_request_duration_seconds_count",
            r#"api="Produce""#
        ) >= 3.0
    );
    assert!(
        sample(&after, "flyq_log_fsync_duration_seconds_count", "") >= 2.0,
        "{after}"
    );
    assert_eq!(sample(&after, "flyq_kafka_connections", ""), 1.0);
    let partition = r#"topic="metered",partition="0""#;
    assert_eq!(
        sample(&after, "flyq_partition_high_watermark", partition),
        14.0
    );
    assert_eq!(
        sample(&after, "flyq_partition_log_start_offset", partition),
        0.0
    );
    assert_eq!(
        sample(&after, "flyq_partition_size_bytes", partition),
        2.0 * batch_len
    );
    let group = r#"group="metered-group",topic="metered",partition="0""#;
    assert_eq!(
        sample(&after, "flyq_group_committed_offset", group),
        4.0,
        "{after}"
    );
    assert_eq!(sample(&after, "flyq_group_lag", group), 10.0);
    assert!(sample(&after, "process_resident_memory_bytes", "") > 1e6);
}
