//! The consumer: group subscription (topics or a regex) or manual assignment, pipelined
//! fetches, auto and manual commits, seeks, pause/resume and rebalance callbacks.
//!
//! All state lives in the [`Consumer`] and changes only inside its `&mut self` methods; the
//! background work is one fetch task per leader in flight and the group heartbeat task.

mod assignor;
mod commit;
mod fetcher;
mod group;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use kafka_protocol::error::ResponseError;
use regex::Regex;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::offsets;
use crate::types::{Header, OffsetSpec, TopicPartition};
pub use assignor::Assignor;
use fetcher::{Answer, FetchLimits, FetchTarget, Fetched};
use group::{GroupSettings, Membership};

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

/// Told about partitions coming and going in group rebalances. Runs inside `poll`, so it may
/// not call the consumer; commits of revoked partitions happen before `on_revoked` when
/// auto-commit is on.
pub trait RebalanceListener: Send {
    /// Partitions newly assigned to this consumer.
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        let _ = partitions;
    }
    /// Partitions taken from this consumer.
    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        let _ = partitions;
    }
    /// Partitions this consumer lost without a rebalance handing them over: its membership
    /// ended (session expired, fenced), so others may own them already and nothing was
    /// committed for them. Calls `on_revoked` unless overridden.
    fn on_lost(&mut self, partitions: &[TopicPartition]) {
        self.on_revoked(partitions);
    }
}

#[derive(Debug, Clone)]
enum Subscription {
    None,
    Topics(Vec<String>),
    Pattern(Regex),
}

/// How a partition's next fetch offset is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    Known(i64),
    /// Use the committed offset, else the reset policy.
    Committed,
    /// Use the reset policy.
    Reset,
}

#[derive(Debug)]
struct PartitionState {
    position: Position,
    paused: bool,
    /// Decoded records, handed out by `poll`.
    records: VecDeque<ConsumerRecord>,
    /// Fetch answers not decoded yet: `poll` decodes the next when `records` runs out.
    answers: VecDeque<Answer>,
    /// Bytes of `answers` plus key and value bytes of `records`: the next fetch starts before
    /// they are all taken (so it overlaps with decoding and the application's work) while this
    /// is below a fetch's worth.
    buffered_bytes: usize,
    /// Where the batches behind `records` and `answers` end: the next fetch starts there.
    fetched_to: Option<i64>,
    /// Bumped by seeks; fetch answers from an older epoch are dropped.
    epoch: u64,
    fetching: bool,
}

impl PartitionState {
    fn new(position: Position) -> Self {
        Self {
            position,
            paused: false,
            records: VecDeque::new(),
            answers: VecDeque::new(),
            buffered_bytes: 0,
            fetched_to: None,
            epoch: 0,
            fetching: false,
        }
    }

    /// Where the next fetch starts: after the buffered batches, or at the position when
    /// nothing is buffered.
    fn fetch_offset(&self) -> Option<i64> {
        match (self.is_buffering(), self.position) {
            (true, _) => self.fetched_to,
            (false, Position::Known(offset)) => Some(offset),
            (false, _) => None,
        }
    }

    fn is_buffering(&self) -> bool {
        !self.records.is_empty() || !self.answers.is_empty()
    }

    /// Drops what is buffered (after a seek, a reset or an undecodable answer).
    fn clear_buffer(&mut self) {
        self.records.clear();
        self.answers.clear();
        self.buffered_bytes = 0;
        self.fetched_to = None;
    }

    /// Buffers a fetch answer; its batches end at its `next_offset`.
    fn buffer_answer(&mut self, answer: Answer) {
        if answer.records.is_empty() {
            return;
        }
        self.buffered_bytes += answer.records.len();
        self.fetched_to = answer.next_offset.or(self.fetched_to);
        self.answers.push_back(answer);
    }

    /// Decodes the next answer if the decoded records ran out (and the partition is not
    /// paused); returns how many records that made ready.
    async fn decode_if_drained(&mut self, tp: &TopicPartition) -> Result<usize> {
        if self.paused || !self.records.is_empty() || self.answers.is_empty() {
            return Ok(0);
        }
        self.decode_next(tp).await?;
        Ok(self.records.len())
    }

    /// Decodes the next buffered answer into `records`, off the tokio workers when that is
    /// slow. A part left over for the decode budget stays first in line.
    async fn decode_next(&mut self, tp: &TopicPartition) -> Result<()> {
        let Some(answer) = self.answers.pop_front() else {
            return Ok(());
        };
        self.buffered_bytes = self.buffered_bytes.saturating_sub(answer.records.len());
        let topic: Arc<str> = Arc::from(tp.topic.as_str());
        let (partition, from) = (tp.partition, answer.from);
        let records = answer.records.clone();
        let decoded = if fetcher::decode_offloaded(&records) {
            tokio::task::spawn_blocking(move || fetcher::decode(&topic, partition, from, records))
                .await
                .unwrap_or_else(|e| Err(format!("decoding task failed: {e}")))
        } else {
            fetcher::decode(&topic, partition, from, records)
        };
        match decoded {
            Ok(decoded) => {
                if !decoded.rest.is_empty() {
                    self.buffered_bytes += decoded.rest.len();
                    self.answers.push_front(Answer {
                        records: decoded.rest,
                        ..answer
                    });
                }
                self.buffered_bytes += decoded.records.iter().map(record_bytes).sum::<usize>();
                self.records.extend(decoded.records);
                Ok(())
            }
            Err(what) => {
                // Fetched again from the position (and refused again, until the log is fixed):
                // what came after the bad batch must not be skipped.
                self.clear_buffer();
                self.epoch += 1;
                Err(Error::Protocol {
                    addr: answer.broker,
                    what: format!("records of {tp}: {what}"),
                })
            }
        }
    }
}

/// The bytes of a record counted against the fetch buffer.
fn record_bytes(r: &ConsumerRecord) -> usize {
    r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().map_or(0, Bytes::len)
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

    fn group_settings(&self) -> Result<GroupSettings> {
        let group = self.config.group_id.clone().ok_or_else(|| {
            Error::Config("subscribe needs a group_id (or use assign)".to_owned())
        })?;
        Ok(GroupSettings {
            group,
            assignors: self.config.assignors.clone(),
            session_timeout: self.config.session_timeout,
            rebalance_timeout: self.config.rebalance_timeout,
            heartbeat_interval: self.config.heartbeat_interval,
        })
    }

    /// Joins the group consuming `topics`; partitions arrive with the next `poll`.
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        self.start_group(Subscription::Topics(
            topics.iter().map(|t| (*t).to_owned()).collect(),
        ))
    }

    /// Joins the group consuming every topic whose whole name matches `pattern`; topics
    /// created later join the subscription when metadata is refreshed.
    pub fn subscribe_pattern(&mut self, pattern: &str) -> Result<()> {
        let regex = Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| Error::Config(format!("subscription pattern {pattern:?}: {e}")))?;
        self.start_group(Subscription::Pattern(regex))
    }

    fn start_group(&mut self, subscription: Subscription) -> Result<()> {
        if !self.partitions.is_empty() && self.membership.is_none() {
            return Err(Error::Config(
                "already assigned manually; unassign first".to_owned(),
            ));
        }
        let settings = self.group_settings()?;
        self.subscription = subscription;
        match &mut self.membership {
            Some(m) => m.rejoin.raise(),
            None => self.membership = Some(Membership::new(settings)),
        }
        Ok(())
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

    /// Leaves the group (committing first with auto-commit) or drops the manual assignment.
    pub async fn unsubscribe(&mut self) -> Result<()> {
        let owned = self.assignment();
        let left = if self.membership.is_some() {
            // Revoking commits under the current generation, so it happens before leaving.
            self.revoke(&owned).await;
            match self.membership.take() {
                Some(mut m) => m.leave(&self.cluster).await,
                None => Ok(()),
            }
        } else {
            Ok(())
        };
        self.partitions.clear();
        self.subscription = Subscription::None;
        self.subscribed.clear();
        left
    }

    /// The partitions currently assigned, sorted.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    /// The offset of the next record `poll` returns for `tp`, if known yet.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        match self.partitions.get(tp)?.position {
            Position::Known(o) => Some(o),
            _ => None,
        }
    }

    fn state(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState> {
        self.partitions
            .get_mut(tp)
            .ok_or_else(|| Error::Config(format!("{tp} is not assigned to this consumer")))
    }

    /// The next poll returns `tp` from `offset`.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        let s = self.state(tp)?;
        s.position = Position::Known(offset);
        s.clear_buffer();
        s.epoch += 1;
        Ok(())
    }

    async fn seek_to(
        &mut self,
        partitions: &[TopicPartition],
        spec: impl Fn(&TopicPartition) -> OffsetSpec,
    ) -> Result<()> {
        let specs: Vec<(TopicPartition, OffsetSpec)> =
            partitions.iter().map(|tp| (tp.clone(), spec(tp))).collect();
        let found = offsets::list_offsets(&self.cluster, &specs).await?;
        let mut end = None;
        for tp in partitions {
            let offset = match found.get(tp) {
                Some((o, _)) if *o >= 0 => *o,
                // No record at or after the timestamp: the end, where the next one will be.
                _ => {
                    if end.is_none() {
                        let latest: Vec<_> = partitions
                            .iter()
                            .map(|tp| (tp.clone(), OffsetSpec::Latest))
                            .collect();
                        end = Some(offsets::list_offsets(&self.cluster, &latest).await?);
                    }
                    end.as_ref().and_then(|e| e.get(tp)).map_or(0, |(o, _)| *o)
                }
            };
            self.seek(tp, offset)?;
        }
        Ok(())
    }

    /// Seeks `partitions` to their earliest offsets.
    pub async fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_to(partitions, |_| OffsetSpec::Earliest).await
    }

    /// Seeks `partitions` to their log ends.
    pub async fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_to(partitions, |_| OffsetSpec::Latest).await
    }

    /// Seeks `partitions` to the first record at or after `timestamp_ms` (the end if none).
    pub async fn seek_to_timestamp(
        &mut self,
        partitions: &[TopicPartition],
        timestamp_ms: i64,
    ) -> Result<()> {
        self.seek_to(partitions, |_| OffsetSpec::Timestamp(timestamp_ms))
            .await
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

    fn resolve_subscription(&self) -> Vec<String> {
        match &self.subscription {
            Subscription::None => Vec::new(),
            Subscription::Topics(t) => t.clone(),
            Subscription::Pattern(re) => {
                let md = self.cluster.metadata();
                let mut topics: Vec<String> = md
                    .topics
                    .iter()
                    .filter(|(name, t)| !t.internal && re.is_match(name))
                    .map(|(name, _)| name.clone())
                    .collect();
                topics.sort();
                topics
            }
        }
    }

    async fn rejoin(&mut self) -> Result<()> {
        if let Subscription::Pattern(_) = self.subscription {
            self.cluster.refresh_metadata(&[], false).await?;
        }
        self.drop_lost_partitions();
        let topics = self.resolve_subscription();
        let cooperative = self
            .membership
            .as_ref()
            .and_then(|m| m.assignor)
            .map_or_else(
                || self.config.assignors.iter().all(|a| a.cooperative()),
                Assignor::cooperative,
            );
        let owned = self.assignment();
        if !cooperative && !owned.is_empty() {
            self.revoke(&owned).await;
        }
        let owned = self.assignment();
        let Some(m) = self.membership.as_mut() else {
            return Ok(());
        };
        let assigned = m.join(&self.cluster, &topics, &owned).await?;
        let cooperative = m.assignor.is_some_and(Assignor::cooperative);
        let rejoin = m.rejoin.clone();
        self.subscribed = topics;
        let revoked: Vec<TopicPartition> = owned
            .iter()
            .filter(|tp| !assigned.contains(tp))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            self.revoke(&revoked).await;
            if cooperative {
                // Second phase: the revoked partitions go to their new owners in the next
                // rebalance, which this member triggers now.
                rejoin.raise();
            }
        }
        let added: Vec<TopicPartition> = assigned
            .iter()
            .filter(|tp| !self.partitions.contains_key(tp))
            .cloned()
            .collect();
        for tp in &added {
            self.partitions
                .insert(tp.clone(), PartitionState::new(Position::Committed));
        }
        tracing::info!(target: "flyq_client::consumer", assigned = ?added, revoked = ?revoked, "rebalanced");
        if let Some(l) = &mut self.listener {
            l.on_assigned(&added);
        }
        Ok(())
    }

    /// After the membership ended, drops every owned partition without committing (the
    /// generation is gone, and others may own them already), so the rejoin claims none.
    fn drop_lost_partitions(&mut self) {
        if !self
            .membership
            .as_ref()
            .is_some_and(|m| m.rejoin.take_lost())
        {
            return;
        }
        let lost = self.assignment();
        if lost.is_empty() {
            return;
        }
        tracing::info!(target: "flyq_client::consumer", lost = ?lost, "group membership ended; partitions lost");
        if let Some(l) = &mut self.listener {
            l.on_lost(&lost);
        }
        self.partitions.clear();
    }

    /// Commits (with auto-commit), tells the listener, and drops `partitions`.
    async fn revoke(&mut self, partitions: &[TopicPartition]) {
        if self.config.enable_auto_commit
            && let Err(e) = self.commit_partitions(Some(partitions)).await
        {
            tracing::warn!(target: "flyq_client::consumer", error = %e, "commit before revocation failed");
        }
        if let Some(l) = &mut self.listener {
            l.on_revoked(partitions);
        }
        for tp in partitions {
            self.partitions.remove(tp);
        }
    }

    async fn resolve_positions(&mut self) -> Result<()> {
        let committed_wanted: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|(_, s)| s.position == Position::Committed)
            .map(|(tp, _)| tp.clone())
            .collect();
        if !committed_wanted.is_empty() {
            let committed = match self.config.group_id.clone() {
                Some(group) => {
                    let cluster = self.cluster.clone();
                    offsets::with_retries(&cluster, &[], || async {
                        let conn = offsets::coordinator(&cluster, &group).await?;
                        offsets::fetch_committed(&conn, &group, Some(&committed_wanted)).await
                    })
                    .await?
                }
                None => BTreeMap::new(),
            };
            for tp in committed_wanted {
                if let Some(s) = self.partitions.get_mut(&tp) {
                    s.position = committed
                        .get(&tp)
                        .map_or(Position::Reset, |o| Position::Known(*o));
                }
            }
        }
        let reset: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|(_, s)| s.position == Position::Reset)
            .map(|(tp, _)| tp.clone())
            .collect();
        if reset.is_empty() {
            return Ok(());
        }
        let spec = match self.config.auto_offset_reset {
            OffsetReset::Earliest => OffsetSpec::Earliest,
            OffsetReset::Latest => OffsetSpec::Latest,
            OffsetReset::None => {
                return Err(Error::Config(format!(
                    "no committed offset for {} and auto_offset_reset is None: seek first",
                    reset[0]
                )));
            }
        };
        let specs: Vec<_> = reset.iter().map(|tp| (tp.clone(), spec)).collect();
        let found = offsets::list_offsets(&self.cluster, &specs).await?;
        for tp in reset {
            if let (Some(s), Some((o, _))) = (self.partitions.get_mut(&tp), found.get(&tp)) {
                s.position = Position::Known(*o);
            }
        }
        Ok(())
    }

    /// Decodes the next answer of every partition whose decoded records ran out.
    /// Decodes answers until `max` records are ready (or none is left), visiting partitions
    /// in the order the next `take_buffered` will: a poll decodes what it hands out, not every
    /// partition's next answer.
    async fn decode_buffered(&mut self, max: usize) -> Result<()> {
        let n = self.partitions.len();
        if n == 0 {
            return Ok(());
        }
        let start = (self.drain_start + 1) % n;
        let mut ready: usize = self
            .partitions
            .values()
            .filter(|s| !s.paused)
            .map(|s| s.records.len())
            .sum();
        for (tp, s) in self.partitions.iter_mut().skip(start) {
            if ready >= max {
                return Ok(());
            }
            ready += s.decode_if_drained(tp).await?;
        }
        for (tp, s) in self.partitions.iter_mut().take(start) {
            if ready >= max {
                return Ok(());
            }
            ready += s.decode_if_drained(tp).await?;
        }
        Ok(())
    }

    fn take_buffered(&mut self, max: usize) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        let n = self.partitions.len();
        if n == 0 {
            return out;
        }
        self.drain_start = (self.drain_start + 1) % n;
        let start = self.drain_start;
        for s in self.partitions.values_mut().skip(start) {
            take_from(s, max, &mut out);
        }
        for s in self.partitions.values_mut().take(start) {
            take_from(s, max, &mut out);
        }
        out
    }

    fn start_fetches(&mut self) {
        let metadata = self.cluster.metadata();
        let mut by_leader: BTreeMap<i32, Vec<FetchTarget>> = BTreeMap::new();
        let prefetch_below = usize::try_from(self.config.max_partition_fetch_bytes).unwrap_or(0);
        for (tp, s) in &mut self.partitions {
            let Some(offset) = s.fetch_offset() else {
                continue;
            };
            if s.paused || s.fetching || s.buffered_bytes >= prefetch_below {
                continue;
            }
            let Some(leader) = metadata.leader(&tp.topic, tp.partition) else {
                self.metadata_needed = true;
                continue;
            };
            if self.fetching_leaders.contains(&leader) {
                continue;
            }
            by_leader.entry(leader).or_default().push(FetchTarget {
                tp: tp.clone(),
                offset,
                epoch: s.epoch,
            });
        }
        let limits = FetchLimits {
            max_wait_ms: i32::try_from(self.config.fetch_max_wait.as_millis()).unwrap_or(i32::MAX),
            min_bytes: self.config.fetch_min_bytes,
            max_bytes: self.config.fetch_max_bytes,
            partition_max_bytes: self.config.max_partition_fetch_bytes,
        };
        for (leader, targets) in by_leader {
            for t in &targets {
                if let Some(s) = self.partitions.get_mut(&t.tp) {
                    s.fetching = true;
                }
            }
            self.fetching_leaders.insert(leader);
            let cluster = self.cluster.clone();
            self.fetches.spawn(async move {
                (
                    leader,
                    fetcher::fetch(cluster, leader, targets, limits).await,
                )
            });
        }
    }

    fn absorb(
        &mut self,
        done: std::result::Result<(i32, Vec<Fetched>), tokio::task::JoinError>,
    ) -> Result<()> {
        let Ok((leader, fetched)) = done else {
            // A fetch task panicked or was cancelled: forget every fetch so they restart.
            self.fetching_leaders.clear();
            self.partitions
                .values_mut()
                .for_each(|s| s.fetching = false);
            return Ok(());
        };
        self.fetching_leaders.remove(&leader);
        // Every answer is absorbed even after a fatal one: returning early would leave the
        // rest flagged as fetching, and those partitions would never be fetched again.
        let mut fatal = None;
        for f in fetched {
            let Some(s) = self.partitions.get_mut(&f.target.tp) else {
                continue;
            };
            s.fetching = false;
            if s.epoch != f.target.epoch || s.fetch_offset() != Some(f.target.offset) {
                continue;
            }
            match f.result {
                Ok(answer) => s.buffer_answer(answer),
                Err(e) if e.kafka_error() == Some(ResponseError::OffsetOutOfRange) => {
                    tracing::info!(target: "flyq_client::consumer", tp = %f.target.tp, offset = f.target.offset, "offset out of range; resetting");
                    s.position = Position::Reset;
                    s.clear_buffer();
                }
                Err(e) if e.is_retriable() => {
                    tracing::debug!(target: "flyq_client::consumer", tp = %f.target.tp, error = %e, "fetch failed; retrying");
                    self.metadata_needed = true;
                }
                Err(e) => {
                    fatal.get_or_insert(e);
                }
            }
        }
        fatal.map_or(Ok(()), Err)
    }

    /// Positions of `filter` (all assigned partitions when `None`) that are known.
    fn positions(&self, filter: Option<&[TopicPartition]>) -> BTreeMap<TopicPartition, i64> {
        self.partitions
            .iter()
            .filter(|(tp, _)| filter.is_none_or(|f| f.contains(tp)))
            .filter_map(|(tp, s)| match s.position {
                Position::Known(o) => Some((tp.clone(), o)),
                _ => None,
            })
            .collect()
    }

    async fn commit_partitions(&mut self, filter: Option<&[TopicPartition]>) -> Result<()> {
        let offsets = self.positions(filter);
        self.commit_offsets(&offsets).await
    }

    /// Commits the current positions (the offsets after the records polled so far) and waits.
    pub async fn commit(&mut self) -> Result<()> {
        self.commit_partitions(None).await
    }

    /// Commits explicit offsets (the next offset to consume per partition) and waits,
    /// retrying retriable errors.
    pub async fn commit_offsets(&mut self, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut target = self.commit_target()?;
        if let Some(m) = &mut self.membership {
            target.coordinator = Some(m.coordinator(&self.cluster).await?);
        }
        let result = commit::commit(&self.cluster, &mut target, offsets).await;
        if target.coordinator.is_none()
            && let Some(m) = &mut self.membership
        {
            m.forget_coordinator();
        }
        result
    }

    /// Starts committing the current positions and returns at once; the returned future
    /// resolves with the outcome and need not be awaited. Commits apply in the order they
    /// were started: one task per consumer runs them one after another.
    pub fn commit_async(&mut self) -> impl Future<Output = Result<()>> + Send + 'static {
        let offsets = self.positions(None);
        let (done, outcome) = tokio::sync::oneshot::channel();
        match self.commit_target() {
            Err(e) => {
                let _ = done.send(Err(e));
            }
            Ok(_) if offsets.is_empty() => {
                let _ = done.send(Ok(()));
            }
            Ok(target) => {
                let cluster = &self.cluster;
                let commits = self
                    .commits
                    .get_or_insert_with(|| commit::spawn_committer(cluster.clone()));
                // The task only ends when this consumer drops the sender.
                let _ = commits.send(commit::Job {
                    target,
                    offsets,
                    done,
                });
            }
        }
        async move { outcome.await.map_err(|_| Error::Closed("consumer"))? }
    }

    /// Who commits: the group, and the membership's generation, member id and coordinator.
    fn commit_target(&self) -> Result<commit::Target> {
        let group = self
            .config
            .group_id
            .clone()
            .ok_or_else(|| Error::Config("commits need a group_id".to_owned()))?;
        Ok(match &self.membership {
            Some(m) => commit::Target {
                group,
                generation: m.generation,
                member_id: m.member_id.clone(),
                coordinator: m.cached_coordinator(),
                rejoin: Some(m.rejoin.clone()),
            },
            None => commit::Target {
                group,
                generation: -1,
                member_id: String::new(),
                coordinator: None,
                rejoin: None,
            },
        })
    }

    /// Committed offsets of `partitions` for this consumer's group (absent: none committed).
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let group = self
            .config
            .group_id
            .as_deref()
            .ok_or_else(|| Error::Config("committed offsets need a group_id".to_owned()))?;
        let conn = offsets::coordinator(&self.cluster, group).await?;
        offsets::fetch_committed(&conn, group, Some(partitions)).await
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

fn take_from(s: &mut PartitionState, max: usize, out: &mut Vec<ConsumerRecord>) {
    if s.paused {
        return;
    }
    while out.len() < max {
        let Some(r) = s.records.pop_front() else {
            break;
        };
        s.buffered_bytes = s.buffered_bytes.saturating_sub(record_bytes(&r));
        // The offset comes from the log, written by a producer: never overflow on it.
        s.position = Position::Known(r.offset.saturating_add(1));
        out.push(r);
    }
    // Past the last record, the position moves to the end of its batches, over what decoded
    // to nothing for the application (transaction markers, records compacted away, records
    // before the position): otherwise the next fetch would ask for them again, forever.
    if !s.is_buffering()
        && let (Position::Known(position), Some(end)) = (s.position, s.fetched_to)
        && end > position
    {
        s.position = Position::Known(end);
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(tp: &TopicPartition, offset: i64) -> ConsumerRecord {
        ConsumerRecord {
            topic: Arc::from(tp.topic.as_str()),
            partition: tp.partition,
            offset,
            timestamp: 0,
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }

    fn consumer(tps: &[&TopicPartition]) -> Consumer {
        let mut c = Consumer::new(ConsumerConfig::new("127.0.0.1:1", None)).unwrap();
        for tp in tps {
            let mut s = PartitionState::new(Position::Known(5));
            s.fetching = true;
            c.partitions.insert((*tp).clone(), s);
        }
        c
    }

    /// An answer holding one gzip batch of `values` at `base`.
    fn answer(base: i64, values: &[&str], control: bool) -> Answer {
        let batch = fetcher::tests::batch(base, values, control).freeze();
        Answer::new(batch, base, "b:1").unwrap()
    }

    fn fetched(tp: &TopicPartition, result: Result<Answer>) -> Fetched {
        Fetched {
            target: FetchTarget {
                tp: tp.clone(),
                offset: 5,
                epoch: 0,
            },
            result,
        }
    }

    #[test]
    fn taking_a_record_at_the_last_offset_does_not_overflow() {
        let tp = TopicPartition::new("t", 0);
        let mut s = PartitionState::new(Position::Known(0));
        s.records.push_back(record(&tp, i64::MAX));
        let mut out = Vec::new();
        take_from(&mut s, 10, &mut out);
        assert_eq!(s.position, Position::Known(i64::MAX));
    }

    #[tokio::test]
    async fn a_fatal_fetch_error_still_absorbs_every_other_answer() {
        let (a, b) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        let mut c = consumer(&[&a, &b]);
        c.fetching_leaders.insert(1);
        let err = c
            .absorb(Ok((
                1,
                vec![
                    fetched(&a, Err(Error::Config("fatal".to_owned()))),
                    fetched(&b, Ok(answer(5, &["v"], false))),
                ],
            )))
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        assert!(c.partitions.values().all(|s| !s.fetching));
        assert_eq!(c.partitions[&b].answers.len(), 1);
    }

    #[tokio::test]
    async fn the_next_fetch_starts_where_the_buffered_answers_end() {
        let tp = TopicPartition::new("t", 0);
        let mut c = consumer(&[&tp]);
        c.absorb(Ok((
            1,
            vec![fetched(&tp, Ok(answer(5, &["a", "b"], false)))],
        )))
        .unwrap();
        let s = c.partitions.get_mut(&tp).unwrap();
        // Not decoded yet, and not yet taken: the position stays, the next fetch moves on.
        assert_eq!(s.position, Position::Known(5));
        assert_eq!(s.fetch_offset(), Some(7));
        s.decode_next(&tp).await.unwrap();
        let mut out = Vec::new();
        take_from(s, 1, &mut out);
        assert_eq!(s.position, Position::Known(6));
        assert_eq!(s.fetch_offset(), Some(7));
        take_from(s, 10, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (s.position, s.fetch_offset()),
            (Position::Known(7), Some(7))
        );
        assert_eq!(s.buffered_bytes, 0);
    }

    #[tokio::test]
    async fn a_poll_decodes_only_what_it_can_hand_out() {
        let (a, b) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        let mut c = consumer(&[&a, &b]);
        c.absorb(Ok((
            1,
            vec![
                fetched(&a, Ok(answer(5, &["a1", "a2"], false))),
                fetched(&b, Ok(answer(5, &["b1", "b2"], false))),
            ],
        )))
        .unwrap();
        let undecoded = |c: &Consumer| {
            c.partitions
                .values()
                .filter(|s| !s.answers.is_empty())
                .count()
        };
        c.decode_buffered(1).await.unwrap();
        assert_eq!(undecoded(&c), 1, "one answer holds enough records");
        let first = c.take_buffered(1);
        assert_eq!(first.len(), 1);
        // The partition decoded is the one the take visited; the other waits its turn.
        c.decode_buffered(10).await.unwrap();
        assert_eq!(undecoded(&c), 0);
        let rest = c.take_buffered(10);
        assert_eq!(rest.len(), 3);
    }

    #[tokio::test]
    async fn a_seek_drops_what_is_buffered_and_fetches_from_the_new_offset() {
        let tp = TopicPartition::new("t", 0);
        let mut c = consumer(&[&tp]);
        c.absorb(Ok((1, vec![fetched(&tp, Ok(answer(5, &["a"], false)))])))
            .unwrap();
        c.seek(&tp, 100).unwrap();
        let s = &c.partitions[&tp];
        assert!(!s.is_buffering());
        assert_eq!(s.fetch_offset(), Some(100));
    }

    #[tokio::test]
    async fn an_undecodable_answer_is_an_error_and_is_fetched_again_from_the_position() {
        let tp = TopicPartition::new("t", 0);
        let mut c = consumer(&[&tp]);
        let mut corrupt = answer(5, &["a"], false);
        let mut bytes = corrupt.records.to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        corrupt.records = Bytes::from(bytes);
        c.absorb(Ok((1, vec![fetched(&tp, Ok(corrupt))]))).unwrap();
        let s = c.partitions.get_mut(&tp).unwrap();
        let err = s.decode_next(&tp).await.unwrap_err();
        assert!(matches!(err, Error::Protocol { .. }), "{err}");
        assert_eq!(s.fetch_offset(), Some(5));
        assert!(!s.is_buffering());
    }

    #[tokio::test]
    async fn an_answer_without_records_moves_the_position_past_its_batches() {
        let tp = TopicPartition::new("t", 0);
        let mut c = consumer(&[&tp]);
        // A control batch of four markers at offsets 5 to 8.
        let markers = answer(5, &["m", "m", "m", "m"], true);
        c.absorb(Ok((1, vec![fetched(&tp, Ok(markers))]))).unwrap();
        let s = c.partitions.get_mut(&tp).unwrap();
        s.decode_next(&tp).await.unwrap();
        let mut out = Vec::new();
        take_from(s, 10, &mut out);
        assert!(out.is_empty());
        assert_eq!(s.position, Position::Known(9));
    }

    #[tokio::test]
    async fn an_ended_membership_drops_every_partition_as_lost() {
        struct Lost(Arc<parking_lot::Mutex<Vec<TopicPartition>>>);
        impl RebalanceListener for Lost {
            fn on_lost(&mut self, partitions: &[TopicPartition]) {
                self.0.lock().extend_from_slice(partitions);
            }
        }
        let tp = TopicPartition::new("t", 0);
        let mut c = Consumer::new(ConsumerConfig::new("127.0.0.1:1", Some("g"))).unwrap();
        c.subscribe(&["t"]).unwrap();
        c.partitions
            .insert(tp.clone(), PartitionState::new(Position::Known(5)));
        let lost = Arc::new(parking_lot::Mutex::new(Vec::new()));
        c.set_rebalance_listener(Lost(lost.clone()));
        c.drop_lost_partitions();
        assert_eq!(c.assignment(), vec![tp.clone()], "nothing lost yet");
        c.membership.as_ref().unwrap().rejoin.lose(false);
        c.drop_lost_partitions();
        assert!(c.assignment().is_empty());
        assert_eq!(*lost.lock(), vec![tp]);
    }

    #[tokio::test]
    async fn without_partitions_no_all_topics_metadata_refresh_is_asked() {
        // Nothing listens on the bootstrap address: any Metadata request would fail.
        let mut c = consumer(&[]);
        c.metadata_needed = true;
        c.maintain().await.unwrap();
    }
}
