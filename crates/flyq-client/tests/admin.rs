//! The flyq-client admin API end to end against an in-process broker (flyq-testkit), plus the
//! errors a user sees when no broker listens or a broker does not answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use flyq_client::{
    Admin, AlterConfigOp, ClientConfig, ConfigResource, Error, NewTopic, OffsetSpec, ResponseError,
    TopicPartition,
};
use flyq_testkit::TestBroker;

#[tokio::test]
async fn admin_manages_topics_configs_and_group_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let admin = Admin::new(ClientConfig::new(&flyq.bootstrap())).unwrap();

    let cluster = admin.describe_cluster().await.unwrap();
    assert_eq!(cluster.brokers.len(), 1);
    assert_eq!(cluster.brokers[0].port, i32::from(flyq.addr.port()));

    admin
        .create_topics(&[NewTopic::new("orders", 3).config("retention.ms", "3600000")])
        .await
        .unwrap();
    let err = admin
        .create_topics(&[NewTopic::new("orders", 3)])
        .await
        .unwrap_err();
    assert_eq!(
        err.kafka_error(),
        Some(ResponseError::TopicAlreadyExists),
        "{err}"
    );
    assert!(
        admin
            .list_topics()
            .await
            .unwrap()
            .contains(&"orders".to_owned())
    );

    let described = admin.describe_topics(&["orders"]).await.unwrap();
    assert_eq!(described[0].partitions.len(), 3);
    assert!(
        described[0]
            .partitions
            .iter()
            .all(|p| p.leader == 1 || p.leader >= 0)
    );

    admin.create_partitions("orders", 5).await.unwrap();
    assert_eq!(
        admin.describe_topics(&["orders"]).await.unwrap()[0]
            .partitions
            .len(),
        5
    );

    let topic = ConfigResource::Topic("orders".into());
    let configs = admin.describe_configs(&topic).await.unwrap();
    assert_eq!(configs["retention.ms"].value.as_deref(), Some("3600000"));
    admin
        .alter_configs(
            &topic,
            &[AlterConfigOp::Set("retention.ms".into(), "7200000".into())],
        )
        .await
        .unwrap();
    let configs = admin.describe_configs(&topic).await.unwrap();
    assert_eq!(configs["retention.ms"].value.as_deref(), Some("7200000"));

    let offsets = admin
        .list_offsets(&[
            (TopicPartition::new("orders", 0), OffsetSpec::Earliest),
            (TopicPartition::new("orders", 4), OffsetSpec::Latest),
        ])
        .await
        .unwrap();
    assert_eq!(offsets[&TopicPartition::new("orders", 0)].offset, 0);
    assert_eq!(offsets[&TopicPartition::new("orders", 4)].offset, 0);

    let reset = BTreeMap::from([(TopicPartition::new("orders", 1), 0)]);
    admin.alter_group_offsets("billing", &reset).await.unwrap();
    assert_eq!(admin.list_group_offsets("billing").await.unwrap(), reset);
    let groups = admin.list_groups().await.unwrap();
    assert!(groups.iter().any(|g| g.group_id == "billing"), "{groups:?}");
    let group = admin.describe_group("billing").await.unwrap();
    assert!(group.members.is_empty());
    admin.delete_groups(&["billing"]).await.unwrap();
    assert!(
        !admin
            .list_groups()
            .await
            .unwrap()
            .iter()
            .any(|g| g.group_id == "billing")
    );

    admin.delete_topics(&["orders"]).await.unwrap();
    let err = admin.describe_topics(&["orders"]).await.unwrap_err();
    assert!(matches!(err, Error::UnknownPartition { .. }), "{err}");
}

#[tokio::test]
async fn no_broker_listening_gives_a_helpful_error() {
    // Bind then drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let admin = Admin::new(ClientConfig::new(&addr)).unwrap();
    let err = admin.describe_cluster().await.unwrap_err();
    assert!(matches!(err, Error::NoBrokerReachable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&addr) && message.contains("flyq serve"),
        "{message}"
    );
    assert!(err.is_retriable());
}

#[tokio::test]
async fn a_broker_that_never_answers_times_out() {
    // A listener that accepts but never reads: the ApiVersions handshake cannot complete.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let config = ClientConfig::new(&addr).request_timeout(Duration::from_millis(300));
    let admin = Admin::new(config).unwrap();
    let err = admin.describe_cluster().await.unwrap_err();
    let Error::NoBrokerReachable { source, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        source.to_string().contains("got no answer within 300ms"),
        "{source}"
    );
}

/// A fake broker that completes the ApiVersions handshake, then reads requests and never
/// answers them.
async fn silent_after_handshake() -> String {
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestHeader, ResponseHeader};
    use kafka_protocol::protocol::{Decodable, Encodable};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                loop {
                    let Ok(len) = sock.read_i32().await else {
                        return;
                    };
                    let mut frame = vec![0; len as usize];
                    sock.read_exact(&mut frame).await.unwrap();
                    let mut frame = bytes::Bytes::from(frame);
                    let key = i16::from_be_bytes([frame[0], frame[1]]);
                    let version = i16::from_be_bytes([frame[2], frame[3]]);
                    if key != ApiKey::ApiVersions as i16 {
                        continue;
                    }
                    let header = RequestHeader::decode(
                        &mut frame,
                        ApiKey::ApiVersions.request_header_version(version),
                    )
                    .unwrap();
                    let response = ApiVersionsResponse::default().with_api_keys(vec![
                        ApiVersion::default()
                            .with_api_key(ApiKey::DescribeCluster as i16)
                            .with_max_version(1),
                    ]);
                    let mut out = BytesMut::new();
                    out.put_i32(0);
                    ResponseHeader::default()
                        .with_correlation_id(header.correlation_id)
                        .encode(&mut out, 0)
                        .unwrap();
                    response.encode(&mut out, version).unwrap();
                    let len = (out.len() - 4) as i32;
                    out[..4].copy_from_slice(&len.to_be_bytes());
                    sock.write_all(&out).await.unwrap();
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_unanswered_request_times_out_with_the_api_named() {
    let addr = silent_after_handshake().await;
    let config = ClientConfig::new(&addr).request_timeout(Duration::from_millis(300));
    let admin = Admin::new(config).unwrap();
    let err = admin.describe_cluster().await.unwrap_err();
    let Error::Timeout { api, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*api, kafka_protocol::messages::ApiKey::DescribeCluster);
    assert!(err.is_retriable());
    assert!(
        err.to_string().contains("got no answer within 300ms"),
        "{err}"
    );
    // An API the broker does not offer fails before anything is sent.
    let err = admin.describe_group("g").await.unwrap_err();
    assert!(matches!(err, Error::UnsupportedVersion { .. }), "{err:?}");
    assert!(err.to_string().contains("FindCoordinator"), "{err}");
}
