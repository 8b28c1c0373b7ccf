//! The flyq-client producer across a crash of a real `flyq serve` (kill -9 and restart):
//! idempotent retries land once and in order, and batches that fail for good do not block later
//! ones. The producer's other tests run in-process in `crates/flyq-client/tests/producer.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Flyq;
use flyq_client::{
    Admin, ClientConfig, NewTopic, OffsetSpec, Producer, ProducerConfig, ProducerRecord,
    TopicPartition,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_retries_in_order_across_a_broker_crash() {
    const TOTAL: u32 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let mut flyq = Flyq::start(dir.path(), &[]);
    let admin = Admin::new(ClientConfig::new(&flyq.bootstrap())).unwrap();
    admin
        .create_topics(&[NewTopic::new("crash", 1)])
        .await
        .unwrap();
    let mut config = ProducerConfig::new(&flyq.bootstrap()).batch_size(1024);
    config.delivery_timeout = std::time::Duration::from_secs(30);
    let producer = Producer::new(config).await.unwrap();
    let (started, crash_now) = tokio::sync::oneshot::channel();
    let sending = tokio::spawn(async move {
        let mut started = Some(started);
        let mut deliveries = Vec::new();
        for i in 0..TOTAL {
            let record = ProducerRecord::new("crash", i.to_string());
            deliveries.push(producer.send(record).await.unwrap());
            if i == 2_000 {
                started.take().unwrap().send(()).unwrap();
            }
        }
        producer.flush().await;
        deliveries
    });
    crash_now.await.unwrap();
    // Batches are in flight or queued when the broker dies; they are retried after restart
    // while the sending task keeps going.
    tokio::task::block_in_place(|| flyq.kill9_and_restart());
    let deliveries = sending.await.unwrap();
    for (i, d) in deliveries.into_iter().enumerate() {
        let meta = d.await.unwrap();
        assert_eq!(meta.offset, i as i64, "record {i}");
    }
    // The log holds each record once, in send order.
    let mut consumer = flyq_client::Consumer::new(
        flyq_client::ConsumerConfig::new(&flyq.bootstrap(), None)
            .auto_offset_reset(flyq_client::OffsetReset::Earliest),
    )
    .unwrap();
    consumer.assign(&[TopicPartition::new("crash", 0)]).unwrap();
    let mut values = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while values.len() < TOTAL as usize {
        assert!(
            std::time::Instant::now() < deadline,
            "{} records",
            values.len()
        );
        for r in consumer
            .poll(std::time::Duration::from_millis(200))
            .await
            .unwrap()
        {
            values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    let expected: Vec<String> = (0..TOTAL).map(|i| i.to_string()).collect();
    assert_eq!(values, expected);
    let end = admin
        .list_offsets(&[(TopicPartition::new("crash", 0), OffsetSpec::Latest)])
        .await
        .unwrap();
    assert_eq!(
        end[&TopicPartition::new("crash", 0)].offset,
        i64::from(TOTAL)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_that_fail_for_good_do_not_block_later_ones() {
    const TOTAL: u32 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let mut flyq = Flyq::start(dir.path(), &[]);
    let admin = Admin::new(ClientConfig::new(&flyq.bootstrap())).unwrap();
    admin
        .create_topics(&[NewTopic::new("expire", 1)])
        .await
        .unwrap();
    // Any error fails a batch at once, so the crash leaves a sequence gap.
    let mut config = ProducerConfig::new(&flyq.bootstrap()).batch_size(1024);
    config.delivery_timeout = std::time::Duration::from_millis(1);
    let producer = Producer::new(config).await.unwrap();
    let first_id = producer.producer_id();
    let (started, crash_now) = tokio::sync::oneshot::channel();
    let sender = producer.clone();
    let sending = tokio::spawn(async move {
        let mut started = Some(started);
        let mut deliveries = Vec::new();
        for i in 0..TOTAL {
            deliveries.push(
                sender
                    .send(ProducerRecord::new("expire", i.to_string()))
                    .await
                    .unwrap(),
            );
            if i == 2_000 {
                started.take().unwrap().send(()).unwrap();
            }
        }
        sender.flush().await;
        deliveries
    });
    crash_now.await.unwrap();
    tokio::task::block_in_place(|| flyq.kill9_and_restart());
    let mut delivered = Vec::new();
    let mut failed = 0;
    for (i, d) in sending.await.unwrap().into_iter().enumerate() {
        match d.await {
            Ok(_) => delivered.push(i.to_string()),
            Err(_) => failed += 1,
        }
    }
    // Records sent after everything settled go through.
    let mut after = Vec::new();
    for i in TOTAL..TOTAL + 100 {
        after.push(
            producer
                .send(ProducerRecord::new("expire", i.to_string()))
                .await
                .unwrap(),
        );
    }
    for d in after {
        d.await.unwrap();
    }
    if failed > 0 {
        assert_ne!(
            producer.producer_id(),
            first_id,
            "a gap needs a new producer id"
        );
    }
    // Every acknowledged record is in the log exactly once, in send order.
    let mut consumer = flyq_client::Consumer::new(
        flyq_client::ConsumerConfig::new(&flyq.bootstrap(), None)
            .auto_offset_reset(flyq_client::OffsetReset::Earliest),
    )
    .unwrap();
    consumer
        .assign(&[TopicPartition::new("expire", 0)])
        .unwrap();
    let end = admin
        .list_offsets(&[(TopicPartition::new("expire", 0), OffsetSpec::Latest)])
        .await
        .unwrap()[&TopicPartition::new("expire", 0)]
        .offset;
    let mut log = Vec::new();
    while (log.len() as i64) < end {
        log.extend(
            consumer
                .poll(std::time::Duration::from_millis(200))
                .await
                .unwrap()
                .into_iter()
                .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap()),
        );
    }
    let mut sorted = log.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), log.len(), "duplicates in the log");
    let acknowledged: std::collections::HashSet<&String> = delivered.iter().collect();
    let in_log: Vec<&String> = log.iter().filter(|v| acknowledged.contains(v)).collect();
    assert_eq!(in_log, delivered.iter().collect::<Vec<_>>());
    assert_eq!(
        log[log.len() - 100..],
        (TOTAL..TOTAL + 100)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
    );
}
