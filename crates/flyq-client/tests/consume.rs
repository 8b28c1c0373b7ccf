//! flyq-client producer and consumer together against an in-process broker (flyq-testkit):
//! every codec and acks level round-trips keys, values, headers and timestamps; seeks,
//! pause/resume and committed-offset resumption.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use flyq_client::{
    Acks, Admin, ClientConfig, Compression, Consumer, ConsumerConfig, ConsumerRecord, Header,
    NewTopic, OffsetReset, Producer, ProducerConfig, ProducerRecord, TopicPartition,
};
use flyq_testkit::TestBroker;
use futures::StreamExt;
use tokio::time::Instant;

/// Polls until `n` records arrived (or fails after 30 s).
async fn consume(consumer: &mut Consumer, n: usize) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} records arrived",
            out.len()
        );
        out.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

fn record(topic: &str, i: i64) -> ProducerRecord {
    ProducerRecord::new(topic, format!("value-{i}"))
        .key(format!("key-{i}"))
        .header("index", i.to_string())
        .header("codec", "any")
        .timestamp(1_700_000_000_000 + i)
}

fn assigned_consumer(flyq: &TestBroker, group: Option<&str>) -> Consumer {
    let config =
        ConsumerConfig::new(&flyq.bootstrap(), group).auto_offset_reset(OffsetReset::Earliest);
    Consumer::new(config).unwrap()
}

#[tokio::test]
async fn every_codec_and_acks_level_round_trips_records() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let admin = Admin::new(ClientConfig::new(&flyq.bootstrap())).unwrap();
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for (c, codec) in codecs.into_iter().enumerate() {
        for acks in [Acks::None, Acks::Leader, Acks::All] {
            let topic = format!("t-{c}-{acks:?}");
            admin
                .create_topics(&[NewTopic::new(&topic, 1)])
                .await
                .unwrap();
            let config = ProducerConfig::new(&flyq.bootstrap())
                .acks(acks)
                .compression(codec);
            let producer = Producer::new(config).await.unwrap();
            let mut deliveries = Vec::new();
            for i in 0..200 {
                deliveries.push(producer.send(record(&topic, i)).await.unwrap());
            }
            producer.flush().await;
            for (i, d) in deliveries.into_iter().enumerate() {
                let meta = d.await.unwrap();
                let expected = if acks == Acks::None { -1 } else { i as i64 };
                assert_eq!(meta.offset, expected, "{topic}");
                assert_eq!(meta.timestamp, 1_700_000_000_000 + i as i64);
            }
            producer.close().await;

            let mut consumer = assigned_consumer(&flyq, None);
            consumer.assign(&[TopicPartition::new(&topic, 0)]).unwrap();
            let records = consume(&mut consumer, 200).await;
            for (i, r) in records.iter().enumerate() {
                let i = i as i64;
                assert_eq!(r.offset, i, "{topic}");
                assert_eq!(r.key.as_deref(), Some(format!("key-{i}").as_bytes()));
                assert_eq!(r.value.as_deref(), Some(format!("value-{i}").as_bytes()));
                assert_eq!(r.timestamp, 1_700_000_000_000 + i);
                assert_eq!(
                    r.headers,
                    vec![
                        Header::new("index", i.to_string()),
                        Header::new("codec", "any")
                    ]
                );
            }
        }
    }
}

#[tokio::test]
async fn seeks_pause_resume_and_committed_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let admin = Admin::new(ClientConfig::new(&flyq.bootstrap())).unwrap();
    admin.create_topics(&[NewTopic::new("s", 2)]).await.unwrap();
    let producer = Producer::new(ProducerConfig::new(&flyq.bootstrap()))
        .await
        .unwrap();
    for i in 0..100 {
        producer
            .send(record("s", i).partition((i % 2) as i32))
            .await
            .unwrap();
    }
    producer.flush().await;
    let p0 = TopicPartition::new("s", 0);
    let p1 = TopicPartition::new("s", 1);

    let mut consumer = assigned_consumer(&flyq, Some("g"));
    consumer.assign(&[p0.clone(), p1.clone()]).unwrap();
    consumer.pause(std::slice::from_ref(&p1)).unwrap();
    let records = consume(&mut consumer, 50).await;
    assert!(records.iter().all(|r| r.partition == 0));
    // Still paused: nothing of partition 1 comes, even given time.
    assert!(
        consumer
            .poll(Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(consumer.paused(), vec![p1.clone()]);
    consumer.resume(std::slice::from_ref(&p1)).unwrap();
    let records = consume(&mut consumer, 50).await;
    assert!(records.iter().all(|r| r.partition == 1));
    assert_eq!(consumer.position(&p1), Some(50));

    // Timestamps of partition 0 are base + 0, 2, 4, ...: base + 41 first matches offset 21.
    consumer
        .seek_to_timestamp(std::slice::from_ref(&p0), 1_700_000_000_041)
        .await
        .unwrap();
    let r = consume(&mut consumer, 1).await;
    assert_eq!((r[0].partition, r[0].offset), (0, 21));
    consumer
        .seek_to_beginning(std::slice::from_ref(&p0))
        .await
        .unwrap();
    assert_eq!(consume(&mut consumer, 1).await[0].offset, 0);
    consumer
        .seek_to_end(std::slice::from_ref(&p0))
        .await
        .unwrap();
    assert_eq!(consumer.position(&p0), Some(50));
    consumer.seek(&p0, 10).unwrap();
    let r = consume(&mut consumer, 40).await;
    assert_eq!(
        r.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (10..50).collect::<Vec<_>>()
    );

    // Commit: a new consumer in the same group resumes there.
    consumer.seek(&p0, 30).unwrap();
    consumer.commit().await.unwrap();
    let position = consumer.position(&p0).unwrap();
    assert_eq!(
        consumer.committed(std::slice::from_ref(&p0)).await.unwrap()[&p0],
        position
    );
    consumer.close().await.unwrap();
    let mut next = assigned_consumer(&flyq, Some("g"));
    next.assign(std::slice::from_ref(&p0)).unwrap();
    // recv hands out one record at a time, so the position moves by exactly one.
    let r = next.recv().await.unwrap();
    assert_eq!(r.offset, position);
    // The stream interface yields the following records in order.
    let streamed: Vec<i64> = next
        .stream()
        .take(3)
        .map(|r| r.unwrap().offset)
        .collect()
        .await;
    assert_eq!(streamed, vec![position + 1, position + 2, position + 3]);
    let position = position + 3;
    // commit_async resolves once the commit is stored.
    next.commit_async().await.unwrap();
    assert_eq!(
        next.committed(std::slice::from_ref(&p0)).await.unwrap()[&p0],
        position + 1
    );
}
