//! Async Rust client for FlyQ and other Kafka-compatible brokers: a [`Producer`], a
//! [`Consumer`] and an [`Admin`] client, all on tokio and the Kafka wire protocol.
//!
//! ```no_run
//! use std::time::Duration;
//! use flyq_client::{Consumer, ConsumerConfig, OffsetReset, Producer, ProducerConfig, ProducerRecord};
//!
//! # async fn demo() -> flyq_client::Result<()> {
//! // Idempotent, acks=all, batched producer.
//! let producer = Producer::new(ProducerConfig::new("127.0.0.1:9092")).await?;
//! let delivery = producer.send(ProducerRecord::new("orders", "42 apples").key("alice")).await?;
//! let written = delivery.await?;
//! println!("written to {}/{} at {}", written.topic, written.partition, written.offset);
//!
//! // A consumer in group "billing".
//! let config = ConsumerConfig::new("127.0.0.1:9092", Some("billing"))
//!     .auto_offset_reset(OffsetReset::Earliest);
//! let mut consumer = Consumer::new(config)?;
//! consumer.subscribe(&["orders"])?;
//! for record in consumer.poll(Duration::from_secs(1)).await? {
//!     println!("{}@{}: {:?}", record.partition, record.offset, record.value);
//! }
//! consumer.commit().await?;
//! consumer.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Examples
//!
//! `examples/` holds `producer.rs`, `consumer_group.rs` and `admin.rs`. Start a broker with
//! `flyq serve` (it listens on 127.0.0.1:9092) and run, from the workspace root:
//!
//! ```text
//! cargo run -p flyq-client --example producer
//! cargo run -p flyq-client --example consumer_group
//! cargo run -p flyq-client --example admin
//! ```
//!
//! Set `FLYQ_BOOTSTRAP=host:port` to use another broker.
//!
//! # Design
//!
//! - One TCP connection per broker carries pipelined requests matched by correlation id
//!   (`connection`); API versions are negotiated on connect (the highest both sides speak);
//!   connections are re-opened with exponential backoff (`cluster`).
//! - Metadata is cached and refreshed on NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION
//!   and similar errors, and when older than `metadata_max_age`.
//! - The producer encodes records straight into per-partition RecordBatch v2 buffers, which
//!   are sent as they are (no copy unless compressed); a sender task sends one Produce request
//!   per leader with every ready partition's next batch, up to five in flight per connection.
//!   A record costs one short lock and a reference count: its delivery future shares its
//!   batch's result slot. Buffer memory is bounded: `send` waits when it is full.
//! - The consumer keeps one fetch per leader in flight, started before the previous answer is
//!   decoded and while records are still buffered, so fetching, decoding and the application's
//!   work overlap. It speaks the classic group protocol with the standard ConsumerProtocol
//!   encodings, so it can share groups with Java and librdkafka consumers.
//! - Every failure is an [`Error`]: its message says what to do, [`Error::code`] gives the
//!   Kafka error code where the broker sent one and [`Error::is_retriable`] whether a retry can
//!   help.
//!
//! # Not (yet) supported
//!
//! Transactions, TLS and SASL, static membership (`group.instance.id`), the KIP-848 consumer
//! protocol, and enforcing a maximum poll interval. The cooperative-sticky assignor is balanced
//! and sticky with two-phase revocation, but not move-for-move identical to Java's; since only
//! the group leader assigns, mixed groups stay consistent.

mod admin;
mod cluster;
mod config;
mod connection;
mod consumer;
mod error;
mod offsets;
mod producer;
mod types;
mod versions;

pub use admin::{
    Admin, AlterConfigOp, BrokerDescription, ClusterDescription, ConfigEntry, ConfigResource,
    GroupDescription, GroupListing, GroupMember, ListedOffset, NewTopic, PartitionDescription,
    TopicDescription,
};
/// Kafka's standard consumer protocol encodings of group member metadata and assignments
/// (protocol type `consumer`), as Java, librdkafka and this crate's consumers write them
/// (defined in `flyq-protocol`).
pub mod consumer_protocol {
    pub use flyq_protocol::consumer_protocol::{
        Subscription, decode_assignment, decode_subscription,
    };
}
pub use config::ClientConfig;
pub use consumer::{
    Assignor, Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, RebalanceListener,
};
pub use error::{Error, Result};
/// The hardened RecordBatch v2 decoder the consumer uses (defined in `flyq-protocol`).
pub use flyq_protocol::decode as records;
pub use kafka_protocol::error::ResponseError;
pub use producer::{
    Acks, Compression, DeliveryFuture, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
    murmur2, partition_for_key,
};
pub use types::{Header, OffsetSpec, TopicPartition};
