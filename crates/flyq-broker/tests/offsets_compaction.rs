//! `__consumer_offsets` compaction: the live state survives, history is dropped, and a broker
//! reopened afterwards replays exactly the committed offsets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use flyq_broker::group::{CommittedOffset, GroupCode, MemberClaim};
use flyq_broker::{Broker, BrokerConfig, CONSUMER_OFFSETS_TOPIC, Placement, TopicConfigs};

fn open(dir: &std::path::Path) -> Arc<Broker> {
    let mut config = BrokerConfig::new(dir);
    config.groups.compaction_slack_records = 100;
    Broker::open(config).unwrap()
}

async fn commit(broker: &Broker, group: &str, partition: i32, offset: i64) {
    let committed = CommittedOffset {
        offset,
        leader_epoch: -1,
        metadata: format!("m{offset}"),
    };
    let admin = MemberClaim {
        member_id: "",
        instance_id: None,
        generation: -1,
    };
    let codes = broker
        .groups()
        .commit(
            group,
            admin,
            vec![("orders".into(), partition, committed)],
            |topic, partition| broker.partition(topic, partition).is_ok(),
        )
        .await;
    assert_eq!(codes, [GroupCode::Ok]);
}

fn committed(broker: &Broker, group: &str) -> Vec<(i32, i64, String)> {
    let mut all: Vec<_> = broker
        .groups()
        .committed(group, None)
        .into_iter()
        .filter_map(|(_, p, c)| c.map(|c| (p, c.offset, c.metadata)))
        .collect();
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_live_offsets_and_drops_history() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker
        .create_topic("orders", Placement::Count(3), TopicConfigs::new())
        .await
        .unwrap();
    for offset in 0..100 {
        for partition in 0..3 {
            commit(&broker, "keep", partition, offset).await;
        }
    }
    commit(&broker, "gone", 0, 7).await;
    assert_eq!(broker.groups().delete("gone").await, GroupCode::Ok);
    let partition = broker.partition(CONSUMER_OFFSETS_TOPIC, 0).unwrap();
    assert_eq!(partition.view().log_end_offset, 302);
    assert!(broker.groups().needs_compaction());

    broker.groups().compact().await.unwrap();

    assert!(!broker.groups().needs_compaction());
    // Only the three live offsets remain readable, in a single fresh segment.
    let view = partition.view();
    assert_eq!(view.log_start_offset, 302);
    assert_eq!(view.log_end_offset, 305);
    assert_eq!(partition.storage().segments, 1);
    let expected: Vec<_> = (0..3).map(|p| (p, 99, "m99".to_string())).collect();
    assert_eq!(committed(&broker, "keep"), expected);

    // Commits after the snapshot win over it on replay.
    commit(&broker, "keep", 0, 500).await;
    drop(broker);
    let reopened = open(dir.path());
    let mut expected = expected;
    expected[0] = (0, 500, "m500".to_string());
    assert_eq!(committed(&reopened, "keep"), expected);
    assert!(committed(&reopened, "gone").is_empty());
}

#[test]
fn a_second_broker_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Broker::open(BrokerConfig::new(dir.path())).unwrap();
    let error = Broker::open(BrokerConfig::new(dir.path())).unwrap_err();
    assert!(
        error.to_string().contains("another flyq process"),
        "{error}"
    );
    drop(first);
    Broker::open(BrokerConfig::new(dir.path())).unwrap();
}
