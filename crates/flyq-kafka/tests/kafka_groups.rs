//! Consumer-group answers that clients hide, checked with raw Kafka requests against an
//! in-process broker (flyq-testkit): static membership (KIP-345) fencing and removal, and the
//! per-partition codes of OffsetCommit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use flyq_testkit::TestBroker;
use flyq_testkit::kafka::Conn;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;
const UNKNOWN_MEMBER_ID: i16 = 25;
const FENCED_INSTANCE_ID: i16 = 82;

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

fn create_topic(conn: &mut Conn, name: &str, partitions: i32) {
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(s(name)))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(10_000);
    let created: CreateTopicsResponse = conn.call(ApiKey::CreateTopics, 5, &request);
    assert_eq!(created.topics[0].error_code, NONE);
}

/// A JoinGroup of static member `instance` (v5 unless `version` says otherwise).
fn join_static(
    conn: &mut Conn,
    version: i16,
    group: &str,
    instance: &str,
    member_id: &StrBytes,
) -> JoinGroupResponse {
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(member_id.clone())
        .with_group_instance_id(Some(s(instance)))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"subscription")),
        ]);
    conn.call(ApiKey::JoinGroup, version, &request)
}

fn sync_static(
    conn: &mut Conn,
    group: &str,
    instance: &str,
    member_id: &StrBytes,
    generation: i32,
    assignments: Vec<SyncGroupRequestAssignment>,
) -> SyncGroupResponse {
    let request = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(member_id.clone())
        .with_group_instance_id(Some(s(instance)))
        .with_assignments(assignments);
    conn.call(ApiKey::SyncGroup, 3, &request)
}

fn heartbeat_static(
    conn: &mut Conn,
    group: &str,
    instance: &str,
    member_id: &StrBytes,
    generation: i32,
) -> i16 {
    let request = HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(member_id.clone())
        .with_group_instance_id(Some(s(instance)));
    let answer: HeartbeatResponse = conn.call(ApiKey::Heartbeat, 3, &request);
    answer.error_code
}

/// Per-member codes of a LeaveGroup v3 naming (member id, instance id) pairs.
fn leave(conn: &mut Conn, group: &str, members: &[(&StrBytes, &str)]) -> Vec<i16> {
    let members = members
        .iter()
        .map(|(member_id, instance)| {
            MemberIdentity::default()
                .with_member_id((*member_id).clone())
                .with_group_instance_id(Some(s(instance)))
        })
        .collect();
    let request = LeaveGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_members(members);
    let answer: LeaveGroupResponse = conn.call(ApiKey::LeaveGroup, 3, &request);
    assert_eq!(answer.error_code, NONE);
    answer.members.iter().map(|m| m.error_code).collect()
}

/// (member id, instance id) of each member, and the state, as DescribeGroups v4 shows them.
fn describe(conn: &mut Conn, group: &str) -> (String, Vec<(String, Option<String>)>) {
    let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]);
    let answer: DescribeGroupsResponse = conn.call(ApiKey::DescribeGroups, 4, &request);
    let described = &answer.groups[0];
    let members = described
        .members
        .iter()
        .map(|m| {
            let instance = m.group_instance_id.as_ref().map(|i| i.to_string());
            (m.member_id.to_string(), instance)
        })
        .collect();
    (described.group_state.to_string(), members)
}

/// OffsetCommit v8 of `(topic, partition, metadata length)` offsets; the codes by topic.
fn commit(
    conn: &mut Conn,
    group: &str,
    member_id: &StrBytes,
    instance: Option<&str>,
    generation: i32,
    offsets: &[(&str, &[(i32, usize)])],
) -> Vec<Vec<i16>> {
    let topics = offsets
        .iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .iter()
                .map(|&(partition, metadata_len)| {
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(42)
                        .with_committed_metadata(Some(s(&"m".repeat(metadata_len))))
                })
                .collect();
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(partitions)
        })
        .collect();
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(member_id.clone())
        .with_group_instance_id(instance.map(s))
        .with_topics(topics);
    let answer: OffsetCommitResponse = conn.call(ApiKey::OffsetCommit, 8, &request);
    answer
        .topics
        .iter()
        .map(|t| t.partitions.iter().map(|p| p.error_code).collect())
        .collect()
}

/// (topic, partition, offset) of every offset the group committed.
fn committed(conn: &mut Conn, group: &str) -> Vec<(String, i32, i64)> {
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(None);
    let answer: OffsetFetchResponse = conn.call(ApiKey::OffsetFetch, 7, &request);
    let mut all: Vec<_> = answer
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index, p.committed_offset))
        })
        .collect();
    all.sort();
    all
}

#[test]
fn a_static_member_replaced_by_a_new_instance_is_fenced_and_can_be_removed_by_instance_id() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let (group, instance) = ("static-group", "instance-1");
    let mut old = Conn::open(flyq.addr);
    create_topic(&mut old, "static-topic", 1);

    // A static member joins (no MEMBER_ID_REQUIRED round) and leads a generation of one.
    let joined = join_static(&mut old, 5, group, instance, &StrBytes::default());
    assert_eq!(joined.error_code, NONE);
    let (old_id, generation) = (joined.member_id.clone(), joined.generation_id);
    let assignment = SyncGroupRequestAssignment::default()
        .with_member_id(old_id.clone())
        .with_assignment(Bytes::from_static(b"partitions of instance-1"));
    let synced = sync_static(
        &mut old,
        group,
        instance,
        &old_id,
        generation,
        vec![assignment],
    );
    assert_eq!(synced.error_code, NONE);

    // A second live instance with the same instance id gets a fresh member id, the same
    // generation and the same assignment, with no rebalance.
    let mut new = Conn::open(flyq.addr);
    let replaced = join_static(&mut new, 5, group, instance, &StrBytes::default());
    let new_id = replaced.member_id.clone();
    assert_eq!(replaced.error_code, NONE);
    assert_ne!(
        new_id, old_id,
        "the new instance was handed the old member id"
    );
    assert_eq!(replaced.generation_id, generation);
    assert_eq!(
        replaced.leader, old_id,
        "before v9 the leader is named as it was, so the new instance syncs as a follower"
    );
    let synced = sync_static(&mut new, group, instance, &new_id, generation, vec![]);
    assert_eq!(synced.error_code, NONE);
    assert_eq!(synced.assignment, "partitions of instance-1");
    assert_eq!(
        heartbeat_static(&mut new, group, instance, &new_id, generation),
        NONE
    );

    // Every request of the old instance is fenced.
    assert_eq!(
        heartbeat_static(&mut old, group, instance, &old_id, generation),
        FENCED_INSTANCE_ID
    );
    let sync = sync_static(&mut old, group, instance, &old_id, generation, vec![]);
    assert_eq!(sync.error_code, FENCED_INSTANCE_ID);
    let offsets: &[(&str, &[(i32, usize)])] = &[("static-topic", &[(0, 0)])];
    assert_eq!(
        commit(
            &mut old,
            group,
            &old_id,
            Some(instance),
            generation,
            offsets
        ),
        [[FENCED_INSTANCE_ID]]
    );
    let rejoin = join_static(&mut old, 5, group, instance, &old_id);
    assert_eq!(rejoin.error_code, FENCED_INSTANCE_ID);
    assert_eq!(
        leave(&mut old, group, &[(&old_id, instance)]),
        [FENCED_INSTANCE_ID]
    );
    assert_eq!(
        describe(&mut new, group),
        (
            "Stable".to_owned(),
            vec![(new_id.to_string(), Some(instance.to_owned()))]
        )
    );

    // From JoinGroup v9 a rejoining static leader is told it leads, with the members, and to
    // keep the current assignment.
    let v9 = join_static(&mut new, 9, group, instance, &StrBytes::default());
    assert_eq!(v9.error_code, NONE);
    assert_eq!(v9.leader, v9.member_id);
    assert_eq!((v9.members.len(), v9.skip_assignment), (1, true));
    assert_eq!(v9.generation_id, generation);

    // An administrator removes the static member by its instance id alone.
    let nobody = StrBytes::default();
    assert_eq!(
        leave(
            &mut new,
            group,
            &[(&nobody, instance), (&nobody, "no-such-instance")]
        ),
        [NONE, UNKNOWN_MEMBER_ID]
    );
    assert_eq!(describe(&mut new, group), ("Empty".to_owned(), vec![]));
}

#[test]
fn offset_commit_answers_each_partition_and_stores_only_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let mut conn = Conn::open(flyq.addr);
    create_topic(&mut conn, "known", 2);
    let group = "commit-group";
    let admin = StrBytes::default();

    let offsets: &[(&str, &[(i32, usize)])] = &[
        ("known", &[(0, 10), (1, 5000), (7, 10)]),
        ("no-such-topic", &[(0, 10)]),
    ];
    assert_eq!(
        commit(&mut conn, group, &admin, None, -1, offsets),
        [
            vec![NONE, OFFSET_METADATA_TOO_LARGE, UNKNOWN_TOPIC_OR_PARTITION],
            vec![UNKNOWN_TOPIC_OR_PARTITION],
        ]
    );
    assert_eq!(committed(&mut conn, group), [("known".to_owned(), 0, 42)]);

    // Partitions that do not exist are refused before the membership is looked at.
    let stranger = s("stranger");
    let offsets: &[(&str, &[(i32, usize)])] = &[("known", &[(1, 0)]), ("no-such-topic", &[(0, 0)])];
    assert_eq!(
        commit(&mut conn, group, &stranger, None, 3, offsets),
        [vec![UNKNOWN_MEMBER_ID], vec![UNKNOWN_TOPIC_OR_PARTITION]]
    );
    assert_eq!(committed(&mut conn, group), [("known".to_owned(), 0, 42)]);
}
