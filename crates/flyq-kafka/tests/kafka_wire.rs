//! The Kafka listener against raw bytes: RELIABILITY.md N1 (malformed and hostile input),
//! each case followed by a canary proving other clients are still served, plus the basic
//! produce / fetch / list-offsets / admin round trips at the protocol level. The broker runs
//! in-process (flyq-testkit); what needs a `flyq serve` process (SIGTERM, kill -9, its memory)
//! is in `crates/flyq/tests/kafka_wire.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use flyq_protocol::builder::{RecordSpec, build_batch};
use flyq_protocol::header::write_crc;
use flyq_protocol::layout::{ATTRIBUTES, PARTITION_LEADER_EPOCH, RECORDS_COUNT};
use flyq_testkit::TestBroker;
use flyq_testkit::kafka::{Conn, batch, canary, fetch, join_consumer_group, name, produce};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

#[test]
fn api_versions_lists_what_is_served_and_answers_unsupported_versions_with_v0() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let mut conn = Conn::open(flyq.addr);
    let versions: ApiVersionsResponse =
        conn.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let produce = versions
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16)
        .unwrap();
    assert_eq!((produce.min_version, produce.max_version), (0, 11));
    // N1 #6: a version above ours: a v0 response with UNSUPPORTED_VERSION listing the ranges.
    let mut conn = Conn::open(flyq.addr);
    let mut frame = vec![];
    let body: &[u8] = &[0, 18, 0, 99, 0, 0, 0, 7, 0, 0];
    frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
    frame.extend_from_slice(body);
    conn.send_raw(&frame);
    let mut response = conn.read_frame().unwrap();
    let header = ResponseHeader::decode_v0(&mut response);
    assert_eq!(header, 7);
    let answer =
        <ApiVersionsResponse as kafka_protocol::protocol::Decodable>::decode(&mut response, 0)
            .unwrap();
    assert_eq!(answer.error_code, 35);
    assert!(
        answer
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::Fetch as i16)
    );
    canary(flyq.addr);
}

trait DecodeV0 {
    fn decode_v0(buf: &mut Bytes) -> i32;
}
impl DecodeV0 for ResponseHeader {
    fn decode_v0(buf: &mut Bytes) -> i32 {
        <ResponseHeader as kafka_protocol::protocol::Decodable>::decode(buf, 0)
            .unwrap()
            .correlation_id
    }
}

#[test]
fn hostile_frames_close_the_connection_and_others_are_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::builder(dir.path())
        .kafka(|kafka| kafka.request_read_timeout = Duration::from_millis(300))
        .start();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // N1 #1: a 2 GiB frame announced: closed without allocating it.
        ("huge length", 0x7fff_ffffi32.to_be_bytes().to_vec()),
        // N1 #2: negative, zero, shorter than a header.
        ("negative length", (-5i32).to_be_bytes().to_vec()),
        ("zero length", 0i32.to_be_bytes().to_vec()),
        (
            "shorter than a header",
            [&3i32.to_be_bytes()[..], &[0, 18, 0]].concat(),
        ),
        // N1 #4: a full frame whose header is cut (ApiVersions v3 without its client id).
        (
            "truncated header",
            [&6i32.to_be_bytes()[..], &[0, 18, 0, 3, 0, 0]].concat(),
        ),
        // N1 #5: unknown API key.
        (
            "unknown api key",
            [&8i32.to_be_bytes()[..], &[0x03, 0xe7, 0, 0, 0, 0, 0, 1]].concat(),
        ),
        // N1 #6: unsupported version of an API other than ApiVersions.
        (
            "unsupported fetch version",
            [
                &10i32.to_be_bytes()[..],
                &[0, 1, 0, 99, 0, 0, 0, 1, 0xff, 0xff],
            ]
            .concat(),
        ),
        // N1 #7: a varint with more than 5 continuation bytes (ApiVersions v3 body).
        (
            "runaway varint",
            [
                &17i32.to_be_bytes()[..],
                &[0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0],
                &[0xff; 6],
            ]
            .concat(),
        ),
        // N1 #8: Metadata v1 claiming 2^31-1 topics in a 10-byte body.
        (
            "array count 2^31-1",
            [
                &14i32.to_be_bytes()[..],
                &[0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff],
                &[0x7f, 0xff, 0xff, 0xff],
            ]
            .concat(),
        ),
    ];
    for (what, bytes) in cases {
        let mut conn = Conn::open(flyq.addr);
        conn.send_raw(&bytes);
        assert!(
            conn.closed_within(Duration::from_secs(5)),
            "{what}: connection left open"
        );
        canary(flyq.addr);
    }
    // N1 #3: 100 bytes announced, 50 sent, then silence: closed at the read timeout.
    let mut conn = Conn::open(flyq.addr);
    conn.send_raw(&[&100i32.to_be_bytes()[..], &[0u8; 50]].concat());
    assert!(
        conn.closed_within(Duration::from_secs(5)),
        "slow request left open"
    );
    canary(flyq.addr);
}

#[test]
fn bad_produce_input_gets_the_right_error_codes_and_nothing_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let mut conn = Conn::open(flyq.addr);
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(name("small"))
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(vec![
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_static_str("max.message.bytes"))
                        .with_value(Some(StrBytes::from_static_str("1000"))),
                ]),
        ]);
    let created: CreateTopicsResponse = conn.call(ApiKey::CreateTopics, 7, &create);
    assert_eq!(
        created.topics[0].error_code, 0,
        "{:?}",
        created.topics[0].error_message
    );
    // N1 #10: bad CRC.
    let mut corrupt = batch(&["x"]).to_vec();
    *corrupt.last_mut().unwrap() ^= 1;
    assert_eq!(produce(&mut conn, "small", 1, Bytes::from(corrupt)).0, 2);
    // N1 #11: record count inconsistent with the records (CRC recomputed so only that is wrong).
    let mut lying = batch(&["a", "b"]).to_vec();
    RECORDS_COUNT.write(&mut lying, 5);
    write_crc(&mut lying);
    assert_eq!(produce(&mut conn, "small", 1, Bytes::from(lying)).0, 2);
    // N1 #12: larger than max.message.bytes.
    assert_eq!(
        produce(&mut conn, "small", 1, batch(&[&"z".repeat(2000)])).0,
        10
    );
    // N1 #14: unknown compression codec.
    let mut codec = batch(&["c"]).to_vec();
    ATTRIBUTES.write(&mut codec, 0x06);
    write_crc(&mut codec);
    assert_eq!(produce(&mut conn, "small", 1, Bytes::from(codec)).0, 76);
    // N1 #15: acks=5.
    assert_eq!(produce(&mut conn, "small", 5, batch(&["a"])).0, 21);
    // N1 #17: internal topic.
    assert_eq!(
        produce(&mut conn, "__consumer_offsets", 1, batch(&["a"])).0,
        17
    );
    // N1 #9: invalid topic names.
    for bad in ["a/b", "..", &"t".repeat(250)] {
        let request = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(bad))),
        ]));
        let response: MetadataResponse = conn.call(ApiKey::Metadata, 12, &request);
        assert_eq!(response.topics[0].error_code, 17, "{bad}");
    }
    // Nothing was appended by any of it.
    let (code, high_watermark, records) = fetch(&mut conn, "small", 0, 0);
    assert_eq!((code, high_watermark, records.len()), (0, 0, 0));
    canary(flyq.addr);
}

#[test]
fn produce_fetch_and_list_offsets_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let mut conn = Conn::open(flyq.addr);
    // "two" is 10 ms after "one"; "three" is in a later batch with the base timestamp.
    let first = Bytes::from(build_batch(
        0,
        1_700_000_000_000,
        &[
            RecordSpec::value(b"one".to_vec()),
            RecordSpec {
                timestamp_delta: 10,
                ..RecordSpec::value(b"two".to_vec())
            },
        ],
    ));
    assert_eq!(produce(&mut conn, "orders", -1, first.clone()), (0, 0));
    assert_eq!(produce(&mut conn, "orders", 1, batch(&["three"])), (0, 2));
    let (code, high_watermark, records) = fetch(&mut conn, "orders", 0, 0);
    assert_eq!((code, high_watermark), (0, 3));
    // Batches come back as stored: the producer's bytes with the offset assigned.
    let unassigned = PARTITION_LEADER_EPOCH.end();
    assert_eq!(&records[unassigned..first.len()], &first[unassigned..]);
    // N1 #16: offsets outside the log.
    assert_eq!(fetch(&mut conn, "orders", 99, 0).0, 1);
    assert_eq!(fetch(&mut conn, "orders", -1, 0).0, 1);
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(name("orders"))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-2),
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(1_700_000_000_005),
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(1_800_000_000_000),
                ]),
        ]);
    let response: ListOffsetsResponse = conn.call(ApiKey::ListOffsets, 6, &request);
    let offsets: Vec<i64> = response.topics[0]
        .partitions
        .iter()
        .map(|p| p.offset)
        .collect();
    assert_eq!(offsets, vec![0, 3, 1, -1]);
}

#[test]
fn a_waiting_fetch_answers_as_soon_as_data_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let mut producer = Conn::open(flyq.addr);
    produce(&mut producer, "live", 1, batch(&["first"]));
    let addr = flyq.addr;
    let waiter = std::thread::spawn(move || {
        let mut consumer = Conn::open(addr);
        let started = std::time::Instant::now();
        let (code, _, records) = fetch(&mut consumer, "live", 1, 20_000);
        (code, records.len(), started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    produce(&mut producer, "live", 1, batch(&["second"]));
    let (code, len, waited) = waiter.join().unwrap();
    assert_eq!(code, 0);
    assert!(len > 0, "the fetch returned no data");
    // Behaviour, not speed: it returned because data arrived, long before its 20 s wait.
    assert!(
        waited < Duration::from_secs(15),
        "fetch waited out its timeout: {waited:?}"
    );
}

#[test]
fn offset_for_leader_epoch_answers_for_the_single_epoch() {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let mut conn = Conn::open(flyq.addr);
    produce(&mut conn, "epochs", 1, batch(&["a", "b", "c"]));
    let ask = |current: i32, epoch: i32| {
        OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                OffsetForLeaderTopic::default()
                    .with_topic(name("epochs"))
                    .with_partitions(vec![
                        OffsetForLeaderPartition::default()
                            .with_partition(0)
                            .with_current_leader_epoch(current)
                            .with_leader_epoch(epoch),
                    ]),
            ])
    };
    let answer = |conn: &mut Conn, request| {
        let response: OffsetForLeaderEpochResponse =
            conn.call(ApiKey::OffsetForLeaderEpoch, 4, &request);
        let p = &response.topics[0].partitions[0];
        (p.error_code, p.leader_epoch, p.end_offset)
    };
    assert_eq!(answer(&mut conn, ask(0, 0)), (0, 0, 3));
    assert_eq!(answer(&mut conn, ask(0, 7)), (0, -1, -1));
    assert_eq!(answer(&mut conn, ask(5, 0)).0, 75);
    // Batches carry the epoch too.
    let (_, _, records) = fetch(&mut conn, "epochs", 0, 0);
    assert_eq!(PARTITION_LEADER_EPOCH.read(&records), Some(0));
}

#[test]
fn connections_beyond_the_limit_are_closed_and_slow_requests_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::builder(dir.path())
        .kafka(|kafka| {
            kafka.max_connections = 3;
            kafka.request_read_timeout = Duration::from_millis(300);
        })
        .start();
    let mut held: Vec<Conn> = (0..3).map(|_| Conn::open(flyq.addr)).collect();
    for conn in &mut held {
        let versions: ApiVersionsResponse =
            conn.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        assert_eq!(versions.error_code, 0);
    }
    let mut extra = Conn::open(flyq.addr);
    assert!(
        extra.closed_within(Duration::from_secs(5)),
        "a fourth connection was kept"
    );
    held.pop();
    std::thread::sleep(Duration::from_millis(100));
    canary(flyq.addr);
    drop(held);

    // N1 #18 (small): 50 connections start a request and go silent; each is closed at the read
    // timeout while other clients keep being served.
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::builder(dir.path())
        .kafka(|kafka| kafka.request_read_timeout = Duration::from_millis(300))
        .start();
    let mut slow: Vec<Conn> = (0..50).map(|_| Conn::open(flyq.addr)).collect();
    for conn in &mut slow {
        conn.send_raw(&[0]);
    }
    canary(flyq.addr);
    for conn in &mut slow {
        assert!(
            conn.closed_within(Duration::from_secs(5)),
            "a slow connection was kept"
        );
    }
    canary(flyq.addr);
}

#[test]
fn a_fetch_listing_a_partition_many_times_with_a_tiny_limit_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let mut conn = Conn::open(flyq.addr);
    let big = Bytes::from(build_batch(0, 0, &[RecordSpec::value(vec![7u8; 100_000])]));
    produce(&mut conn, "bounded", 1, big.clone());
    let partitions = (0..200)
        .map(|_| {
            FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(i32::MAX)
        })
        .collect();
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name("bounded"))
                .with_partitions(partitions),
        ]);
    let response: FetchResponse = conn.call(ApiKey::Fetch, 12, &request);
    let total: usize = response.responses[0]
        .partitions
        .iter()
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .sum();
    // The first batch comes whole (so a consumer is never stuck); nothing more fits.
    assert_eq!(total, big.len());
    canary(flyq.addr);
}

#[test]
fn internal_topics_cannot_be_deleted_or_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let mut conn = Conn::open(flyq.addr);
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topic_names(vec![name("__consumer_offsets")]);
    let response: DeleteTopicsResponse = conn.call(ApiKey::DeleteTopics, 5, &request);
    assert_eq!(response.responses[0].error_code, 17);
    let metadata: MetadataResponse = conn.call(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    );
    assert!(metadata.topics.iter().any(|t| {
        t.name
            .as_ref()
            .is_some_and(|n| n.as_str() == "__consumer_offsets")
    }));
}

#[test]
fn offset_delete_refuses_topics_the_group_still_consumes() {
    use kafka_protocol::messages::leave_group_request::MemberIdentity;
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::offset_delete_request::{
        OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };

    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let mut conn = Conn::open(flyq.addr);
    produce(&mut conn, "od", 1, batch(&["a", "b", "c"]));
    let group = GroupId(StrBytes::from_static_str("od-group"));
    // A consumer-protocol member subscribed to "od".
    let (member_id, generation_id) = join_consumer_group(&mut conn, "od-group", "od", &[0]);
    let commit = OffsetCommitRequest::default()
        .with_group_id(group.clone())
        .with_generation_id_or_member_epoch(generation_id)
        .with_member_id(member_id.clone())
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(name("od"))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(2),
                ]),
        ]);
    let committed: OffsetCommitResponse = conn.call(ApiKey::OffsetCommit, 8, &commit);
    assert_eq!(committed.topics[0].partitions[0].error_code, 0);
    let delete = OffsetDeleteRequest::default()
        .with_group_id(group.clone())
        .with_topics(vec![
            OffsetDeleteRequestTopic::default()
                .with_name(name("od"))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0),
                ]),
        ]);
    let refused: OffsetDeleteResponse = conn.call(ApiKey::OffsetDelete, 0, &delete);
    assert_eq!(
        refused.topics[0].partitions[0].error_code, 86,
        "GROUP_SUBSCRIBED_TO_TOPIC"
    );
    let leave = LeaveGroupRequest::default()
        .with_group_id(group.clone())
        .with_members(vec![
            MemberIdentity::default().with_member_id(member_id.clone()),
        ]);
    let left: LeaveGroupResponse = conn.call(ApiKey::LeaveGroup, 3, &leave);
    assert_eq!(left.members[0].error_code, 0);
    let deleted: OffsetDeleteResponse = conn.call(ApiKey::OffsetDelete, 0, &delete);
    assert_eq!(
        (
            deleted.error_code,
            deleted.topics[0].partitions[0].error_code
        ),
        (0, 0)
    );
    let fetch = OffsetFetchRequest::default()
        .with_group_id(group.clone())
        .with_topics(None);
    let fetched: OffsetFetchResponse = conn.call(ApiKey::OffsetFetch, 7, &fetch);
    assert!(
        fetched.topics.is_empty(),
        "offsets left: {:?}",
        fetched.topics
    );
}
