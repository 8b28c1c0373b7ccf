//! The flyq-client producer against an in-process broker (flyq-testkit): delivery futures,
//! idempotence, partitioning and backpressure. Retries across a broker crash (kill -9 of a
//! `flyq serve` process) are tested in `crates/flyq/tests/client_producer.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use flyq_client::{
    Admin, ClientConfig, NewTopic, OffsetSpec, Producer, ProducerConfig, ProducerRecord,
    TopicPartition, partition_for_key,
};
use flyq_testkit::TestBroker;

#[tokio::test]
async fn idempotent_producer_delivers_contiguous_offsets_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let admin = Admin::new(ClientConfig::new(&flyq.bootstrap())).unwrap();
    admin
        .create_topics(&[NewTopic::new("events", 3)])
        .await
        .unwrap();

    // Small batches so a run spans many batches and several requests in flight.
    let config = ProducerConfig::new(&flyq.bootstrap()).batch_size(512);
    let producer = Producer::new(config).await.unwrap();
    assert!(producer.producer_id() >= 0);
    let mut deliveries = Vec::new();
    for i in 0..3_000u32 {
        let key = format!("key-{}", i % 17);
        let record = ProducerRecord::new("events", format!("value-{i}")).key(key.clone());
        deliveries.push((key, producer.send(record).await.unwrap()));
    }
    producer.flush().await;
    let mut per_partition: Vec<Vec<i64>> = vec![Vec::new(); 3];
    for (key, delivery) in deliveries {
        let meta = delivery.await.unwrap();
        assert_eq!(&*meta.topic, "events");
        assert_eq!(meta.partition, partition_for_key(key.as_bytes(), 3));
        per_partition[meta.partition as usize].push(meta.offset);
    }
    let ends = admin
        .list_offsets(
            &(0..3)
                .map(|p| (TopicPartition::new("events", p), OffsetSpec::Latest))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    for (p, offsets) in per_partition.iter().enumerate() {
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(offsets, &expected, "partition {p}");
        assert_eq!(
            ends[&TopicPartition::new("events", p as i32)].offset,
            offsets.len() as i64
        );
    }
}

#[tokio::test]
async fn keyless_records_stick_to_a_partition_per_batch_and_buffer_memory_bounds_send() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let admin = Admin::new(ClientConfig::new(&flyq.bootstrap())).unwrap();
    admin
        .create_topics(&[NewTopic::new("sticky", 4)])
        .await
        .unwrap();
    // A buffer of one request: send must wait for deliveries instead of queueing without end.
    let mut config = ProducerConfig::new(&flyq.bootstrap()).batch_size(4096);
    config.max_request_size = 64 * 1024;
    config.buffer_memory = 64 * 1024;
    let producer = Producer::new(config).await.unwrap();
    let mut deliveries = Vec::new();
    for i in 0..5_000u32 {
        deliveries.push(
            producer
                .send(ProducerRecord::new("sticky", vec![i as u8; 100]))
                .await
                .unwrap(),
        );
    }
    producer.flush().await;
    let mut partitions = Vec::new();
    for d in deliveries {
        partitions.push(d.await.unwrap().partition);
    }
    // Consecutive records share a partition (one batch holds ~35 of them), and more than one
    // partition is used over the run.
    let switches = partitions.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches > 0 && switches < partitions.len() / 10,
        "{switches} switches"
    );
}
