//! flyq-client against kcat (librdkafka) through a real `flyq serve`: batches the client
//! writes with every codec read back in kcat, and kcat's batches read back in the client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Flyq, kcat};
use flyq_client::{
    Compression, Consumer, ConsumerConfig, OffsetReset, Producer, ProducerConfig, ProducerRecord,
    TopicPartition,
};
use tokio::time::Instant;

const CODECS: [(&str, Compression); 5] = [
    ("none", Compression::None),
    ("gzip", Compression::Gzip),
    ("snappy", Compression::Snappy),
    ("lz4", Compression::Lz4),
    ("zstd", Compression::Zstd),
];

/// A background kcat consumer, stopped with SIGTERM (so it leaves its group) and killed if a
/// test fails first.
struct KcatGroupMember(std::process::Child);

impl KcatGroupMember {
    fn start(flyq: &Flyq, group: &str, topic: &str) -> Self {
        let child = Command::new("kcat")
            .args(["-b", &flyq.bootstrap(), "-G", group, "-q", topic])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Self(child)
    }

    fn stop(&mut self) {
        let pid = self.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for KcatGroupMember {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_reads_what_the_client_writes_with_every_codec() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    for (name, codec) in CODECS {
        let topic = format!("from-client-{name}");
        let producer = Producer::new(ProducerConfig::new(&flyq.bootstrap()).compression(codec))
            .await
            .unwrap();
        let mut deliveries = Vec::new();
        for i in 0..50 {
            let record = ProducerRecord::new(topic.as_str(), format!("value-{i}"))
                .key(format!("key-{i}"))
                .header("n", i.to_string())
                .partition(0);
            deliveries.push(producer.send(record).await.unwrap());
        }
        producer.flush().await;
        for d in deliveries {
            d.await.unwrap();
        }
        let out = tokio::task::block_in_place(|| {
            kcat(
                &flyq,
                &[
                    "-C",
                    "-t",
                    &topic,
                    "-o",
                    "beginning",
                    "-e",
                    "-q",
                    "-f",
                    "%k|%s|%h|%o\n",
                ],
                None,
            )
        });
        let expected: Vec<String> = (0..50)
            .map(|i| format!("key-{i}|value-{i}|n={i}|{i}"))
            .collect();
        assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reads_what_kcat_writes_with_every_codec() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    for (name, _) in CODECS {
        let topic = format!("from-kcat-{name}");
        let input: String = (0..50).map(|i| format!("k{i}:v{i}\n")).collect();
        tokio::task::block_in_place(|| {
            kcat(
                &flyq,
                &["-P", "-t", &topic, "-K:", "-z", name, "-p", "0"],
                Some(&input),
            )
        });
        let config =
            ConsumerConfig::new(&flyq.bootstrap(), None).auto_offset_reset(OffsetReset::Earliest);
        let mut consumer = Consumer::new(config).unwrap();
        consumer.assign(&[TopicPartition::new(&topic, 0)]).unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while got.len() < 50 {
            assert!(Instant::now() < deadline, "{name}: {} records", got.len());
            for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
                let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
                let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                got.push(format!("{key}:{value}"));
            }
        }
        let expected: Vec<String> = (0..50).map(|i| format!("k{i}:v{i}")).collect();
        assert_eq!(got, expected, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kcat_consumer_shares_a_group_with_the_client() {
    use flyq_client::{Admin, Assignor, ClientConfig, NewTopic};

    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    let admin = Admin::new(ClientConfig::new(&flyq.bootstrap())).unwrap();
    admin
        .create_topics(&[NewTopic::new("mixed", 4)])
        .await
        .unwrap();
    // librdkafka offers range and roundrobin by default; range is common to both.
    let mut config =
        ConsumerConfig::new(&flyq.bootstrap(), Some("mixed")).assignors(vec![Assignor::Range]);
    config.heartbeat_interval = Duration::from_millis(100);
    let mut consumer = Consumer::new(config).unwrap();
    consumer.subscribe(&["mixed"]).unwrap();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let polling = tokio::spawn(async move {
        let mut sizes = Vec::new();
        while !*stopped.borrow_and_update() {
            consumer.poll(Duration::from_millis(100)).await.unwrap();
            let n = consumer.assignment().len();
            if sizes.last() != Some(&n) {
                sizes.push(n);
            }
        }
        consumer.close().await.unwrap();
        sizes
    });
    let wait_for = |members: usize, each: usize| {
        let admin = admin.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let g = admin.describe_group("mixed").await.unwrap();
                let sizes: Vec<usize> = g.members.iter().map(|m| m.assignment.len()).collect();
                if g.state == "Stable" && sizes.len() == members && sizes.iter().all(|n| *n == each)
                {
                    return g;
                }
                assert!(Instant::now() < deadline, "{} {sizes:?}", g.state);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for(1, 4).await;
    let mut kcat = KcatGroupMember::start(&flyq, "mixed", "mixed");
    let group = wait_for(2, 2).await;
    assert!(
        group.members.iter().any(|m| m.client_id == "rdkafka"),
        "{group:?}"
    );
    // kcat leaves cleanly on SIGTERM; the client takes every partition back.
    tokio::task::block_in_place(|| kcat.stop());
    wait_for(1, 4).await;
    stop.send(true).unwrap();
    // The first poll joins, so the history starts with all four partitions.
    assert_eq!(polling.await.unwrap(), vec![4, 2, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_follows_a_kcat_group_leader() {
    use flyq_client::{Admin, Assignor, ClientConfig, NewTopic};

    let dir = tempfile::tempdir().unwrap();
    let flyq = Flyq::start(dir.path(), &[]);
    let admin = Admin::new(ClientConfig::new(&flyq.bootstrap())).unwrap();
    admin
        .create_topics(&[NewTopic::new("led", 4)])
        .await
        .unwrap();
    // kcat joins first, so librdkafka leads and encodes the assignments.
    let mut kcat = KcatGroupMember::start(&flyq, "led", "led");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let g = admin.describe_group("led").await.unwrap();
        if g.state == "Stable" && g.members.len() == 1 && g.members[0].assignment.len() == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "kcat never got the partitions: {g:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut config = ConsumerConfig::new(&flyq.bootstrap(), Some("led"))
        .assignors(vec![Assignor::Range, Assignor::RoundRobin]);
    config.heartbeat_interval = Duration::from_millis(100);
    let mut consumer = Consumer::new(config).unwrap();
    consumer.subscribe(&["led"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while consumer.assignment().len() != 2 {
        assert!(
            Instant::now() < deadline,
            "assigned {:?}",
            consumer.assignment()
        );
        consumer.poll(Duration::from_millis(100)).await.unwrap();
    }
    let g = admin.describe_group("led").await.unwrap();
    let kcat_member = g.members.iter().find(|m| m.client_id == "rdkafka").unwrap();
    let mine = consumer.assignment();
    assert!(
        kcat_member.assignment.iter().all(|tp| !mine.contains(tp)),
        "{g:?}"
    );
    consumer.close().await.unwrap();
    tokio::task::block_in_place(|| kcat.stop());
}
