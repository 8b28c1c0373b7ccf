//! Consumer settings and the reset policy.

use std::time::Duration;

use super::Assignor;
use crate::config::ClientConfig;

/// Where to start when a partition has no committed offset (or it is out of range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// The earliest offset.
    Earliest,
    /// The log end: only new records.
    Latest,
    /// Fail the poll.
    None,
}

/// Consumer settings; defaults follow the Java client.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Connection settings.
    pub client: ClientConfig,
    /// Consumer group (needed for subscribe and commits).
    pub group_id: Option<String>,
    /// Assignors offered to the group, preferred first.
    pub assignors: Vec<Assignor>,
    /// Start position without a committed offset.
    pub auto_offset_reset: OffsetReset,
    /// Commit positions every `auto_commit_interval`, before revocation and on close.
    pub enable_auto_commit: bool,
    /// Auto-commit period.
    pub auto_commit_interval: Duration,
    /// The coordinator drops a member silent for this long.
    pub session_timeout: Duration,
    /// How long the coordinator waits for members to rejoin in a rebalance.
    pub rebalance_timeout: Duration,
    /// Heartbeat period.
    pub heartbeat_interval: Duration,
    /// Most records one poll returns.
    pub max_poll_records: usize,
    /// Longest the broker holds a fetch waiting for data.
    pub fetch_max_wait: Duration,
    /// Bytes the broker waits for before answering a fetch.
    pub fetch_min_bytes: i32,
    /// Most bytes per fetch response.
    pub fetch_max_bytes: i32,
    /// Most bytes per partition per fetch.
    pub max_partition_fetch_bytes: i32,
}

impl ConsumerConfig {
    /// Defaults for the cluster at `bootstrap`, in group `group_id` if given.
    pub fn new(bootstrap: &str, group_id: Option<&str>) -> Self {
        Self {
            client: ClientConfig::new(bootstrap),
            group_id: group_id.map(str::to_owned),
            assignors: vec![Assignor::Range, Assignor::CooperativeSticky],
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            session_timeout: Duration::from_secs(45),
            rebalance_timeout: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_records: 500,
            fetch_max_wait: Duration::from_millis(500),
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
        }
    }

    /// Sets the start position without a committed offset.
    pub fn auto_offset_reset(mut self, reset: OffsetReset) -> Self {
        self.auto_offset_reset = reset;
        self
    }

    /// Turns auto-commit on or off.
    pub fn enable_auto_commit(mut self, on: bool) -> Self {
        self.enable_auto_commit = on;
        self
    }

    /// Sets the assignors offered, preferred first.
    pub fn assignors(mut self, assignors: Vec<Assignor>) -> Self {
        self.assignors = assignors;
        self
    }
}
