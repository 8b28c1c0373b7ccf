//! FlyQ's listeners. Today: the Kafka wire protocol listener.
pub mod kafka;
