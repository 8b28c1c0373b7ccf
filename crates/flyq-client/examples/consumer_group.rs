//! Joins group `demo-group`, consumes topic `demo` and commits every 1,000 records; stops
//! after 10 seconds without records and leaves the group cleanly.
//!
//! Run against a local broker: `flyq serve` then
//! `cargo run -p flyq-client --example consumer_group` (FLYQ_BOOTSTRAP overrides
//! 127.0.0.1:9092). Start it twice to watch the group split the partitions.

use std::time::Duration;

use flyq_client::{Consumer, ConsumerConfig, OffsetReset, RebalanceListener, TopicPartition};

struct Print;

impl RebalanceListener for Print {
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        println!("assigned: {partitions:?}");
    }
    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        println!("revoked: {partitions:?}");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::var("FLYQ_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let config = ConsumerConfig::new(&bootstrap, Some("demo-group"))
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false);
    let mut consumer = Consumer::new(config)?;
    consumer.set_rebalance_listener(Print);
    consumer.subscribe(&["demo"])?;
    let mut count = 0u64;
    let mut idle = 0;
    while idle < 10 {
        let records = consumer.poll(Duration::from_secs(1)).await?;
        if records.is_empty() {
            idle += 1;
            continue;
        }
        idle = 0;
        for r in &records {
            count += 1;
            if count.is_multiple_of(1_000) {
                println!(
                    "{} records; latest {}/{}@{}: {:?}",
                    count,
                    r.topic,
                    r.partition,
                    r.offset,
                    r.value.as_deref().map(String::from_utf8_lossy)
                );
                consumer.commit().await?;
            }
        }
    }
    consumer.commit().await?;
    println!("consumed {count} records");
    consumer.close().await?;
    Ok(())
}
