//! FlyQ's broker domain: topics and their partitions, each a [`flyq_log::Log`], and the
//! produce and fetch operations on them, including fetch long-polling.
//!
//! This crate knows nothing of the Kafka wire format: the server crate decodes requests, calls
//! in here, and encodes the answers. Which topics exist and how they are configured is the
//! cluster metadata's ([`flyq_meta`]); the broker derives its table of open partitions from
//! it. A single node is a cluster of one: the node is the leader of every partition, and the
//! high watermark follows each append (the in-sync replica set is the node itself).

mod append_policy;
mod broker;
mod error;
mod fetch;
pub mod group;
mod log_manager;
mod offsets;
mod partition;
mod producer_state;
mod topic_admin;
mod topic_name;
mod topic_table;

pub use broker::{
    Acks, Broker, BrokerConfig, ProduceOutcome, Topic, refuse_internal as refuse_internal_topic,
};
pub use error::{BrokerError, Result};
pub use fetch::{FetchSpec, FetchedPartition, PartitionFetch};
pub use flyq_meta::topic_config::{self, ConfigChange, ConfigEntry, TopicConfigs};
pub use offsets::{FoundOffset, OffsetSpec};
pub use partition::{Partition, PartitionView, StorageStats};
pub use topic_admin::Placement;
pub use topic_name::validate_topic_name;

/// Name of the internal topic holding consumer group offsets; clients may not produce to it.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";

pub use group::{GroupConfig, GroupCoordinator};
