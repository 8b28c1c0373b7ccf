//! One consumer group's membership state machine (Kafka's classic group protocol).
//!
//! ```text
//!   Empty --join--> PreparingRebalance --all joined / timeout--> CompletingRebalance
//!     ^                   ^    ^                                    |  leader's SyncGroup
//!     | last member gone  |    +------ join / leave / expiry -------+  v
//!     +-------------------+-------------------------------------- Stable
//! ```
//!
//! Synchronous: the coordinator calls in under its lock, and answers waiting JoinGroup and
//! SyncGroup requests through the oneshot senders stored with each member.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

/// Kafka error codes the group protocol answers with.
#[allow(missing_docs)]
pub mod codes {
    pub const NONE: i16 = 0;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const INVALID_SESSION_TIMEOUT: i16 = 26;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const GROUP_ID_NOT_FOUND: i16 = 69;
    pub const NON_EMPTY_GROUP: i16 = 68;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const FENCED_INSTANCE_ID: i16 = 82;
    pub const INVALID_GROUP_ID: i16 = 24;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
    pub const INVALID_TOPIC: i16 = 17;
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
}

/// Where a group is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets may remain).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Members have their assignments.
    Stable,
}

impl GroupState {
    /// The name Kafka tools show.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// An answer given now, or one that comes later (when the rebalance gets there).
#[derive(Debug)]
pub(crate) enum Answer<T> {
    Now(T),
    Later(oneshot::Receiver<T>),
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)] // the fields of Kafka's JoinGroup response
pub struct JoinOutcome {
    pub error: i16,
    pub generation: i32,
    pub protocol_type: String,
    pub protocol_name: String,
    pub leader: String,
    pub member_id: String,
    /// (member id, group instance id, protocol metadata): for the leader only.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)] // the fields of Kafka's SyncGroup response
pub struct SyncOutcome {
    pub error: i16,
    pub protocol_type: String,
    pub protocol_name: String,
    pub assignment: Bytes,
}

/// A member of a group.
#[derive(Debug)]
pub(crate) struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_heartbeat: Instant,
    pub join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    pub sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
}

/// What a join brings.
#[derive(Debug)]
#[allow(missing_docs)] // the fields of Kafka's JoinGroup request
pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// The client understands MEMBER_ID_REQUIRED (JoinGroup v4+).
    pub requires_known_member_id: bool,
}

/// A consumer group.
#[derive(Debug)]
pub(crate) struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, not yet joined with.
    pending_ids: HashSet<String>,
    /// When the current rebalance stops waiting for members that have not rejoined.
    rebalance_deadline: Option<Instant>,
    /// An empty group's first rebalance waits this long for more members to arrive.
    initial_delay_until: Option<Instant>,
}

/// Most member ids a group hands out with MEMBER_ID_REQUIRED and holds until they are used.
const MAX_PENDING_MEMBER_IDS: usize = 1000;

fn new_member_id(client_id: &str) -> String {
    format!("{client_id}-{}", uuid::Uuid::new_v4())
}

impl Group {
    /// Whether the group has nothing to keep: no members, none pending.
    pub fn is_idle(&self) -> bool {
        self.state == GroupState::Empty && self.members.is_empty() && self.pending_ids.is_empty()
    }

    pub fn new(id: String, generation: i32, protocol_type: Option<String>) -> Self {
        Self {
            id,
            state: GroupState::Empty,
            generation,
            protocol_type,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending_ids: HashSet::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
        }
    }

    /// Handles a JoinGroup. Returns the immediate answer, or the receiver of the answer that
    /// comes when the rebalance completes.
    pub fn join(
        &mut self,
        request: JoinRequest,
        now: Instant,
        initial_delay: Duration,
    ) -> Answer<JoinOutcome> {
        let fail = |error| JoinOutcome {
            error,
            member_id: request.member_id.clone(),
            ..JoinOutcome::default()
        };
        if request.protocols.is_empty()
            || self
                .protocol_type
                .as_ref()
                .is_some_and(|t| *t != request.protocol_type && !self.members.is_empty())
            || (!self.members.is_empty() && !self.supports_any(&request.protocols))
        {
            return Answer::Now(fail(codes::INCONSISTENT_GROUP_PROTOCOL));
        }
        let mut member_id = request.member_id.clone();
        if member_id.is_empty() {
            // A static member rejoining takes back its id; a new one gets a fresh id.
            let known = request
                .instance_id
                .as_ref()
                .and_then(|instance| {
                    self.members
                        .values()
                        .find(|m| m.instance_id.as_ref() == Some(instance))
                })
                .map(|m| m.id.clone());
            member_id = known.unwrap_or_else(|| new_member_id(&request.client_id));
            if request.requires_known_member_id && request.instance_id.is_none() {
                // KIP-394: hand out the id and have the client join again with it.
                // Bounded: ids that are never used must not pile up.
                if self.pending_ids.len() >= MAX_PENDING_MEMBER_IDS {
                    self.pending_ids.clear();
                }
                self.pending_ids.insert(member_id.clone());
                return Answer::Now(JoinOutcome {
                    error: codes::MEMBER_ID_REQUIRED,
                    member_id,
                    ..JoinOutcome::default()
                });
            }
        } else if !self.members.contains_key(&member_id) && !self.pending_ids.remove(&member_id) {
            // A static member that lost its id (e.g. after a coordinator restart) may rejoin
            // with a new one; anything else is unknown.
            if request.instance_id.is_none() {
                return Answer::Now(fail(codes::UNKNOWN_MEMBER_ID));
            }
        }
        // A static member's new incarnation fences the old one.
        if let Some(instance) = &request.instance_id {
            let old: Vec<String> = self
                .members
                .values()
                .filter(|m| m.instance_id.as_ref() == Some(instance) && m.id != member_id)
                .map(|m| m.id.clone())
                .collect();
            for id in old {
                if let Some(mut stale) = self.members.remove(&id) {
                    if let Some(waiter) = stale.join_waiter.take() {
                        let _ = waiter.send(JoinOutcome {
                            error: codes::FENCED_INSTANCE_ID,
                            member_id: id.clone(),
                            ..JoinOutcome::default()
                        });
                    }
                    if self.leader.as_deref() == Some(id.as_str()) {
                        self.leader = None;
                    }
                }
            }
        }
        let (tx, rx) = oneshot::channel();
        let member = self
            .members
            .entry(member_id.clone())
            .or_insert_with(|| Member {
                id: member_id.clone(),
                instance_id: request.instance_id.clone(),
                client_id: request.client_id.clone(),
                client_host: request.client_host.clone(),
                session_timeout: request.session_timeout,
                rebalance_timeout: request.rebalance_timeout,
                protocols: Vec::new(),
                assignment: Bytes::new(),
                last_heartbeat: now,
                join_waiter: None,
                sync_waiter: None,
            });
        member.protocols = request.protocols;
        member.session_timeout = request.session_timeout;
        member.rebalance_timeout = request.rebalance_timeout;
        member.last_heartbeat = now;
        if let Some(previous) = member.join_waiter.replace(tx) {
            let _ = previous.send(JoinOutcome {
                error: codes::UNKNOWN_MEMBER_ID,
                ..JoinOutcome::default()
            });
        }
        self.protocol_type = Some(request.protocol_type);
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now, initial_delay);
        }
        self.maybe_complete_join(now);
        Answer::Later(rx)
    }

    fn supports_any(&self, protocols: &[(String, Bytes)]) -> bool {
        protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    /// Starts a rebalance: members have until the largest rebalance timeout to rejoin.
    fn prepare_rebalance(&mut self, now: Instant, initial_delay: Duration) {
        // Members waiting for a SyncGroup answer must rejoin.
        for member in self.members.values_mut() {
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncOutcome {
                    error: codes::REBALANCE_IN_PROGRESS,
                    ..SyncOutcome::default()
                });
            }
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.initial_delay_until =
            (self.state == GroupState::Empty).then(|| now + initial_delay.min(timeout));
        self.rebalance_deadline = Some(now + timeout);
        self.state = GroupState::PreparingRebalance;
    }

    /// Completes the join phase once every member has rejoined (and an empty group's initial
    /// delay is over), or once the rebalance deadline passed (members that did not rejoin are
    /// removed).
    pub fn maybe_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.members.values().all(|m| m.join_waiter.is_some());
        let delayed = self.initial_delay_until.is_some_and(|until| now < until);
        let expired = self
            .rebalance_deadline
            .is_some_and(|deadline| now >= deadline);
        if !(expired || (all_joined && !delayed)) {
            return;
        }
        self.members.retain(|_, m| m.join_waiter.is_some());
        if self.members.is_empty() {
            self.become_empty();
            return;
        }
        self.generation += 1;
        self.protocol = self.choose_protocol();
        if self
            .leader
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        let protocol = self.protocol.clone().unwrap_or_default();
        let leader = self.leader.clone().unwrap_or_default();
        let everyone: Vec<(String, Option<String>, Bytes)> = self
            .members
            .values()
            .map(|m| {
                let metadata = m
                    .protocols
                    .iter()
                    .find(|(n, _)| *n == protocol)
                    .map(|(_, md)| md.clone())
                    .unwrap_or_default();
                (m.id.clone(), m.instance_id.clone(), metadata)
            })
            .collect();
        for member in self.members.values_mut() {
            member.assignment = Bytes::new();
            member.last_heartbeat = now;
            if let Some(waiter) = member.join_waiter.take() {
                let members = if member.id == leader {
                    everyone.clone()
                } else {
                    Vec::new()
                };
                let _ = waiter.send(JoinOutcome {
                    error: codes::NONE,
                    generation: self.generation,
                    protocol_type: self.protocol_type.clone().unwrap_or_default(),
                    protocol_name: protocol.clone(),
                    leader: leader.clone(),
                    member_id: member.id.clone(),
                    members,
                });
            }
        }
        self.rebalance_deadline = None;
        self.initial_delay_until = None;
        self.state = GroupState::CompletingRebalance;
    }

    /// Kafka's vote: each member votes for its most preferred protocol among those every member
    /// supports; the most votes win (ties: the earlier candidate).
    fn choose_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == *n))
            })
            .collect();
        let mut votes = vec![0usize; candidates.len()];
        for member in self.members.values() {
            if let Some(i) = member
                .protocols
                .iter()
                .find_map(|(p, _)| candidates.iter().position(|c| *c == p))
            {
                votes[i] += 1;
            }
        }
        let best = votes
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))?
            .0;
        candidates.get(best).map(|s| (*s).clone())
    }

    fn become_empty(&mut self) {
        self.state = GroupState::Empty;
        self.protocol = None;
        self.leader = None;
        self.rebalance_deadline = None;
        self.initial_delay_until = None;
    }

    fn check_member(&self, member_id: &str, generation: i32) -> Result<(), i16> {
        if !self.members.contains_key(member_id) {
            return Err(codes::UNKNOWN_MEMBER_ID);
        }
        if generation != self.generation {
            return Err(codes::ILLEGAL_GENERATION);
        }
        Ok(())
    }

    /// Handles a SyncGroup: the leader's assignments complete the rebalance.
    pub fn sync(
        &mut self,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> Answer<SyncOutcome> {
        let outcome = |error, assignment| SyncOutcome {
            error,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_name: self.protocol.clone().unwrap_or_default(),
            assignment,
        };
        if let Err(error) = self.check_member(member_id, generation) {
            return Answer::Now(outcome(error, Bytes::new()));
        }
        match self.state {
            GroupState::Empty => Answer::Now(outcome(codes::UNKNOWN_MEMBER_ID, Bytes::new())),
            GroupState::PreparingRebalance => {
                Answer::Now(outcome(codes::REBALANCE_IN_PROGRESS, Bytes::new()))
            }
            GroupState::Stable => {
                let assignment = self
                    .members
                    .get(member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                Answer::Now(outcome(codes::NONE, assignment))
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(member) = self.members.get_mut(member_id) {
                    member.sync_waiter = Some(tx);
                }
                if self.leader.as_deref() == Some(member_id) {
                    for (id, assignment) in assignments {
                        if let Some(member) = self.members.get_mut(&id) {
                            member.assignment = assignment;
                        }
                    }
                    self.state = GroupState::Stable;
                    let (protocol_type, protocol_name) = (
                        self.protocol_type.clone().unwrap_or_default(),
                        self.protocol.clone().unwrap_or_default(),
                    );
                    for member in self.members.values_mut() {
                        if let Some(waiter) = member.sync_waiter.take() {
                            let _ = waiter.send(SyncOutcome {
                                error: codes::NONE,
                                protocol_type: protocol_type.clone(),
                                protocol_name: protocol_name.clone(),
                                assignment: member.assignment.clone(),
                            });
                        }
                    }
                }
                Answer::Later(rx)
            }
        }
    }

    /// Handles a Heartbeat.
    pub fn heartbeat(&mut self, member_id: &str, generation: i32, now: Instant) -> i16 {
        if let Err(error) = self.check_member(member_id, generation) {
            // During a rebalance an old generation means "rejoin".
            if error == codes::ILLEGAL_GENERATION && self.state == GroupState::PreparingRebalance {
                return codes::REBALANCE_IN_PROGRESS;
            }
            return error;
        }
        if let Some(member) = self.members.get_mut(member_id) {
            member.last_heartbeat = now;
        }
        match self.state {
            GroupState::PreparingRebalance => codes::REBALANCE_IN_PROGRESS,
            _ => codes::NONE,
        }
    }

    /// Whether a member (with this generation) may commit offsets. Generation -1 with no member
    /// is a commit from outside the group protocol, allowed while the group is empty.
    pub fn check_commit(&self, member_id: &str, generation: i32) -> i16 {
        if generation < 0 && member_id.is_empty() {
            return if self.members.is_empty() {
                codes::NONE
            } else {
                codes::UNKNOWN_MEMBER_ID
            };
        }
        match self.check_member(member_id, generation) {
            Err(error) => error,
            // Kafka's rule: members may still commit the generation they hold while others
            // rejoin (eager consumers commit in their revocation callback); between the join
            // and the leader's assignment the generation is new and nothing is owned yet.
            Ok(()) if self.state == GroupState::CompletingRebalance => codes::REBALANCE_IN_PROGRESS,
            Ok(()) => codes::NONE,
        }
    }

    /// Removes members (LeaveGroup); each gets its own result code.
    pub fn leave(&mut self, leaving: &[(String, Option<String>)], now: Instant) -> Vec<i16> {
        let mut results = Vec::with_capacity(leaving.len());
        let mut removed = false;
        for (member_id, instance_id) in leaving {
            let id = if member_id.is_empty() {
                instance_id.as_ref().and_then(|i| {
                    self.members
                        .values()
                        .find(|m| m.instance_id.as_ref() == Some(i))
                        .map(|m| m.id.clone())
                })
            } else {
                Some(member_id.clone())
            };
            match id.and_then(|id| self.members.remove(&id)) {
                Some(mut member) => {
                    if let Some(waiter) = member.join_waiter.take() {
                        let _ = waiter.send(JoinOutcome {
                            error: codes::UNKNOWN_MEMBER_ID,
                            ..JoinOutcome::default()
                        });
                    }
                    removed = true;
                    results.push(codes::NONE);
                }
                None => results.push(codes::UNKNOWN_MEMBER_ID),
            }
        }
        if removed {
            self.after_members_left(now);
        }
        results
    }

    fn after_members_left(&mut self, now: Instant) {
        if self.members.is_empty() {
            self.become_empty();
            return;
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, Duration::ZERO)
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now),
            GroupState::Empty => {}
        }
    }

    /// Expires members whose session timed out and ends overdue rebalances. Returns whether
    /// anything changed.
    pub fn tick(&mut self, now: Instant) -> bool {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.join_waiter.is_none() && now.duration_since(m.last_heartbeat) > m.session_timeout
            })
            .map(|m| m.id.clone())
            .collect();
        for id in &expired {
            if let Some(mut member) = self.members.remove(id) {
                tracing::info!(target: "flyq::group", group = %self.id, member = %id, "member session expired");
                if let Some(waiter) = member.sync_waiter.take() {
                    let _ = waiter.send(SyncOutcome {
                        error: codes::UNKNOWN_MEMBER_ID,
                        ..SyncOutcome::default()
                    });
                }
            }
        }
        let before = (self.state, self.generation);
        if !expired.is_empty() {
            self.after_members_left(now);
        }
        self.maybe_complete_join(now);
        !expired.is_empty() || before != (self.state, self.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join_request(member_id: &str, protocols: &[&str]) -> JoinRequest {
        JoinRequest {
            member_id: member_id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(10),
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from_static(b"md")))
                .collect(),
            requires_known_member_id: true,
        }
    }

    fn join(
        group: &mut Group,
        member: &str,
        protocols: &[&str],
        now: Instant,
    ) -> Answer<JoinOutcome> {
        group.join(join_request(member, protocols), now, Duration::ZERO)
    }

    /// A member id handed out by MEMBER_ID_REQUIRED.
    fn new_member(group: &mut Group, now: Instant) -> String {
        match group.join(join_request("", &["range"]), now, Duration::ZERO) {
            Answer::Now(outcome) => {
                assert_eq!(outcome.error, codes::MEMBER_ID_REQUIRED);
                outcome.member_id
            }
            Answer::Later(_) => panic!("expected MEMBER_ID_REQUIRED"),
        }
    }

    impl<T: std::fmt::Debug> Answer<T> {
        fn later(self) -> oneshot::Receiver<T> {
            match self {
                Answer::Later(rx) => rx,
                Answer::Now(now) => panic!("answered at once: {now:?}"),
            }
        }
        fn now(self) -> T {
            match self {
                Answer::Now(now) => now,
                Answer::Later(_) => panic!("expected an answer at once"),
            }
        }
    }

    #[test]
    fn two_members_join_sync_and_get_their_assignments() {
        let now = Instant::now();
        let mut group = Group::new("g".into(), 0, None);
        let a = new_member(&mut group, now);
        let mut a_join = join(&mut group, &a, &["range", "roundrobin"], now).later();
        // Alone and no initial delay: the join completes at once.
        let a_out = a_join.try_recv().unwrap();
        assert_eq!(
            (a_out.generation, a_out.leader.as_str(), a_out.members.len()),
            (1, a.as_str(), 1)
        );
        // A second member triggers a rebalance; the first must rejoin.
        let b = new_member(&mut group, now);
        let mut b_join = join(&mut group, &b, &["roundrobin", "range"], now).later();
        assert_eq!(group.state, GroupState::PreparingRebalance);
        assert_eq!(group.heartbeat(&a, 1, now), codes::REBALANCE_IN_PROGRESS);
        let mut a_join = join(&mut group, &a, &["range", "roundrobin"], now).later();
        let (a_out, b_out) = (a_join.try_recv().unwrap(), b_join.try_recv().unwrap());
        assert_eq!((a_out.generation, b_out.generation), (2, 2));
        assert_eq!(
            a_out.members.len() + b_out.members.len(),
            2,
            "only the leader gets the members"
        );
        let (leader, follower) = if a_out.leader == a {
            (&a, &b)
        } else {
            (&b, &a)
        };
        let mut follower_sync = group.sync(follower, 2, vec![]).later();
        assert!(
            follower_sync.try_recv().is_err(),
            "the follower waits for the leader"
        );
        let assignments = vec![
            (a.clone(), Bytes::from_static(b"A")),
            (b.clone(), Bytes::from_static(b"B")),
        ];
        let mut leader_sync = group.sync(leader, 2, assignments).later();
        let (l, f) = (
            leader_sync.try_recv().unwrap(),
            follower_sync.try_recv().unwrap(),
        );
        assert_eq!(group.state, GroupState::Stable);
        assert_eq!(l.assignment.len() + f.assignment.len(), 2);
        assert_eq!(group.heartbeat(&a, 2, now), codes::NONE);
        assert_eq!(group.heartbeat(&a, 1, now), codes::ILLEGAL_GENERATION);
        assert_eq!(
            group.heartbeat("stranger", 2, now),
            codes::UNKNOWN_MEMBER_ID
        );
    }

    #[test]
    fn leaving_and_expiring_members_trigger_rebalances() {
        let now = Instant::now();
        let mut group = Group::new("g".into(), 0, None);
        let a = new_member(&mut group, now);
        join(&mut group, &a, &["range"], now).later();
        let b = new_member(&mut group, now);
        let _b_join = join(&mut group, &b, &["range"], now).later();
        let _a_join = join(&mut group, &a, &["range"], now).later();
        assert_eq!(group.state, GroupState::CompletingRebalance);
        assert_eq!(group.leave(&[(b.clone(), None)], now), vec![codes::NONE]);
        assert_eq!(group.state, GroupState::PreparingRebalance);
        // a does not rejoin and stops heartbeating: after its session it is gone.
        assert!(group.tick(now + Duration::from_secs(11)));
        assert_eq!(group.state, GroupState::Empty);
        assert!(group.members.is_empty());
    }

    #[test]
    fn members_must_share_a_protocol_and_the_vote_picks_one() {
        let now = Instant::now();
        let mut group = Group::new("g".into(), 0, None);
        let a = new_member(&mut group, now);
        join(&mut group, &a, &["range"], now).later();
        let b = new_member(&mut group, now);
        let refused = join(&mut group, &b, &["sticky"], now).now();
        assert_eq!(refused.error, codes::INCONSISTENT_GROUP_PROTOCOL);
    }

    #[test]
    fn an_empty_group_waits_its_initial_delay() {
        let now = Instant::now();
        let mut group = Group::new("g".into(), 0, None);
        let a = new_member(&mut group, now);
        let mut join = group
            .join(
                join_request(&a, &["range"]),
                now,
                Duration::from_millis(300),
            )
            .later();
        assert!(join.try_recv().is_err());
        group.tick(now + Duration::from_millis(301));
        assert_eq!(join.try_recv().unwrap().generation, 1);
    }
}
