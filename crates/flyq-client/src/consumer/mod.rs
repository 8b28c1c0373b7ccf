//! The consumer: group subscription (topics or a regex) or manual assignment, pipelined
//! fetches, auto and manual commits, seeks, pause/resume and rebalance callbacks.
//!
//! All state lives in the [`Consumer`] and changes only inside its `&mut self` methods; the
//! background work is one fetch task per leader in flight and the group heartbeat task.
//!
//! Here: the [`Consumer`] itself (assignment, pause, `poll`, close). Around it: `config`
//! (settings), `rebalance` (subscriptions, joins, revocations), `positions` (where each
//! partition reads from; seeks), `fetch_buffer` (what is fetched and not yet handed out),
//! `commit` (offset commits), `fetcher` (Fetch requests and decoding their answers), `group`
//! (the group membership protocol) and `assignor` (the partition assignors).

mod assignor;
mod commit;
mod config;
mod fetch_buffer;
mod fetcher;
mod group;
mod positions;
mod rebalance;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::types::{Header, TopicPartition};
pub use assignor::Assignor;
pub use config::{ConsumerConfig, OffsetReset};
use fetch_buffer::PartitionState;
use fetcher::Fetched;
use group::Membership;
use positions::Position;
pub use rebalance::RebalanceListener;
use rebalance::Subscription;

/// A consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp in ms since the epoch.
    pub timestamp: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<Header>,
}

/// An async consumer.
pub struct Consumer {
    cluster: Arc<Cluster>,
    config: ConsumerConfig,
    subscription: Subscription,
    /// Topics the subscription resolved to at the last join.
    subscribed: Vec<String>,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    membership: Option<Membership>,
    fetches: JoinSet<(i32, Vec<Fetched>)>,
    fetching_leaders: HashSet<i32>,
    /// Feeds the task that runs `commit_async` commits in order; started on first use.
    commits: Option<tokio::sync::mpsc::UnboundedSender<commit::Job>>,
    listener: Option<Box<dyn RebalanceListener>>,
    next_auto_commit: Instant,
    metadata_needed: bool,
    /// Rotates which partition poll drains first, so none starves.
    drain_start: usize,
    closed: bool,
}

impl Consumer {
    /// A consumer for the cluster in `config`; connects on first use.
    pub fn new(config: ConsumerConfig) -> Result<Self> {
        if config.assignors.is_empty() {
            return Err(Error::Config("assignors: offer at least one".to_owned()));
        }
        if config.max_poll_records == 0 {
            return Err(Error::Config(
                "max_poll_records must be above zero".to_owned(),
            ));
        }
        Ok(Self {
            cluster: Cluster::new(config.client.clone())?,
            next_auto_commit: Instant::now() + config.auto_commit_interval,
            config,
            subscription: Subscription::None,
            subscribed: Vec::new(),
            partitions: BTreeMap::new(),
            membership: None,
            fetches: JoinSet::new(),
            fetching_leaders: HashSet::new(),
            commits: None,
            listener: None,
            metadata_needed: false,
            drain_start: 0,
            closed: false,
        })
    }

    /// Sets the rebalance listener.
    pub fn set_rebalance_listener(&mut self, listener: impl RebalanceListener + 'static) {
        self.listener = Some(Box::new(listener));
    }

    /// Consumes exactly `partitions`, without group membership (commits still use the
    /// group_id if set).
    pub fn assign(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        if self.membership.is_some() {
            return Err(Error::Config(
                "subscribed to a group; cannot also assign".to_owned(),
            ));
        }
        let start = if self.config.group_id.is_some() {
            Position::Committed
        } else {
            Position::Reset
        };
        self.partitions.retain(|tp, _| partitions.contains(tp));
        for tp in partitions {
            self.partitions
                .entry(tp.clone())
                .or_insert_with(|| PartitionState::new(start));
        }
        Ok(())
    }

    /// The partitions currently assigned, sorted.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    fn state(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState> {
        self.partitions
            .get_mut(tp)
            .ok_or_else(|| Error::Config(format!("{tp} is not assigned to this consumer")))
    }

    /// Stops returning records of `partitions` until resumed (they stay assigned).
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.state(tp)?.paused = true;
        }
        Ok(())
    }

    /// Resumes paused partitions.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.state(tp)?.paused = false;
        }
        Ok(())
    }

    /// Paused partitions, sorted.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Waits up to `timeout` for records; an empty result means none arrived in time.
    /// Group joins, rebalances and auto-commits happen inside poll, so bound it with
    /// `timeout` rather than by dropping the future: a rebalance cut short is redone on the
    /// next poll, but partitions being revoked at that moment may be committed late.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        self.poll_up_to(self.config.max_poll_records, timeout).await
    }

    /// The next record, waiting as long as it takes.
    pub async fn recv(&mut self) -> Result<ConsumerRecord> {
        loop {
            if let Some(r) = self.poll_up_to(1, Duration::from_secs(1)).await?.pop() {
                return Ok(r);
            }
        }
    }

    /// The records as a stream (each item is one [`Consumer::recv`]).
    pub fn stream(&mut self) -> impl Stream<Item = Result<ConsumerRecord>> + '_ {
        futures::stream::unfold(self, |c| async move {
            let r = c.recv().await;
            Some((r, c))
        })
    }

    async fn poll_up_to(&mut self, max: usize, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        if self.closed {
            return Err(Error::Closed("consumer"));
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.maintain().await {
                Ok(()) => {}
                // The coordinator or a leader moved, or a broker restarts: keep polling and
                // try again after a backoff, as long as the caller is waiting anyway.
                Err(e) if e.is_retriable() && Instant::now() < deadline => {
                    tracing::debug!(target: "flyq_client::consumer", error = %e, "retrying");
                    let backoff = Instant::now() + self.cluster.config.reconnect_backoff_max;
                    tokio::time::sleep_until(backoff.min(deadline)).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
            // Answers that came in are followed by the next fetch before they are decoded, so
            // the broker works on it meanwhile.
            self.start_fetches();
            self.decode_buffered(max).await?;
            let records = self.take_buffered(max);
            // Taking records may have brought partitions below the prefetch mark.
            self.start_fetches();
            if !records.is_empty() {
                return Ok(records);
            }
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            let rejoin = self.membership.as_ref().map(|m| m.rejoin.clone());
            let rejoin_raised = async {
                match &rejoin {
                    Some(r) => r.raised().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(done) = self.fetches.join_next(), if !self.fetches.is_empty() => self.absorb(done)?,
                () = rejoin_raised => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// Group (re)join, pattern refresh, position lookups, auto-commit, metadata refresh.
    async fn maintain(&mut self) -> Result<()> {
        if let (Subscription::Pattern(_), Some(m)) = (&self.subscription, &self.membership)
            && self.cluster.metadata_stale()
        {
            self.cluster.refresh_metadata(&[], false).await?;
            if self.resolve_subscription() != self.subscribed {
                m.rejoin.raise();
            }
        }
        if self
            .membership
            .as_ref()
            .is_some_and(|m| m.rejoin.is_raised())
        {
            self.rejoin().await?;
        }
        // Leaders can move without a fetch failing (e.g. new replicas); refresh periodically.
        if self.metadata_needed || self.cluster.metadata_stale() {
            self.metadata_needed = false;
            let topics: BTreeSet<String> =
                self.partitions.keys().map(|tp| tp.topic.clone()).collect();
            // No partitions, no leaders to look up: an empty list would ask for every topic
            // in the cluster (pattern subscriptions refresh those above, on purpose).
            if !topics.is_empty() {
                self.cluster
                    .refresh_metadata(&topics.into_iter().collect::<Vec<_>>(), false)
                    .await?;
            }
        }
        self.resolve_positions().await?;
        if self.config.enable_auto_commit
            && self.config.group_id.is_some()
            && Instant::now() >= self.next_auto_commit
        {
            self.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
            if let Err(e) = self.commit_partitions(None).await {
                tracing::warn!(target: "flyq_client::consumer", error = %e, "auto-commit failed");
            }
        }
        Ok(())
    }

    /// Commits (with auto-commit), revokes, and leaves the group so the others rebalance at
    /// once.
    pub async fn close(mut self) -> Result<()> {
        self.shutdown().await
    }

    async fn shutdown(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.fetches.abort_all();
        let owned = self.assignment();
        if self.membership.is_some() && !owned.is_empty() {
            self.revoke(&owned).await;
        } else if self.config.enable_auto_commit && self.config.group_id.is_some() {
            self.commit_partitions(None).await?;
        }
        match self.membership.as_mut() {
            Some(m) => m.leave(&self.cluster).await,
            None => Ok(()),
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // Best effort: without a runtime there is no way to send; the session times out.
        let leave = self.membership.as_ref().and_then(Membership::leave_later);
        if let (Some((conn, request)), Ok(rt)) = (leave, tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                let _ = conn.send(&request).await;
            });
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use fetcher::{Answer, FetchTarget};

    /// A consumer (not connected) with `tps` assigned at offset 5, each with a fetch in flight.
    pub(crate) fn consumer(tps: &[&TopicPartition]) -> Consumer {
        let mut c = Consumer::new(ConsumerConfig::new("127.0.0.1:1", None)).unwrap();
        for tp in tps {
            let mut s = PartitionState::new(Position::Known(5));
            s.fetching = true;
            c.partitions.insert((*tp).clone(), s);
        }
        c
    }

    /// An answer holding one gzip batch of `values` at `base`.
    pub(crate) fn answer(base: i64, values: &[&str], control: bool) -> Answer {
        let batch = fetcher::tests::batch(base, values, control).freeze();
        Answer::new(batch, base, "b:1").unwrap()
    }

    /// What the fetch from offset 5 of `tp` brought.
    pub(crate) fn fetched(tp: &TopicPartition, result: Result<Answer>) -> Fetched {
        Fetched {
            target: FetchTarget {
                tp: tp.clone(),
                offset: 5,
                epoch: 0,
            },
            result,
        }
    }

    #[tokio::test]
    async fn without_partitions_no_all_topics_metadata_refresh_is_asked() {
        // Nothing listens on the bootstrap address: any Metadata request would fail.
        let mut c = consumer(&[]);
        c.metadata_needed = true;
        c.maintain().await.unwrap();
    }
}
