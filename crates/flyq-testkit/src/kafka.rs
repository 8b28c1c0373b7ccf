//! Raw Kafka requests: a connection that sends encoded requests and reads response frames,
//! for answers a client library would hide, and the requests tests build again and again.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use flyq_protocol::builder::{RecordSpec, build_batch};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// A raw connection speaking Kafka frames.
pub struct Conn {
    /// The socket, for tests that write or read bytes of their own.
    pub stream: TcpStream,
    correlation: i32,
}

impl Conn {
    /// Connects to `addr`; reads give up after 10 s.
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
        let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(len)).ok()?];
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

/// A topic name as requests carry it.
pub fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

/// An uncompressed batch of `values` (no keys), stamped 2023-11-14.
pub fn batch<V: AsRef<[u8]>>(values: &[V]) -> Bytes {
    let specs: Vec<RecordSpec> = values
        .iter()
        .map(|v| RecordSpec::value(v.as_ref().to_vec()))
        .collect();
    Bytes::from(build_batch(0, 1_700_000_000_000, &specs))
}

/// Produces `records` to partition 0 of `topic` (Produce v9); returns the partition's error
/// code and base offset.
pub fn produce(conn: &mut Conn, topic: &str, acks: i16, records: Bytes) -> (i16, i64) {
    produce_to(conn, topic, 0, acks, records)
}

/// Produces `records` to `partition` of `topic` (Produce v9); returns the partition's error
/// code and base offset.
pub fn produce_to(
    conn: &mut Conn,
    topic: &str,
    partition: i32,
    acks: i16,
    records: Bytes,
) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ]);
    let response: ProduceResponse = conn.call(ApiKey::Produce, 9, &request);
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// Fetches partition 0 of `topic` from `offset` (Fetch v12, no size limits), waiting up to
/// `max_wait_ms` for data; returns the error code, the high watermark and the records.
pub fn fetch(conn: &mut Conn, topic: &str, offset: i64, max_wait_ms: i32) -> (i16, i64, Bytes) {
    let request = FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(i32::MAX)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(i32::MAX),
                ]),
        ]);
    let response: FetchResponse = conn.call(ApiKey::Fetch, 12, &request);
    let p = &response.responses[0].partitions[0];
    (
        p.error_code,
        p.high_watermark,
        p.records.clone().unwrap_or_default(),
    )
}

/// Asserts that a fresh client of the broker at `addr` still gets ApiVersions answered and
/// can produce: the check after each hostile input that the others are still served.
pub fn canary(addr: SocketAddr) {
    let mut conn = Conn::open(addr);
    let versions: ApiVersionsResponse =
        conn.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(versions.error_code, 0);
    let (code, _) = produce(&mut conn, "canary", 1, batch(&["alive"]));
    assert_eq!(code, 0, "canary produce failed");
}
