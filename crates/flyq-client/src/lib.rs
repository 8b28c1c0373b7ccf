//! Async Rust client for FlyQ (and any Kafka-compatible broker).
//!
//! Placeholder docs; replaced below.

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
pub use config::ClientConfig;
pub use consumer::{
    Assignor, Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, RebalanceListener,
};
pub use error::{Error, Result};
pub use kafka_protocol::error::ResponseError;
pub use producer::{
    Acks, Compression, DeliveryFuture, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
    murmur2, partition_for_key,
};
pub use types::{Header, OffsetSpec, TopicPartition};
