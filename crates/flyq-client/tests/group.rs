//! flyq-client consumer groups against an in-process broker (flyq-testkit): three consumers
//! share a six-partition topic while a member joins and another leaves, under each assignor,
//! and every record is consumed exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flyq_client::{
    Admin, Assignor, ClientConfig, Consumer, ConsumerConfig, NewTopic, OffsetReset, Producer,
    ProducerConfig, ProducerRecord, RebalanceListener, TopicPartition,
};
use flyq_testkit::TestBroker;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const TOPIC: &str = "shared";

/// Records what the group gave this member, to check callbacks fire.
struct Events(Arc<Mutex<Vec<String>>>);

impl RebalanceListener for Events {
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("+{}", partitions.len()));
    }
    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("-{}", partitions.len()));
    }
}

struct Member {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    events: Arc<Mutex<Vec<String>>>,
}

impl Member {
    async fn close(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap();
    }
}

fn member(
    flyq: &TestBroker,
    assignor: Assignor,
    seen: mpsc::UnboundedSender<(i32, i64)>,
) -> Member {
    let mut config = ConsumerConfig::new(&flyq.bootstrap(), Some("workers"))
        .auto_offset_reset(OffsetReset::Earliest)
        .assignors(vec![assignor]);
    config.heartbeat_interval = Duration::from_millis(100);
    config.session_timeout = Duration::from_secs(10);
    config.rebalance_timeout = Duration::from_secs(10);
    let mut consumer = Consumer::new(config).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    consumer.set_rebalance_listener(Events(events.clone()));
    consumer.subscribe(&[TOPIC]).unwrap();
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        while !*stopped.borrow_and_update() {
            for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
                seen.send((r.partition, r.offset)).unwrap();
            }
        }
        consumer.close().await.unwrap();
    });
    Member { stop, task, events }
}

async fn produce(producer: &Producer, from: usize, to: usize) {
    for i in from..to {
        producer
            .send(ProducerRecord::new(TOPIC, format!("v{i}")).key(format!("k{i}")))
            .await
            .unwrap();
    }
    producer.flush().await;
}

/// Drains `seen` until `n` records in total were counted, or fails after 60 s.
async fn wait_for(
    seen: &mut mpsc::UnboundedReceiver<(i32, i64)>,
    counts: &mut BTreeMap<(i32, i64), usize>,
    n: usize,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while counts.values().sum::<usize>() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let got = tokio::time::timeout(left, seen.recv()).await;
        let (p, o) = got.expect("records stopped arriving").unwrap();
        *counts.entry((p, o)).or_default() += 1;
    }
}

/// Waits until the group is stable with `members` members holding two partitions each.
async fn wait_balanced(admin: &Admin, members: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let g = admin.describe_group("workers").await.unwrap();
        let sizes: Vec<usize> = g.members.iter().map(|m| m.assignment.len()).collect();
        if g.state == "Stable" && sizes.len() == members && sizes.iter().all(|n| *n == 6 / members)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group never balanced: {} {sizes:?}",
            g.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn group_consumes_each_record_once(assignor: Assignor) {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let admin = Admin::new(ClientConfig::new(&flyq.bootstrap())).unwrap();
    admin
        .create_topics(&[NewTopic::new(TOPIC, 6)])
        .await
        .unwrap();
    let producer = Producer::new(ProducerConfig::new(&flyq.bootstrap()))
        .await
        .unwrap();
    let (tx, mut seen) = mpsc::unbounded_channel();
    let mut counts = BTreeMap::new();

    produce(&producer, 0, 600).await;
    let a = member(&flyq, assignor, tx.clone());
    let b = member(&flyq, assignor, tx.clone());
    wait_for(&mut seen, &mut counts, 600).await;
    wait_balanced(&admin, 2).await;

    // A third member joins while records keep coming.
    let c = member(&flyq, assignor, tx.clone());
    produce(&producer, 600, 1200).await;
    wait_balanced(&admin, 3).await;
    wait_for(&mut seen, &mut counts, 1200).await;

    // The first member leaves; the other two take over its partitions from its commits.
    a.close().await;
    produce(&producer, 1200, 1800).await;
    wait_for(&mut seen, &mut counts, 1800).await;
    wait_balanced(&admin, 2).await;

    let duplicates: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "{assignor:?}: consumed twice: {duplicates:?}"
    );
    // Per partition, offsets 0..n with no gap.
    let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (p, o) in counts.keys() {
        per_partition.entry(*p).or_default().push(*o);
    }
    assert_eq!(per_partition.len(), 6);
    for (p, offsets) in &per_partition {
        assert_eq!(
            offsets,
            &(0..offsets.len() as i64).collect::<Vec<_>>(),
            "partition {p}"
        );
    }
    let c_events = c.events.lock().unwrap().clone();
    assert!(c_events.iter().any(|e| e.starts_with('+')), "{c_events:?}");
    b.close().await;
    c.close().await;
    // Everybody left cleanly: the group is empty at once, not after a session timeout.
    let g = admin.describe_group("workers").await.unwrap();
    assert!(g.members.is_empty(), "{g:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_group_consumes_each_record_once() {
    group_consumes_each_record_once(Assignor::Range).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundrobin_group_consumes_each_record_once() {
    group_consumes_each_record_once(Assignor::RoundRobin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_group_consumes_each_record_once() {
    group_consumes_each_record_once(Assignor::CooperativeSticky).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_subscription_picks_up_matching_topics() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let admin = Admin::new(ClientConfig::new(&flyq.bootstrap())).unwrap();
    admin
        .create_topics(&[
            NewTopic::new("logs-a", 1),
            NewTopic::new("logs-b", 1),
            NewTopic::new("other", 1),
        ])
        .await
        .unwrap();
    let producer = Producer::new(ProducerConfig::new(&flyq.bootstrap()))
        .await
        .unwrap();
    for topic in ["logs-a", "logs-b", "other"] {
        producer
            .send(ProducerRecord::new(topic, topic))
            .await
            .unwrap();
    }
    producer.flush().await;
    let config = ConsumerConfig::new(&flyq.bootstrap(), Some("pattern"))
        .auto_offset_reset(OffsetReset::Earliest);
    let mut consumer = Consumer::new(config).unwrap();
    consumer.subscribe_pattern("logs-.*").unwrap();
    let mut topics = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while topics.len() < 2 {
        assert!(Instant::now() < deadline, "got {topics:?}");
        for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
            topics.push(r.topic.to_string());
        }
    }
    topics.sort();
    assert_eq!(topics, vec!["logs-a", "logs-b"]);
    assert_eq!(
        consumer.assignment(),
        vec![
            TopicPartition::new("logs-a", 0),
            TopicPartition::new("logs-b", 0)
        ]
    );
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_member_leaves_the_group_before_its_session_expires() {
    let dir = tempfile::tempdir().unwrap();
    let flyq = TestBroker::start(dir.path());
    let admin = Admin::new(ClientConfig::new(&flyq.bootstrap())).unwrap();
    admin
        .create_topics(&[NewTopic::new(TOPIC, 2)])
        .await
        .unwrap();
    let mut config = ConsumerConfig::new(&flyq.bootstrap(), Some("workers"));
    config.session_timeout = Duration::from_secs(45);
    let mut consumer = Consumer::new(config).unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while consumer.assignment().is_empty() {
        assert!(Instant::now() < deadline, "never assigned");
        consumer.poll(Duration::from_millis(100)).await.unwrap();
    }
    assert_eq!(
        admin.describe_group("workers").await.unwrap().members.len(),
        1
    );
    drop(consumer);
    // Well inside the 45 s session timeout.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !admin
        .describe_group("workers")
        .await
        .unwrap()
        .members
        .is_empty()
    {
        assert!(Instant::now() < deadline, "member still in the group");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
