//! Test support for FlyQ's crates, so each crate can test itself without the `flyq` binary.
//!
//! - [`TestBroker`]: a broker over a data directory with its Kafka and HTTP listeners on
//!   127.0.0.1 (free ports), running in-process on a runtime of its own, stopped when dropped.
//! - [`kafka`]: a raw Kafka connection ([`kafka::Conn`]) that sends encoded requests and reads
//!   frames, and the requests tests build again and again.
//! - [`http_client`]: one-shot HTTP/1.0 exchanges with the HTTP API.
//!
//! Tests of what only a process has (kill -9, signals, the CLI, config files, start-up lines)
//! stay in `crates/flyq/tests`, which uses the clients of this kit against a real `flyq serve`.
// A test kit: failing loudly, with the reason, is its job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker;
pub mod http_client;
pub mod kafka;

pub use broker::{Builder, TestBroker};
