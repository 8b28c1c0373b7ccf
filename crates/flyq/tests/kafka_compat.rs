//! Kafka semantics that clients hide or depend on, checked with raw requests against a real
//! `flyq serve`: which batches a Fetch response may carry under its byte limits (also while it
//! waits for data), every ListOffsets spec, and authorized operations (docs/protocol.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Flyq;
use flyq_protocol::builder::{RecordSpec, build_batch};
use flyq_testkit::kafka::{Conn, produce_to};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

fn create_topic(conn: &mut Conn, topic: &str, partitions: i32) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]);
    let response: CreateTopicsResponse = conn.call(ApiKey::CreateTopics, 7, &request);
    assert_eq!(response.topics[0].error_code, 0);
}

/// Appends `batch` to one partition; returns its base offset.
fn produce(conn: &mut Conn, topic: &str, partition: i32, batch: &Bytes) -> i64 {
    let (code, base_offset) = produce_to(conn, topic, partition, 1, batch.clone());
    assert_eq!(code, 0);
    base_offset
}

/// A batch of one record of `len` bytes.
fn batch_of(len: usize) -> Bytes {
    Bytes::from(build_batch(
        0,
        1_700_000_000_000,
        &[RecordSpec::value(vec![7; len])],
    ))
}

/// A 900 KiB record: two of them are more than a 1 MB limit.
fn large_batch() -> Bytes {
    batch_of(900 * 1024)
}

/// What a Fetch asks for, partition by partition: (fetch offset, partition_max_bytes).
struct Wanted<'a> {
    topic: &'a str,
    max_bytes: i32,
    min_bytes: i32,
    max_wait_ms: i32,
    partitions: &'a [(i64, i32)],
}

/// Sends a Fetch (v4, the version of the report, or v12) and returns the bytes of
/// records each partition answered, in request order.
fn fetch_sizes(conn: &mut Conn, version: i16, wanted: &Wanted) -> Vec<usize> {
    let partitions = wanted
        .partitions
        .iter()
        .enumerate()
        .map(|(index, (offset, max))| {
            FetchPartition::default()
                .with_partition(index as i32)
                .with_fetch_offset(*offset)
                .with_partition_max_bytes(*max)
        })
        .collect();
    let request = FetchRequest::default()
        .with_max_wait_ms(wanted.max_wait_ms)
        .with_min_bytes(wanted.min_bytes)
        .with_max_bytes(wanted.max_bytes)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(wanted.topic))
                .with_partitions(partitions),
        ]);
    let response: FetchResponse = conn.call(ApiKey::Fetch, version, &request);
    response.responses[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, 0);
            p.records.as_ref().map_or(0, Bytes::len)
        })
        .collect()
}

/// A Fetch that answers at once (max_wait 0) with these limits.
fn fetch_now(
    conn: &mut Conn,
    topic: &str,
    max_bytes: i32,
    partitions: &[(i64, i32)],
) -> Vec<usize> {
    let wanted = Wanted {
        topic,
        max_bytes,
        min_bytes: 1,
        max_wait_ms: 0,
        partitions,
    };
    fetch_sizes(conn, 4, &wanted)
}

const MIB: i32 = 1 << 20;

#[test]
fn only_the_first_batch_of_a_fetch_response_may_exceed_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    let mut conn = Conn::open(flyq.addr);
    create_topic(&mut conn, "large", 3);
    let large = large_batch();
    let big = large.len();
    for partition in 0..3 {
        for _ in 0..2 {
            produce(&mut conn, "large", partition, &large);
        }
    }
    // The report: max_bytes 1,000,000. Only partition 0's first batch is answered; the
    // others would overflow what is left of the limit.
    let each = [(0, MIB), (0, MIB), (0, MIB)];
    assert_eq!(fetch_now(&mut conn, "large", 1_000_000, &each), [big, 0, 0]);
    // The first partition that has data is the one that may exceed the limit.
    let first_drained = [(2, MIB), (0, MIB), (0, MIB)];
    assert_eq!(
        fetch_now(&mut conn, "large", 1_000_000, &first_drained),
        [0, big, 0]
    );
    // The same with partition_max_bytes: below one batch, only the first batch comes.
    let small = [(0, 500_000), (0, 500_000), (0, 500_000)];
    assert_eq!(fetch_now(&mut conn, "large", 50 * MIB, &small), [big, 0, 0]);
    // Room for three batches, each within its partition's limit: all three come.
    let room = i32::try_from(3 * big).unwrap();
    assert_eq!(fetch_now(&mut conn, "large", room, &each), [big, big, big]);

    // Both limits together, on ten small batches per partition: 4 fit each partition's
    // limit, and what is left of the total takes 2 from the last partition.
    create_topic(&mut conn, "small", 3);
    let batch = batch_of(1000);
    let one = batch.len();
    for partition in 0..3 {
        for _ in 0..10 {
            produce(&mut conn, "small", partition, &batch);
        }
    }
    let per_partition = i32::try_from(4 * one + one / 2).unwrap();
    let total = i32::try_from(10 * one + one / 2).unwrap();
    let limited = [(0, per_partition); 3];
    assert_eq!(
        fetch_now(&mut conn, "small", total, &limited),
        [4 * one, 4 * one, 2 * one]
    );
    // A partition limit below one batch: only the first partition's first batch.
    let tiny = [(0, 10); 3];
    assert_eq!(fetch_now(&mut conn, "small", 50 * MIB, &tiny), [one, 0, 0]);
}

#[test]
fn a_waiting_fetch_keeps_to_its_limits_when_data_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    let mut producer = Conn::open(flyq.addr);
    create_topic(&mut producer, "arriving", 3);
    let addr = flyq.addr;
    // Waits for 1,000,000 bytes on three empty partitions; at most 1,000,000 may come back.
    let waiter = std::thread::spawn(move || {
        let mut consumer = Conn::open(addr);
        let wanted = Wanted {
            topic: "arriving",
            max_bytes: 1_000_000,
            min_bytes: 1_000_000,
            max_wait_ms: 8_000,
            partitions: &[(0, MIB); 3],
        };
        fetch_sizes(&mut consumer, 12, &wanted)
    });
    std::thread::sleep(Duration::from_millis(300));
    let large = large_batch();
    for partition in 0..3 {
        for _ in 0..2 {
            produce(&mut producer, "arriving", partition, &large);
        }
    }
    assert_eq!(waiter.join().unwrap(), [large.len(), 0, 0]);
}

#[test]
fn a_fetch_answers_at_once_when_its_limits_hold_ready_data_back() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    let mut conn = Conn::open(flyq.addr);
    create_topic(&mut conn, "backlog", 1);
    let large = large_batch();
    produce(&mut conn, "backlog", 0, &large);
    produce(&mut conn, "backlog", 0, &large);
    // min_bytes cannot be met (the second batch does not fit), but the backlog is ready: the
    // client should have the first batch now and come back for the second.
    let wanted = Wanted {
        topic: "backlog",
        max_bytes: 1_000_000,
        min_bytes: 1_000_000,
        max_wait_ms: 20_000,
        partitions: &[(0, MIB)],
    };
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    assert_eq!(fetch_sizes(&mut conn, 12, &wanted), [large.len()]);
    // Behaviour, not speed: it did not wait out its 20 s.
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(15), "waited {waited:?}");
}

#[test]
fn list_offsets_serves_every_spec_up_to_v10() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    let mut conn = Conn::open(flyq.addr);
    let versions: ApiVersionsResponse =
        conn.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let list_offsets = versions
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::ListOffsets as i16)
        .unwrap();
    assert_eq!(
        (list_offsets.min_version, list_offsets.max_version),
        (1, 10)
    );
    // Offsets 0-2 at t, t+30, t+30; offset 3 at t+10. The largest timestamp is first at 1.
    let t = 1_700_000_000_000;
    let records = [0, 30, 30]
        .map(|delta| RecordSpec {
            timestamp_delta: delta,
            ..RecordSpec::value(b"v".to_vec())
        })
        .to_vec();
    produce(
        &mut conn,
        "specs",
        0,
        &Bytes::from(build_batch(0, t, &records)),
    );
    let later = build_batch(0, t + 10, &[RecordSpec::value(b"w".to_vec())]);
    produce(&mut conn, "specs", 0, &Bytes::from(later));
    let specs = [-1, -2, -3, -4, -5, t + 5];
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(name("specs"))
                .with_partitions(
                    specs
                        .iter()
                        .map(|spec| {
                            ListOffsetsPartition::default()
                                .with_partition_index(0)
                                .with_timestamp(*spec)
                        })
                        .collect(),
                ),
        ]);
    let response: ListOffsetsResponse = conn.call(ApiKey::ListOffsets, 10, &request);
    let answers: Vec<(i16, i64, i64, i32)> = response.topics[0]
        .partitions
        .iter()
        .map(|p| (p.error_code, p.offset, p.timestamp, p.leader_epoch))
        .collect();
    assert_eq!(
        answers,
        [
            (0, 4, -1, 0),     // latest: the high watermark
            (0, 0, -1, 0),     // earliest
            (0, 1, t + 30, 0), // max timestamp: the first record that has it
            (0, 0, -1, 0),     // earliest local: nothing is tiered, so the log start
            (0, -1, -1, -1),   // latest tiered: nothing is tiered
            (0, 1, t + 30, 0), // the first record at or after t + 5
        ]
    );
    // v7, the version that brought max timestamp, as the admin client sends it.
    let response: ListOffsetsResponse = conn.call(ApiKey::ListOffsets, 7, &request);
    let max = &response.topics[0].partitions[2];
    assert_eq!((max.offset, max.timestamp), (1, t + 30));
}

/// Kafka's authorized-operations bit fields with no ACLs: every operation that applies.
const TOPIC_OPERATIONS: i32 = 0b1101_1111_1000;
const GROUP_OPERATIONS: i32 = 0b1101_0100_1000;
const CLUSTER_OPERATIONS: i32 = 0b1_1111_1010_0000;
const NOT_PROVIDED: i32 = i32::MIN;

#[test]
fn authorized_operations_are_returned_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    let mut conn = Conn::open(flyq.addr);
    create_topic(&mut conn, "known", 1);
    let topics = |names: &[&str]| {
        Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(name(n))))
                .collect(),
        )
    };
    // v8-10 carry the cluster's operations; topics get theirs, found or not, as Kafka does.
    let asked = MetadataRequest::default()
        .with_topics(topics(&["known", "unknown"]))
        .with_allow_auto_topic_creation(false)
        .with_include_cluster_authorized_operations(true)
        .with_include_topic_authorized_operations(true);
    let metadata: MetadataResponse = conn.call(ApiKey::Metadata, 10, &asked);
    assert_eq!(metadata.cluster_authorized_operations, CLUSTER_OPERATIONS);
    let per_topic: Vec<(i16, i32)> = metadata
        .topics
        .iter()
        .map(|t| (t.error_code, t.topic_authorized_operations))
        .collect();
    assert_eq!(per_topic, [(0, TOPIC_OPERATIONS), (3, TOPIC_OPERATIONS)]);
    // v11+ carry only the topics' (the cluster's moved to DescribeCluster).
    let asked = asked.with_include_cluster_authorized_operations(false);
    let metadata: MetadataResponse = conn.call(ApiKey::Metadata, 12, &asked);
    assert_eq!(
        metadata.topics[0].topic_authorized_operations,
        TOPIC_OPERATIONS
    );
    // Not asked: "not provided".
    let plain = MetadataRequest::default().with_topics(topics(&["known"]));
    let metadata: MetadataResponse = conn.call(ApiKey::Metadata, 10, &plain);
    assert_eq!(metadata.cluster_authorized_operations, NOT_PROVIDED);
    assert_eq!(metadata.topics[0].topic_authorized_operations, NOT_PROVIDED);

    let request =
        DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    let cluster: DescribeClusterResponse = conn.call(ApiKey::DescribeCluster, 1, &request);
    assert_eq!(cluster.cluster_authorized_operations, CLUSTER_OPERATIONS);
    let cluster: DescribeClusterResponse = conn.call(
        ApiKey::DescribeCluster,
        1,
        &DescribeClusterRequest::default(),
    );
    assert_eq!(cluster.cluster_authorized_operations, NOT_PROVIDED);

    let group = GroupId(StrBytes::from_static_str("anyone"));
    let request = DescribeGroupsRequest::default()
        .with_groups(vec![group.clone()])
        .with_include_authorized_operations(true);
    let groups: DescribeGroupsResponse = conn.call(ApiKey::DescribeGroups, 5, &request);
    assert_eq!(groups.groups[0].authorized_operations, GROUP_OPERATIONS);
    let request = DescribeGroupsRequest::default().with_groups(vec![group]);
    let groups: DescribeGroupsResponse = conn.call(ApiKey::DescribeGroups, 5, &request);
    assert_eq!(groups.groups[0].authorized_operations, NOT_PROVIDED);
}
