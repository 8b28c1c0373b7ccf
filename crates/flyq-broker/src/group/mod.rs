//! The group coordinator: consumer groups (Kafka's classic protocol) and their committed
//! offsets, kept durable in the internal topic `__consumer_offsets`.
//!
//! Every group's membership is a synchronous state machine ([`state`]) behind one lock;
//! JoinGroup and SyncGroup answers that must wait for other members are delivered through
//! oneshot channels, and a ticker expires sessions and ends overdue rebalances. Offset commits
//! and group generations are appended to `__consumer_offsets` (fsynced before the answer) and
//! replayed when the broker starts, so committed offsets survive restarts and crashes.
//!
//! The log is compacted by snapshot: once it holds far more records than there are live
//! offsets and groups, the live state is appended afresh at the start of a new segment and
//! the log start moves to it, which deletes everything older. Start-up replay and disk use
//! stay proportional to the live state, not to the history of commits.

mod records;
mod state;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flyq_protocol::builder::{RecordSpec, build_batch};
use parking_lot::Mutex;

use crate::error::{BrokerError, Result};
use crate::partition::Partition;
use records::{CommittedOffset as StoredOffset, Entry};
use state::{Answer, Group};
pub use state::{GroupCode, GroupState, JoinOutcome, JoinRequest, MemberClaim, SyncOutcome, codes};

/// A committed offset as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The offset.
    pub offset: i64,
    /// Leader epoch the client committed with (-1 if none).
    pub leader_epoch: i32,
    /// Client metadata string.
    pub metadata: String,
}

/// One member as DescribeGroups shows it.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A group as DescribeGroups / ListGroups show it.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// Settings of the coordinator.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// An empty group's first rebalance waits this long for more members
    /// (`group.initial.rebalance.delay.ms`).
    pub initial_rebalance_delay: Duration,
    /// Smallest session timeout accepted (`group.min.session.timeout.ms`).
    pub min_session_timeout: Duration,
    /// Largest session timeout accepted (`group.max.session.timeout.ms`).
    pub max_session_timeout: Duration,
    /// `__consumer_offsets` is compacted once it holds this many records more than twice the
    /// live entries (the slack keeps compactions rare while the state is small).
    pub compaction_slack_records: i64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            initial_rebalance_delay: Duration::from_millis(300),
            min_session_timeout: Duration::from_millis(1000),
            max_session_timeout: Duration::from_secs(30 * 60),
            compaction_slack_records: 100_000,
        }
    }
}

type Offsets = BTreeMap<(String, i32), StoredOffset>;

/// Consumer groups and committed offsets.
pub struct GroupCoordinator {
    config: GroupConfig,
    log: Arc<Partition>,
    groups: Mutex<HashMap<String, Group>>,
    offsets: Mutex<HashMap<String, Offsets>>,
    /// Held from an append to `__consumer_offsets` until memory reflects it, so that memory
    /// changes in the order of the log that rebuilds it after a restart.
    writes: tokio::sync::Mutex<()>,
    /// Set while a compaction runs, so the ticker starts at most one.
    compacting: AtomicBool,
}

/// Longest offset-commit metadata string kept (Kafka's `offset.metadata.max.bytes`).
const MAX_METADATA_BYTES: usize = 4096;

/// Entries are appended in batches of at most about this many bytes, well under the log's
/// batch size limit, however many offsets one commit or snapshot carries.
const MAX_PERSIST_BATCH_BYTES: usize = 256 * 1024;

impl std::fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCoordinator")
            .field("groups", &self.groups.lock().len())
            .finish()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl GroupCoordinator {
    /// Loads committed offsets and group generations from `__consumer_offsets`.
    pub(crate) fn load(log: Arc<Partition>, config: GroupConfig) -> Result<Self> {
        let mut offsets: HashMap<String, Offsets> = HashMap::new();
        let mut generations: HashMap<String, (i32, String)> = HashMap::new();
        let (mut offset, end) = (log.log.log_start_offset(), log.log.log_end_offset());
        let mut entries = 0usize;
        while offset < end {
            let read = log.log.read(offset, 1 << 20, end)?;
            if read.batches.is_empty() {
                break;
            }
            let mut rest = &read.batches[..];
            while let Ok(header) = flyq_log::BatchHeader::parse(rest) {
                let len = (header.total_len() as usize).min(rest.len());
                if header.compression() == Ok(flyq_protocol::Compression::None)
                    && len >= flyq_protocol::layout::BATCH_HEADER_LEN
                {
                    for record in flyq_protocol::record::records(
                        &rest[flyq_protocol::layout::BATCH_HEADER_LEN..len],
                    )
                    .flatten()
                    {
                        let Some(entry) =
                            record.key.and_then(|key| Entry::decode(key, record.value))
                        else {
                            continue;
                        };
                        entries += 1;
                        match entry {
                            Entry::Offset {
                                group,
                                topic,
                                partition,
                                value: Some(v),
                            } => {
                                offsets
                                    .entry(group)
                                    .or_default()
                                    .insert((topic, partition), v);
                            }
                            Entry::Offset {
                                group,
                                topic,
                                partition,
                                value: None,
                            } => {
                                if let Some(map) = offsets.get_mut(&group) {
                                    map.remove(&(topic, partition));
                                }
                            }
                            Entry::Group {
                                group,
                                value: Some(v),
                            } => {
                                generations.insert(group, v);
                            }
                            Entry::Group { group, value: None } => {
                                generations.remove(&group);
                                offsets.remove(&group);
                            }
                        }
                    }
                }
                rest = &rest[len..];
            }
            offset = read.next_offset;
        }
        let groups = generations
            .into_iter()
            .map(|(id, (generation, protocol_type))| {
                let group = Group::new(id.clone(), generation, Some(protocol_type));
                (id, group)
            })
            .collect();
        tracing::info!(target: "flyq::group", entries, groups = offsets.len(), "loaded committed offsets");
        Ok(Self {
            config,
            log,
            groups: Mutex::new(groups),
            offsets: Mutex::new(offsets),
            writes: tokio::sync::Mutex::new(()),
            compacting: AtomicBool::new(false),
        })
    }

    /// Appends entries to `__consumer_offsets` (synced before returning, on a blocking thread),
    /// in batches of at most [`MAX_PERSIST_BATCH_BYTES`].
    async fn persist(&self, entries: Vec<Entry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut batches = Vec::new();
        let mut specs: Vec<RecordSpec> = Vec::new();
        let mut bytes = 0;
        for entry in &entries {
            let (key, value) = entry.encode();
            let size = key.len() + value.as_ref().map_or(0, |v| v.len());
            if bytes + size > MAX_PERSIST_BATCH_BYTES && !specs.is_empty() {
                batches.push(build_batch(0, now, &specs));
                specs.clear();
                bytes = 0;
            }
            bytes += size;
            specs.push(RecordSpec {
                key: Some(key),
                value,
                ..RecordSpec::default()
            });
        }
        batches.push(build_batch(0, now, &specs));
        let log = Arc::clone(&self.log);
        self.blocking("writing to __consumer_offsets", move || {
            batches
                .iter()
                .try_for_each(|batch| log.append(batch).map(drop))
        })
        .await
    }

    /// Runs log work on a blocking thread (appends sync; compaction rolls and deletes files).
    async fn blocking(
        &self,
        context: &str,
        work: impl FnOnce() -> Result<()> + Send + 'static,
    ) -> Result<()> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| BrokerError::Metadata {
                context: context.into(),
                source: std::io::Error::other(e),
            })?
    }

    /// Live entries: committed offsets, plus groups whose generation is recorded.
    fn live_entries(&self) -> i64 {
        let offsets: usize = self.offsets.lock().values().map(BTreeMap::len).sum();
        let groups = self
            .groups
            .lock()
            .values()
            .filter(|g| g.generation > 0)
            .count();
        (offsets + groups) as i64
    }

    /// Whether `__consumer_offsets` holds enough dead records to be worth compacting.
    pub fn needs_compaction(&self) -> bool {
        let log = &self.log.log;
        let records = log.log_end_offset() - log.log_start_offset();
        records > 2 * self.live_entries() + self.config.compaction_slack_records
    }

    /// Compacts `__consumer_offsets`: rolls to a new segment, appends the live state there, and
    /// moves the log start to it, deleting every older segment. A crash at any point leaves a
    /// log that replays to the same state: until the log start moves, the snapshot only
    /// repeats values that are already current. Commits wait while it runs.
    pub async fn compact(&self) -> Result<()> {
        let _ordered = self.writes.lock().await;
        let before = self.log.log.log_end_offset() - self.log.log.log_start_offset();
        let log = Arc::clone(&self.log);
        self.blocking("rolling __consumer_offsets", move || {
            log.log.roll().map_err(Into::into)
        })
        .await?;
        let snapshot_start = self.log.log.log_end_offset();
        let mut snapshot: Vec<Entry> = self
            .groups
            .lock()
            .values()
            .filter(|g| g.generation > 0)
            .map(|g| Entry::Group {
                group: g.id.clone(),
                value: Some((g.generation, g.protocol_type.clone().unwrap_or_default())),
            })
            .collect();
        for (group, offsets) in self.offsets.lock().iter() {
            snapshot.extend(
                offsets
                    .iter()
                    .map(|((topic, partition), value)| Entry::Offset {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                        value: Some(value.clone()),
                    }),
            );
        }
        let live = snapshot.len();
        self.persist(snapshot).await?;
        let log = Arc::clone(&self.log);
        self.blocking("moving the start of __consumer_offsets", move || {
            log.log
                .delete_records(snapshot_start)
                .map(drop)
                .map_err(Into::into)
        })
        .await?;
        tracing::info!(target: "flyq::group", records_before = before, live, "compacted __consumer_offsets");
        Ok(())
    }

    /// Records a group's generation after a rebalance, if it moved.
    async fn persist_generation(&self, group_id: &str, before: i32) {
        let current = {
            let groups = self.groups.lock();
            groups
                .get(group_id)
                .map(|g| (g.generation, g.protocol_type.clone().unwrap_or_default()))
        };
        if let Some((generation, protocol_type)) = current
            && generation != before
        {
            let entry = Entry::Group {
                group: group_id.to_owned(),
                value: Some((generation, protocol_type)),
            };
            if let Err(e) = self.persist(vec![entry]).await {
                tracing::warn!(target: "flyq::group", group = group_id, error = %e, "could not record the group generation");
            }
        }
    }

    fn session_timeout_ok(&self, timeout: Duration) -> bool {
        (self.config.min_session_timeout..=self.config.max_session_timeout).contains(&timeout)
    }

    /// JoinGroup: waits until the rebalance completes (or answers at once).
    pub async fn join(&self, group_id: &str, request: JoinRequest) -> JoinOutcome {
        if group_id.is_empty() {
            return JoinOutcome {
                error: codes::INVALID_GROUP_ID,
                ..JoinOutcome::default()
            };
        }
        if !self.session_timeout_ok(request.session_timeout) {
            return JoinOutcome {
                error: codes::INVALID_SESSION_TIMEOUT,
                member_id: request.member_id,
                ..JoinOutcome::default()
            };
        }
        let (waiting, before) = {
            let mut groups = self.groups.lock();
            let group = groups
                .entry(group_id.to_owned())
                .or_insert_with(|| Group::new(group_id.to_owned(), 0, None));
            let before = group.generation;
            (
                group.join(request, Instant::now(), self.config.initial_rebalance_delay),
                before,
            )
        };
        let outcome = match waiting {
            Answer::Now(outcome) => outcome,
            Answer::Later(receiver) => receiver.await.unwrap_or(JoinOutcome {
                error: codes::UNKNOWN_MEMBER_ID,
                ..JoinOutcome::default()
            }),
        };
        if outcome.error == codes::NONE {
            self.persist_generation(group_id, before).await;
        }
        outcome
    }

    /// SyncGroup: the leader's assignments reach every member.
    pub async fn sync(
        &self,
        group_id: &str,
        claim: MemberClaim<'_>,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncOutcome {
        let waiting = {
            let mut groups = self.groups.lock();
            match groups.get_mut(group_id) {
                None => Answer::Now(SyncOutcome {
                    error: codes::UNKNOWN_MEMBER_ID,
                    ..SyncOutcome::default()
                }),
                Some(group) => group.sync(claim, assignments),
            }
        };
        match waiting {
            Answer::Now(outcome) => outcome,
            Answer::Later(receiver) => receiver.await.unwrap_or(SyncOutcome {
                error: codes::REBALANCE_IN_PROGRESS,
                ..SyncOutcome::default()
            }),
        }
    }

    /// Heartbeat.
    pub fn heartbeat(&self, group_id: &str, claim: MemberClaim<'_>) -> GroupCode {
        match self.groups.lock().get_mut(group_id) {
            None => codes::UNKNOWN_MEMBER_ID,
            Some(group) => group.heartbeat(claim, Instant::now()),
        }
    }

    /// LeaveGroup: members by id (or group instance id); a code per member.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<GroupCode>, GroupCode> {
        match self.groups.lock().get_mut(group_id) {
            None => Err(codes::UNKNOWN_MEMBER_ID),
            Some(group) => Ok(group.leave(members, Instant::now())),
        }
    }

    /// OffsetCommit (and AlterConsumerGroupOffsets, which is a commit from outside the group):
    /// a code for each offset, in order. As Kafka: a partition for which `partition_exists`
    /// says no gets UNKNOWN_TOPIC_OR_PARTITION; the others all get the group's refusal if the
    /// claimed membership is not valid, else OFFSET_METADATA_TOO_LARGE one by one, and the rest
    /// are stored durably before the answer.
    pub async fn commit(
        &self,
        group_id: &str,
        claim: MemberClaim<'_>,
        offsets: Vec<(String, i32, CommittedOffset)>,
        partition_exists: impl Fn(&str, i32) -> bool,
    ) -> Vec<GroupCode> {
        let mut results = vec![codes::NONE; offsets.len()];
        let mut known = Vec::with_capacity(offsets.len());
        for (i, (topic, partition, committed)) in offsets.into_iter().enumerate() {
            if partition_exists(&topic, partition) {
                known.push((i, topic, partition, committed));
            } else {
                results[i] = codes::UNKNOWN_TOPIC_OR_PARTITION;
            }
        }
        if known.is_empty() {
            return results;
        }
        let allowed = self.check_commit(group_id, claim);
        if allowed != codes::NONE {
            for (i, ..) in known {
                results[i] = allowed;
            }
            return results;
        }
        let commit_time_ms = now_ms();
        let mut stored = Vec::with_capacity(known.len());
        for (i, topic, partition, c) in known {
            if c.metadata.len() > MAX_METADATA_BYTES {
                results[i] = codes::OFFSET_METADATA_TOO_LARGE;
            } else {
                let value = StoredOffset {
                    offset: c.offset,
                    leader_epoch: c.leader_epoch,
                    metadata: c.metadata,
                    commit_time_ms,
                };
                stored.push((i, topic, partition, value));
            }
        }
        if stored.is_empty() {
            return results;
        }
        let entries = stored
            .iter()
            .map(|(_, topic, partition, value)| Entry::Offset {
                group: group_id.to_owned(),
                topic: topic.clone(),
                partition: *partition,
                value: Some(value.clone()),
            })
            .collect();
        let _ordered = self.writes.lock().await;
        if let Err(e) = self.persist(entries).await {
            tracing::warn!(target: "flyq::group", group = group_id, error = %e, "offset commit failed");
            for (i, ..) in stored {
                results[i] = codes::UNKNOWN_SERVER_ERROR;
            }
            return results;
        }
        let mut all = self.offsets.lock();
        let map = all.entry(group_id.to_owned()).or_default();
        for (_, topic, partition, value) in stored {
            map.insert((topic, partition), value);
        }
        results
    }

    /// Whether `claim` may commit offsets for the group (one code for the whole commit).
    fn check_commit(&self, group_id: &str, claim: MemberClaim<'_>) -> GroupCode {
        // Group ids are stored with a u16 length.
        if group_id.is_empty() || group_id.len() > u16::MAX as usize {
            return codes::INVALID_GROUP_ID;
        }
        match self.groups.lock().get(group_id) {
            Some(group) => group.check_commit(claim),
            None if claim.generation < 0 => codes::NONE,
            None => codes::UNKNOWN_MEMBER_ID,
        }
    }

    /// OffsetFetch: the committed offsets of `wanted` (topic, partitions), or all of the
    /// group's if `None`.
    pub fn committed(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, i32, Option<CommittedOffset>)> {
        let all = self.offsets.lock();
        let map = all.get(group_id);
        let public = |v: &StoredOffset| CommittedOffset {
            offset: v.offset,
            leader_epoch: v.leader_epoch,
            metadata: v.metadata.clone(),
        };
        match wanted {
            Some(list) => list
                .into_iter()
                .flat_map(|(topic, partitions)| {
                    partitions
                        .into_iter()
                        .map(move |p| (topic.clone(), p))
                        .collect::<Vec<_>>()
                })
                .map(|(topic, p)| {
                    let found = map.and_then(|m| m.get(&(topic.clone(), p))).map(public);
                    (topic, p, found)
                })
                .collect(),
            None => map
                .map(|m| {
                    m.iter()
                        .map(|((t, p), v)| (t.clone(), *p, Some(public(v))))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// ListGroups: (group id, protocol type, state) of every known group.
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        let groups = self.groups.lock();
        let mut listed: Vec<(String, String, GroupState)> = groups
            .values()
            .map(|g| {
                (
                    g.id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state,
                )
            })
            .collect();
        for id in self.offsets.lock().keys() {
            if !groups.contains_key(id) {
                listed.push((id.clone(), "consumer".into(), GroupState::Empty));
            }
        }
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        listed
    }

    /// DescribeGroups.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let groups = self.groups.lock();
        let Some(group) = groups.get(group_id) else {
            return self
                .offsets
                .lock()
                .contains_key(group_id)
                .then(|| GroupDescription {
                    group_id: group_id.to_owned(),
                    state: GroupState::Empty,
                    protocol_type: "consumer".into(),
                    protocol: String::new(),
                    members: Vec::new(),
                });
        };
        let protocol = group.protocol.clone().unwrap_or_default();
        Some(GroupDescription {
            group_id: group.id.clone(),
            state: group.state,
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.clone(),
            members: group
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m
                        .protocols
                        .iter()
                        .find(|(n, _)| *n == protocol)
                        .map(|(_, md)| md.clone())
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// DeleteGroups: only an empty group (its offsets go too).
    pub async fn delete(&self, group_id: &str) -> GroupCode {
        {
            let groups = self.groups.lock();
            match groups.get(group_id) {
                Some(group) if !group.members.is_empty() => return codes::NON_EMPTY_GROUP,
                None if !self.offsets.lock().contains_key(group_id) => {
                    return codes::GROUP_ID_NOT_FOUND;
                }
                _ => {}
            }
        }
        let entry = Entry::Group {
            group: group_id.to_owned(),
            value: None,
        };
        let _ordered = self.writes.lock().await;
        if let Err(e) = self.persist(vec![entry]).await {
            tracing::warn!(target: "flyq::group", group = group_id, error = %e, "group deletion failed");
            return codes::UNKNOWN_SERVER_ERROR;
        }
        self.groups.lock().remove(group_id);
        self.offsets.lock().remove(group_id);
        codes::NONE
    }

    /// OffsetDelete: removes committed offsets of partitions the group does not consume.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> GroupCode {
        if !self.offsets.lock().contains_key(group_id) && !self.groups.lock().contains_key(group_id)
        {
            return codes::GROUP_ID_NOT_FOUND;
        }
        let entries = partitions
            .iter()
            .map(|(topic, partition)| Entry::Offset {
                group: group_id.to_owned(),
                topic: topic.clone(),
                partition: *partition,
                value: None,
            })
            .collect();
        let _ordered = self.writes.lock().await;
        if let Err(e) = self.persist(entries).await {
            tracing::warn!(target: "flyq::group", group = group_id, error = %e, "offset deletion failed");
            return codes::UNKNOWN_SERVER_ERROR;
        }
        if let Some(map) = self.offsets.lock().get_mut(group_id) {
            for key in partitions {
                map.remove(&key);
            }
        }
        codes::NONE
    }

    /// Expires sessions and completes overdue rebalances, every 100 ms, while the coordinator
    /// lives. Call from within the async runtime.
    pub(crate) fn start_ticker(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(100));
            loop {
                interval.tick().await;
                let Some(coordinator) = weak.upgrade() else {
                    return;
                };
                let changed: Vec<(String, i32)> = {
                    let mut groups = coordinator.groups.lock();
                    let now = Instant::now();
                    // Forget groups with nothing left (no members, no offsets, never rebalanced):
                    // joins with random group ids must not pile up.
                    {
                        let offsets = coordinator.offsets.lock();
                        groups.retain(|id, g| {
                            !(g.is_idle() && g.generation == 0 && !offsets.contains_key(id))
                        });
                    }
                    groups
                        .values_mut()
                        .filter_map(|g| {
                            let before = g.generation;
                            g.tick(now).then(|| (g.id.clone(), before))
                        })
                        .collect()
                };
                for (group, before) in changed {
                    coordinator.persist_generation(&group, before).await;
                }
                if coordinator.needs_compaction()
                    && !coordinator.compacting.swap(true, Ordering::AcqRel)
                {
                    let compactor = Arc::clone(&coordinator);
                    tokio::spawn(async move {
                        if let Err(e) = compactor.compact().await {
                            tracing::warn!(target: "flyq::group", error = %e, "compacting __consumer_offsets failed; retrying in a minute");
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        }
                        compactor.compacting.store(false, Ordering::Release);
                    });
                }
            }
        });
    }
}
