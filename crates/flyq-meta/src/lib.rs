//! FlyQ's cluster metadata: what topics exist, how their partitions are placed and configured,
//! and the other cluster-wide state the brokers share (producer id blocks; later brokers,
//! users, ACLs, share-group state).
//!
//! The state is a [`MetadataImage`]. It changes only by [`MetadataCommand`]s, applied by one
//! deterministic function ([`MetadataImage::apply`]), so the same commands give the same image
//! on every node. A [`MetadataStore`] keeps the image durable and hands out changes:
//! - [`LocalStore`] on a single node: the image written atomically through the storage
//!   engine's [`flyq_log::storage::Storage`] (so the simulated-disk crash tests cover it);
//! - in clustered mode, the Raft state machine (the only place openraft will be imported).
//!
//! The registry of topic configs ([`topic_config`]) lives here too: every config change is a
//! metadata command, checked against that one table.
//!
//! This crate knows nothing of Kafka requests, sockets or partitions' data.

mod error;
mod image;
mod local;
mod store;
pub mod topic_config;

pub use error::{MetaError, Result};
pub use image::{Applied, MetadataCommand, MetadataImage, PartitionImage, TopicImage};
pub use local::LocalStore;
pub use store::MetadataStore;
pub use topic_config::TopicConfigs;
