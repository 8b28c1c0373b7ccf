//! The HTTP operator API against an in-process broker (flyq-testkit): health probes, the admin
//! API (cluster, topics, groups) and the message browser, each with its error classes, and the
//! same state seen through the Kafka API in both directions. `/metrics` is tested in
//! `metrics.rs`; readiness on SIGTERM, which needs a `flyq serve` process, in
//! `crates/flyq/tests/http_api.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::{Bytes, BytesMut};
use common::{get, plain_batch, produce};
use flyq_testkit::TestBroker;
use flyq_testkit::http_client::{Answer, http, http_raw};
use flyq_testkit::kafka::{Conn, join_consumer_group, name};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use serde_json::{Value, json};

/// A gzip batch with keys and headers, built as a Kafka client would.
fn gzip_batch(values: &[&str]) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut headers = IndexMap::new();
            headers.insert(
                StrBytes::from_static_str("trace"),
                Some(Bytes::from_static(b"\xff\x00")),
            );
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder starts a new batch wherever offset - sequence changes.
                sequence: i as i32,
                timestamp: 1_700_000_000_000 + i as i64,
                key: Some(Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(v.to_string())),
                headers,
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::Gzip,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}

/// Topic name -> partition count, as Kafka's Metadata sees it (`None`: no such topic).
fn kafka_partitions(conn: &mut Conn, topic: &str) -> Option<usize> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic))),
        ]))
        .with_allow_auto_topic_creation(false);
    let response: MetadataResponse = conn.call(ApiKey::Metadata, 9, &request);
    let t = &response.topics[0];
    (t.error_code == 0).then_some(t.partitions.len())
}

fn committed_over_kafka(conn: &mut Conn, group: &str, topic: &str) -> Vec<(i32, i64)> {
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
        .with_topics(None);
    let response: OffsetFetchResponse = conn.call(ApiKey::OffsetFetch, 7, &request);
    let mut offsets: Vec<(i32, i64)> = response
        .topics
        .iter()
        .filter(|t| t.name.as_str() == topic)
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset))
        })
        .collect();
    offsets.sort();
    offsets
}

#[test]
fn probes_report_ready_and_health_detail_after_start() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    assert_eq!(get(&flyq, "/health/live").status, 200);
    assert_eq!(get(&flyq, "/health/ready").status, 200);
    let health = get(&flyq, "/health");
    assert_eq!(health.status, 200);
    let body = health.json();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["recovered"], true);
    assert_eq!(body["node_id"], 1);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["topics"], 1, "__consumer_offsets");
    assert_eq!(body["partitions"], 1);
    assert_eq!(
        body["data_dir"].as_str().unwrap(),
        dir.path().display().to_string()
    );
}

#[test]
fn cluster_names_the_node_kafka_clients_reach() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let cluster = get(&flyq, "/api/v1/cluster").json();
    let mut conn = Conn::open(flyq.addr);
    let metadata: MetadataResponse = conn.call(ApiKey::Metadata, 9, &MetadataRequest::default());
    assert_eq!(
        cluster["cluster_id"].as_str(),
        metadata.cluster_id.as_deref()
    );
    assert_eq!(cluster["controller_id"], metadata.controller_id.0);
    assert_eq!(cluster["nodes"][0]["id"], 1);
    assert_eq!(cluster["nodes"][0]["port"], flyq.addr.port());
    assert_eq!(cluster["nodes"][0]["host"], "127.0.0.1");
}

#[test]
fn topics_created_over_http_are_seen_over_kafka_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let mut conn = Conn::open(flyq.addr);

    // HTTP -> Kafka.
    let created = http(
        flyq.http,
        "POST",
        "/api/v1/topics",
        Some(r#"{"name": "orders", "partitions": 3, "configs": {"retention.ms": "60000"}}"#),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.json();
    assert_eq!(created["partitions"].as_array().unwrap().len(), 3);
    assert_eq!(kafka_partitions(&mut conn, "orders"), Some(3));

    // Kafka -> HTTP.
    let request = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(name("from-kafka"))
            .with_num_partitions(2)
            .with_replication_factor(1),
    ]);
    let response: CreateTopicsResponse = conn.call(ApiKey::CreateTopics, 5, &request);
    assert_eq!(response.topics[0].error_code, 0);
    let listed = get(&flyq, "/api/v1/topics").json();
    let topics = listed["topics"].as_array().unwrap();
    let find = |n: &str| topics.iter().find(|t| t["name"] == n).cloned().unwrap();
    assert_eq!(find("from-kafka")["partitions"], 2);
    assert_eq!(find("from-kafka")["internal"], false);
    assert_eq!(find("__consumer_offsets")["internal"], true);

    // Describe: partitions with offsets and sizes, configs with their source.
    produce(&mut conn, "orders", 1, plain_batch(&[b"a", b"b"]));
    let detail = get(&flyq, "/api/v1/topics/orders").json();
    assert_eq!(detail["id"], created["id"]);
    let p1 = &detail["partitions"][1];
    assert_eq!(
        (
            &p1["leader"],
            &p1["log_start_offset"],
            &p1["high_watermark"]
        ),
        (&json!(1), &json!(0), &json!(2))
    );
    assert!(p1["size_bytes"].as_u64().unwrap() > 0);
    let config = |detail: &Value, key: &str| {
        detail["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == key)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        config(&detail, "retention.ms"),
        json!({"name": "retention.ms", "value": "60000", "source": "topic"})
    );
    assert_eq!(config(&detail, "segment.bytes")["source"], "default");

    // Configs: set one key, delete another; bad values are refused as AlterConfigs does.
    let patched = http(
        flyq.http,
        "PATCH",
        "/api/v1/topics/orders/configs",
        Some(r#"{"set": {"segment.bytes": "1048576"}, "delete": ["retention.ms"]}"#),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    let patched = patched.json();
    assert_eq!(config(&patched, "segment.bytes")["value"], "1048576");
    assert_eq!(config(&patched, "retention.ms")["source"], "default");
    let bad = http(
        flyq.http,
        "PATCH",
        "/api/v1/topics/orders/configs",
        Some(r#"{"set": {"retention.ms": "soon"}}"#),
    );
    assert_eq!(
        (bad.status, bad.error_code().as_str()),
        (400, "invalid_config")
    );
    let unknown_key = http(
        flyq.http,
        "PATCH",
        "/api/v1/topics/orders/configs",
        Some(r#"{"set": {"no.such.config": "1"}}"#),
    );
    assert_eq!(unknown_key.status, 400);

    // Grow, then delete; Kafka sees both.
    let grown = http(
        flyq.http,
        "POST",
        "/api/v1/topics/orders/partitions",
        Some(r#"{"count": 5}"#),
    );
    assert_eq!(grown.status, 200, "{}", grown.body);
    assert_eq!(kafka_partitions(&mut conn, "orders"), Some(5));
    let shrink = http(
        flyq.http,
        "POST",
        "/api/v1/topics/orders/partitions",
        Some(r#"{"count": 2}"#),
    );
    assert_eq!(
        (shrink.status, shrink.error_code().as_str()),
        (400, "invalid_partitions")
    );
    assert_eq!(
        http(flyq.http, "DELETE", "/api/v1/topics/orders", None).status,
        204
    );
    assert_eq!(kafka_partitions(&mut conn, "orders"), None);
    let gone = get(&flyq, "/api/v1/topics/orders");
    assert_eq!(
        (gone.status, gone.error_code().as_str()),
        (404, "topic_not_found")
    );
}

#[test]
fn topic_mistakes_are_4xx_errors_in_one_shape() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let post = |body: &str| http(flyq.http, "POST", "/api/v1/topics", Some(body));
    assert_eq!(post(r#"{"name": "dup"}"#).status, 201);
    let cases: Vec<(Answer, u16, &str)> = vec![
        (post(r#"{"name": "dup"}"#), 409, "topic_exists"),
        (post(r#"{"name": "bad name!"}"#), 400, "invalid_topic_name"),
        (
            post(r#"{"name": "zero", "partitions": 0}"#),
            400,
            "invalid_partitions",
        ),
        (
            post(r#"{"name": "cfg", "configs": {"retention.ms": "x"}}"#),
            400,
            "invalid_config",
        ),
        (post(r#"{"name": "#), 400, "invalid_body"),
        (
            post(r#"{"name": "x", "colour": "red"}"#),
            400,
            "invalid_body",
        ),
        (post(r#"{"partitions": 1}"#), 400, "invalid_body"),
        (
            post(r#"{"name": "x", "partitions": 99999999999}"#),
            400,
            "invalid_body",
        ),
        (
            http_raw(
                flyq.http,
                "POST",
                "/api/v1/topics",
                Some(("text/plain", r#"{"name": "x"}"#)),
            ),
            415,
            "unsupported_media_type",
        ),
        (
            post(&format!(r#"{{"name": "{}"}}"#, "x".repeat(100_000))),
            413,
            "payload_too_large",
        ),
        (get(&flyq, "/api/v1/topics/nope"), 404, "topic_not_found"),
        (
            http(flyq.http, "DELETE", "/api/v1/topics/nope", None),
            404,
            "topic_not_found",
        ),
        (
            http(
                flyq.http,
                "PATCH",
                "/api/v1/topics/nope/configs",
                Some(r#"{"set": {}}"#),
            ),
            404,
            "topic_not_found",
        ),
        (
            http(
                flyq.http,
                "POST",
                "/api/v1/topics/nope/partitions",
                Some(r#"{"count": 3}"#),
            ),
            404,
            "topic_not_found",
        ),
        (
            http(
                flyq.http,
                "DELETE",
                "/api/v1/topics/__consumer_offsets",
                None,
            ),
            403,
            "internal_topic",
        ),
        (
            http(flyq.http, "PUT", "/api/v1/topics", Some("{}")),
            405,
            "method_not_allowed",
        ),
        (get(&flyq, "/api/v2/nothing"), 404, "route_not_found"),
    ];
    for (i, (answer, status, code)) in cases.iter().enumerate() {
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (*status, *code),
            "case {i}: {}",
            answer.body
        );
    }
    let names: Vec<String> = get(&flyq, "/api/v1/topics").json()["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["__consumer_offsets", "dup"],
        "no failed create left a topic"
    );
}

#[test]
fn a_batch_too_large_to_inflate_is_a_422_naming_where_to_continue() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let mut conn = Conn::open(flyq.addr);
    // 20 MiB of zeros gzips to ~20 KiB: stored as sent, beyond the browser's inflate budget.
    let zeros = "\0".repeat(20 << 20);
    let bomb = gzip_batch(&[zeros.as_str()]);
    assert!(bomb.len() < 1 << 20);
    produce(&mut conn, "bombed", 0, bomb);
    produce(&mut conn, "bombed", 0, plain_batch(&[b"after"]));
    let answer = get(&flyq, "/api/v1/topics/bombed/partitions/0/records?offset=0");
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(answer.error_code(), "batch_undecodable");
    assert!(
        answer.body.contains("continue at offset=1"),
        "{}",
        answer.body
    );
    let next = get(&flyq, "/api/v1/topics/bombed/partitions/0/records?offset=1");
    assert_eq!(next.status, 200);
    assert_eq!(next.json()["records"][0]["value"]["data"], "after");
}

#[test]
fn the_browser_pages_through_plain_and_compressed_batches_produced_over_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let mut conn = Conn::open(flyq.addr);
    assert_eq!(
        produce(
            &mut conn,
            "events",
            0,
            plain_batch(&[b"one", b"\xff\xfe", b"three"])
        ),
        0
    );
    assert_eq!(
        produce(&mut conn, "events", 0, gzip_batch(&["four", "five"])),
        3
    );

    let page = get(&flyq, "/api/v1/topics/events/partitions/0/records");
    assert_eq!(page.status, 200, "{}", page.body);
    let page = page.json();
    assert_eq!(page["high_watermark"], 5);
    assert_eq!(page["next_offset"], 5);
    let records = page["records"].as_array().unwrap();
    let offsets: Vec<i64> = records
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4]);
    assert_eq!(
        records[0]["value"],
        json!({"encoding": "utf8", "data": "one"})
    );
    assert_eq!(records[0]["key"], Value::Null);
    assert_eq!(
        records[1]["value"],
        json!({"encoding": "base64", "data": "//4="})
    );
    assert_eq!(records[0]["timestamp"], 1_700_000_000_000i64);
    // The gzip batch, inflated: keys, values and a binary header value.
    assert_eq!(
        records[3]["key"],
        json!({"encoding": "utf8", "data": "key-0"})
    );
    assert_eq!(
        records[4]["value"],
        json!({"encoding": "utf8", "data": "five"})
    );
    assert_eq!(records[4]["timestamp"], 1_700_000_000_001i64);
    assert_eq!(
        records[3]["headers"],
        json!([{"key": "trace", "value": {"encoding": "base64", "data": "/wA="}}])
    );

    // Paging: from inside a batch, a limit, and next_offset to go on.
    let first = get(
        &flyq,
        "/api/v1/topics/events/partitions/0/records?offset=1&limit=3",
    )
    .json();
    let offsets: Vec<i64> = first["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!((offsets, &first["next_offset"]), (vec![1, 2, 3], &json!(4)));
    let rest = get(&flyq, "/api/v1/topics/events/partitions/0/records?offset=4").json();
    assert_eq!(rest["records"].as_array().unwrap().len(), 1);
    let end = get(&flyq, "/api/v1/topics/events/partitions/0/records?offset=5").json();
    assert_eq!(
        (
            end["records"].as_array().unwrap().len(),
            &end["next_offset"]
        ),
        (0, &json!(5))
    );

    let base = "/api/v1/topics/events/partitions";
    for (path, status, code) in [
        (format!("{base}/0/records?limit=0"), 400, "invalid_limit"),
        (format!("{base}/0/records?limit=1001"), 400, "invalid_limit"),
        (format!("{base}/0/records?limit=ten"), 400, "invalid_query"),
        (format!("{base}/0/records?offset=-1"), 400, "invalid_offset"),
        (
            format!("{base}/0/records?offset=6"),
            400,
            "offset_out_of_range",
        ),
        (format!("{base}/x/records"), 400, "invalid_path"),
        (format!("{base}/7/records"), 404, "partition_not_found"),
        (
            "/api/v1/topics/nope/partitions/0/records".to_owned(),
            404,
            "topic_not_found",
        ),
    ] {
        let answer = get(&flyq, &path);
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (status, code),
            "{path}: {}",
            answer.body
        );
    }
}

#[test]
fn groups_show_members_offsets_and_lag_and_reset_only_when_empty() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let mut conn = Conn::open(flyq.addr);
    let created = http(
        flyq.http,
        "POST",
        "/api/v1/topics",
        Some(r#"{"name": "jobs", "partitions": 2}"#),
    );
    assert_eq!(created.status, 201);
    produce(&mut conn, "jobs", 0, plain_batch(&[b"a", b"b", b"c", b"d"]));
    produce(&mut conn, "jobs", 1, plain_batch(&[b"e"]));

    // A simple (memberless) commit over Kafka shows up with its lag.
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("workers")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(name("jobs"))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1),
                ]),
        ]);
    let committed: OffsetCommitResponse = conn.call(ApiKey::OffsetCommit, 8, &commit);
    assert_eq!(committed.topics[0].partitions[0].error_code, 0);
    let listed = get(&flyq, "/api/v1/groups").json();
    assert_eq!(
        listed["groups"],
        json!([{"group_id": "workers", "protocol_type": "consumer", "state": "Empty"}])
    );
    let group = get(&flyq, "/api/v1/groups/workers").json();
    assert_eq!(group["state"], "Empty");
    assert_eq!(
        group["offsets"],
        json!([{"topic": "jobs", "partition": 0, "committed_offset": 1, "metadata": "",
                "high_watermark": 4, "lag": 3}])
    );

    // Resets: a dry run changes nothing; each target lands where Kafka's tool puts it.
    let reset = |body: &str| {
        http(
            flyq.http,
            "POST",
            "/api/v1/groups/workers/reset-offsets",
            Some(body),
        )
    };
    let dry = reset(r#"{"topic": "jobs", "to": "latest", "dry_run": true}"#);
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(
        dry.json()["partitions"],
        json!([{"partition": 0, "previous_offset": 1, "new_offset": 4},
               {"partition": 1, "previous_offset": null, "new_offset": 1}])
    );
    assert_eq!(committed_over_kafka(&mut conn, "workers", "jobs"), [(0, 1)]);
    assert_eq!(reset(r#"{"topic": "jobs", "to": "latest"}"#).status, 200);
    assert_eq!(
        committed_over_kafka(&mut conn, "workers", "jobs"),
        [(0, 4), (1, 1)]
    );
    let earliest = reset(r#"{"topic": "jobs", "partitions": [1], "to": "earliest"}"#);
    assert_eq!(earliest.status, 200);
    assert_eq!(
        committed_over_kafka(&mut conn, "workers", "jobs"),
        [(0, 4), (1, 0)]
    );
    // An offset past the end is clamped to the high watermark.
    assert_eq!(
        reset(r#"{"topic": "jobs", "partitions": [0], "to": "offset", "offset": 99}"#).json()["partitions"]
            [0]["new_offset"],
        4
    );
    assert_eq!(
        reset(r#"{"topic": "jobs", "partitions": [0], "to": "offset", "offset": 2}"#).status,
        200
    );
    assert_eq!(
        committed_over_kafka(&mut conn, "workers", "jobs"),
        [(0, 2), (1, 0)]
    );
    let by_time = reset(r#"{"topic": "jobs", "to": "timestamp", "timestamp": 0}"#);
    assert_eq!(by_time.json()["partitions"][0]["new_offset"], 0);

    for (body, status, code) in [
        (
            r#"{"topic": "nope", "to": "latest"}"#,
            404,
            "topic_not_found",
        ),
        (
            r#"{"topic": "jobs", "partitions": [5], "to": "latest"}"#,
            404,
            "partition_not_found",
        ),
        (r#"{"topic": "jobs", "to": "offset"}"#, 400, "invalid_reset"),
        (
            r#"{"topic": "jobs", "to": "latest", "offset": 3}"#,
            400,
            "invalid_reset",
        ),
        (
            r#"{"topic": "jobs", "to": "timestamp", "timestamp": -5}"#,
            400,
            "invalid_reset",
        ),
        (
            r#"{"topic": "jobs", "to": "yesterday"}"#,
            400,
            "invalid_body",
        ),
    ] {
        let answer = reset(body);
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (status, code),
            "{body}: {}",
            answer.body
        );
    }

    // An active member: described with its decoded assignment; resets and deletion refused.
    let (member, _) = join_consumer_group(&mut conn, "workers", "jobs", &[0, 1]);
    let group = get(&flyq, "/api/v1/groups/workers").json();
    assert_eq!(group["state"], "Stable");
    assert_eq!(group["protocol"], "range");
    let m = &group["members"][0];
    assert_eq!(m["member_id"], member.as_str());
    assert_eq!(m["client_id"], "flyq-test");
    assert_eq!(m["subscription"], json!(["jobs"]));
    assert_eq!(
        m["assignment"],
        json!([{"topic": "jobs", "partitions": [0, 1]}])
    );
    let refused = reset(r#"{"topic": "jobs", "to": "earliest"}"#);
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (409, "group_not_empty")
    );
    let refused = http(flyq.http, "DELETE", "/api/v1/groups/workers", None);
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (409, "group_not_empty")
    );

    // Once it leaves, the group can be deleted, offsets and all.
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("workers")))
        .with_members(vec![MemberIdentity::default().with_member_id(member)]);
    let left: LeaveGroupResponse = conn.call(ApiKey::LeaveGroup, 3, &leave);
    assert_eq!(left.members[0].error_code, 0);
    assert_eq!(
        http(flyq.http, "DELETE", "/api/v1/groups/workers", None).status,
        204
    );
    assert_eq!(committed_over_kafka(&mut conn, "workers", "jobs"), []);
    for (method, path) in [
        ("GET", "/api/v1/groups/workers"),
        ("DELETE", "/api/v1/groups/workers"),
    ] {
        let answer = http(flyq.http, method, path, None);
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (404, "group_not_found"),
            "{method} {path}"
        );
    }
}

#[test]
fn the_openapi_document_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let doc = get(&flyq, "/api/v1/openapi.json").json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(
        doc["paths"]["/api/v1/topics/{topic}/partitions/{partition}/records"]["get"].is_object()
    );
}
