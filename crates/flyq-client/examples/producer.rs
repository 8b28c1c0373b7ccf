//! Sends 10,000 keyed records to topic `demo` and prints where the last one landed.
//!
//! Run against a local broker: `flyq serve` then
//! `cargo run -p flyq-client --example producer` (FLYQ_BOOTSTRAP overrides 127.0.0.1:9092).

use flyq_client::{Compression, Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::var("FLYQ_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let config = ProducerConfig::new(&bootstrap).compression(Compression::Lz4);
    let producer = Producer::new(config).await?;
    let mut last = None;
    for i in 0..10_000 {
        let record = ProducerRecord::new("demo", format!("hello {i}"))
            .key(format!("user-{}", i % 100))
            .header("source", "example");
        // `send` returns once the record is buffered; the delivery future resolves when the
        // broker has acknowledged its batch.
        last = Some(producer.send(record).await?);
    }
    producer.flush().await;
    if let Some(delivery) = last {
        let meta = delivery.await?;
        println!(
            "last record: {}/{} at offset {} (timestamp {})",
            meta.topic, meta.partition, meta.offset, meta.timestamp
        );
    }
    producer.close().await;
    Ok(())
}
