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
//!
//! Static members (KIP-345, `group.instance.id`) are mapped from their instance id to their
//! current member id. A static member that rejoins with no member id replaces its previous
//! incarnation (new member id, same assignment) without a rebalance when the group is stable;
//! the replaced member id is then fenced: requests naming the instance with that id get
//! FENCED_INSTANCE_ID. A static member that does not rejoin during a rebalance keeps its place
//! until its session expires.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

/// How a group operation ended, per member or per partition: success or the reason it was
/// refused. The Kafka front end maps each to its error code; nothing here knows the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupCode {
    /// Done.
    #[default]
    Ok,
    /// The member's generation is not the group's.
    IllegalGeneration,
    /// The member's protocols do not match the group's.
    InconsistentGroupProtocol,
    /// The member id is not (or no longer) in the group.
    UnknownMemberId,
    /// An offset for a topic or partition that does not exist.
    UnknownTopicOrPartition,
    /// A session timeout outside the broker's bounds.
    InvalidSessionTimeout,
    /// The group is rebalancing: rejoin.
    RebalanceInProgress,
    /// No such group.
    GroupIdNotFound,
    /// The group still has members.
    NonEmptyGroup,
    /// Join again with the member id handed out (KIP-394).
    MemberIdRequired,
    /// A newer member with the same group instance id replaced this one (KIP-345).
    FencedInstanceId,
    /// An empty or oversized group id.
    InvalidGroupId,
    /// Offset metadata above the size limit.
    OffsetMetadataTooLarge,
    /// Storing the change failed (see the log line).
    StorageFailed,
}

/// The [`GroupCode`]s under the names the coordinator's code uses.
#[allow(missing_docs)]
pub mod codes {
    use super::GroupCode;
    pub const NONE: GroupCode = GroupCode::Ok;
    pub const ILLEGAL_GENERATION: GroupCode = GroupCode::IllegalGeneration;
    pub const INCONSISTENT_GROUP_PROTOCOL: GroupCode = GroupCode::InconsistentGroupProtocol;
    pub const UNKNOWN_MEMBER_ID: GroupCode = GroupCode::UnknownMemberId;
    pub const UNKNOWN_TOPIC_OR_PARTITION: GroupCode = GroupCode::UnknownTopicOrPartition;
    pub const INVALID_SESSION_TIMEOUT: GroupCode = GroupCode::InvalidSessionTimeout;
    pub const REBALANCE_IN_PROGRESS: GroupCode = GroupCode::RebalanceInProgress;
    pub const GROUP_ID_NOT_FOUND: GroupCode = GroupCode::GroupIdNotFound;
    pub const NON_EMPTY_GROUP: GroupCode = GroupCode::NonEmptyGroup;
    pub const MEMBER_ID_REQUIRED: GroupCode = GroupCode::MemberIdRequired;
    pub const FENCED_INSTANCE_ID: GroupCode = GroupCode::FencedInstanceId;
    pub const INVALID_GROUP_ID: GroupCode = GroupCode::InvalidGroupId;
    pub const OFFSET_METADATA_TOO_LARGE: GroupCode = GroupCode::OffsetMetadataTooLarge;
    pub const UNKNOWN_SERVER_ERROR: GroupCode = GroupCode::StorageFailed;
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
    pub error: GroupCode,
    pub generation: i32,
    pub protocol_type: String,
    pub protocol_name: String,
    pub leader: String,
    pub member_id: String,
    /// (member id, group instance id, protocol metadata): for the leader only.
    pub members: Vec<(String, Option<String>, Bytes)>,
    /// The leader keeps the current assignment instead of computing one (JoinGroup v9+: a
    /// static leader that rejoined without a rebalance).
    pub skip_assignment: bool,
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)] // the fields of Kafka's SyncGroup response
pub struct SyncOutcome {
    pub error: GroupCode,
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
    /// The client understands `skip_assignment` (JoinGroup v9+).
    pub supports_skip_assignment: bool,
}

/// Who a Heartbeat, SyncGroup or OffsetCommit says it comes from.
#[derive(Debug, Clone, Copy)]
pub struct MemberClaim<'a> {
    /// Member id (empty for commits from outside the group protocol).
    pub member_id: &'a str,
    /// Group instance id of a static member (Heartbeat/SyncGroup v3+, OffsetCommit v7+).
    pub instance_id: Option<&'a str>,
    /// The generation the sender holds (-1 for commits from outside the group protocol).
    pub generation: i32,
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
    /// The current member id of each static member, by group instance id. Changed only by
    /// [`Group::add_member`] and [`Group::remove_member`].
    static_members: HashMap<String, String>,
    /// Ids handed out with MEMBER_ID_REQUIRED, not yet joined with.
    pending_ids: HashSet<String>,
    /// When the current rebalance stops waiting for members that have not rejoined.
    rebalance_deadline: Option<Instant>,
    /// An empty group's first rebalance waits this long for more members to arrive.
    initial_delay_until: Option<Instant>,
}

/// Most member ids a group hands out with MEMBER_ID_REQUIRED and holds until they are used.
const MAX_PENDING_MEMBER_IDS: usize = 1000;

/// A fresh member id: the group instance id of a static member, else the client id, then a
/// UUID (Kafka's format).
fn new_member_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

/// A JoinGroup answer carrying only an error.
fn failed_join(request: &JoinRequest, error: GroupCode) -> JoinOutcome {
    JoinOutcome {
        error,
        member_id: request.member_id.clone(),
        ..JoinOutcome::default()
    }
}

impl Member {
    /// A member as its first JoinGroup describes it, with no assignment yet.
    fn joining(id: String, request: &JoinRequest, now: Instant) -> Self {
        Self {
            id,
            instance_id: request.instance_id.clone(),
            client_id: request.client_id.clone(),
            client_host: request.client_host.clone(),
            session_timeout: request.session_timeout,
            rebalance_timeout: request.rebalance_timeout,
            protocols: request.protocols.clone(),
            assignment: Bytes::new(),
            last_heartbeat: now,
            join_waiter: None,
            sync_waiter: None,
        }
    }

    /// Answers the JoinGroup and SyncGroup this member waits on, if any, with `error`.
    fn answer_waiting(&mut self, error: GroupCode) {
        if let Some(waiter) = self.join_waiter.take() {
            let _ = waiter.send(JoinOutcome {
                error,
                member_id: self.id.clone(),
                ..JoinOutcome::default()
            });
        }
        if let Some(waiter) = self.sync_waiter.take() {
            let _ = waiter.send(SyncOutcome {
                error,
                ..SyncOutcome::default()
            });
        }
    }
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
            static_members: HashMap::new(),
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
        if request.protocols.is_empty()
            || self
                .protocol_type
                .as_ref()
                .is_some_and(|t| *t != request.protocol_type && !self.members.is_empty())
            || (!self.members.is_empty() && !self.supports_any(&request.protocols))
        {
            return Answer::Now(failed_join(&request, codes::INCONSISTENT_GROUP_PROTOCOL));
        }
        if request.member_id.is_empty() {
            return self.join_new_member(request, now, initial_delay);
        }
        // Ids handed out with MEMBER_ID_REQUIRED go to dynamic members only.
        if request.instance_id.is_none() && self.pending_ids.remove(&request.member_id) {
            let id = request.member_id.clone();
            return self.await_join(id, request, now, initial_delay);
        }
        self.join_existing_member(request, now, initial_delay)
    }

    /// A JoinGroup with no member id: a dynamic member gets an id (and, from v4, is asked to
    /// join again with it); a static member gets a fresh id and, if its instance is known,
    /// replaces its previous incarnation.
    fn join_new_member(
        &mut self,
        request: JoinRequest,
        now: Instant,
        initial_delay: Duration,
    ) -> Answer<JoinOutcome> {
        let Some(instance) = request.instance_id.clone() else {
            let member_id = new_member_id(&request.client_id);
            if request.requires_known_member_id {
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
            return self.await_join(member_id, request, now, initial_delay);
        };
        let member_id = new_member_id(&instance);
        match self.static_members.get(&instance).cloned() {
            Some(previous) => {
                self.replace_static_member(&previous, member_id, request, now, initial_delay)
            }
            None => self.await_join(member_id, request, now, initial_delay),
        }
    }

    /// A JoinGroup from a member the group knows (Kafka's rules): during a rebalance it joins
    /// it; otherwise a member whose protocols are unchanged gets the current generation back
    /// (no rebalance), unless it is the leader of a stable group, whose rejoin asks for one.
    fn join_existing_member(
        &mut self,
        request: JoinRequest,
        now: Instant,
        initial_delay: Duration,
    ) -> Answer<JoinOutcome> {
        let member_id = request.member_id.clone();
        if let Err(error) = self.validate_member(&member_id, request.instance_id.as_deref()) {
            return Answer::Now(failed_join(&request, error));
        }
        let unchanged = self
            .members
            .get(&member_id)
            .is_some_and(|m| m.protocols == request.protocols);
        let is_leader = self.leader.as_deref() == Some(member_id.as_str());
        match self.state {
            GroupState::CompletingRebalance if unchanged => {
                Answer::Now(self.current_generation(&member_id, is_leader))
            }
            GroupState::Stable if unchanged && !is_leader => {
                Answer::Now(self.current_generation(&member_id, false))
            }
            GroupState::PreparingRebalance
            | GroupState::CompletingRebalance
            | GroupState::Stable => self.await_join(member_id, request, now, initial_delay),
            // A group with members is never Empty.
            GroupState::Empty => Answer::Now(failed_join(&request, codes::UNKNOWN_MEMBER_ID)),
        }
    }

    /// A static member rejoining with no member id: `new_id` takes the place of `previous`
    /// (whose waiting requests are fenced), with its assignment and, if it led, the
    /// leadership. In a stable group whose protocol this does not change, nobody rebalances:
    /// the member gets the current generation back at once.
    fn replace_static_member(
        &mut self,
        previous: &str,
        new_id: String,
        request: JoinRequest,
        now: Instant,
        initial_delay: Duration,
    ) -> Answer<JoinOutcome> {
        let leader_before = self.leader.clone();
        let mut replacement = Member::joining(new_id.clone(), &request, now);
        if let Some(mut old) = self.remove_member(previous) {
            old.answer_waiting(codes::FENCED_INSTANCE_ID);
            replacement.assignment = old.assignment;
        }
        self.add_member(replacement);
        if leader_before.as_deref() == Some(previous) {
            self.leader = Some(new_id.clone());
        }
        if self.state != GroupState::Stable || self.choose_protocol() != self.protocol {
            // During a rebalance the new id simply joins it. After the join phase the leader
            // may already be assigning to the old id, so a new rebalance starts.
            return self.await_join(new_id, request, now, initial_delay);
        }
        let mut outcome = self.current_generation(&new_id, false);
        if request.supports_skip_assignment {
            // The leader learns the members again but keeps the current assignment.
            if self.leader.as_deref() == Some(new_id.as_str()) {
                outcome.members = self.member_list();
                outcome.skip_assignment = true;
            }
        } else {
            // Older clients would recompute the assignment if told they lead: name the
            // leader as it was, so that this member simply syncs as a follower.
            outcome.leader = leader_before.unwrap_or_default();
        }
        tracing::info!(target: "flyq::group", group = %self.id, old = previous, new = %new_id, "static member rejoined without a rebalance");
        Answer::Now(outcome)
    }

    /// Makes `member_id` (new or known) wait for the rebalance with this request's protocols
    /// and timeouts, starting one unless it is already under way.
    fn await_join(
        &mut self,
        member_id: String,
        request: JoinRequest,
        now: Instant,
        initial_delay: Duration,
    ) -> Answer<JoinOutcome> {
        if !self.members.contains_key(&member_id) {
            self.add_member(Member::joining(member_id.clone(), &request, now));
        }
        let (tx, rx) = oneshot::channel();
        if let Some(member) = self.members.get_mut(&member_id) {
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
        }
        self.protocol_type = Some(request.protocol_type);
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now, initial_delay);
        }
        self.maybe_complete_join(now);
        Answer::Later(rx)
    }

    /// The JoinGroup answer for the generation in force; the member list if `with_members`.
    fn current_generation(&self, member_id: &str, with_members: bool) -> JoinOutcome {
        JoinOutcome {
            error: codes::NONE,
            generation: self.generation,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_name: self.protocol.clone().unwrap_or_default(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members: if with_members {
                self.member_list()
            } else {
                Vec::new()
            },
            skip_assignment: false,
        }
    }

    /// Every member with its metadata for the chosen protocol, as the leader receives them.
    fn member_list(&self) -> Vec<(String, Option<String>, Bytes)> {
        let protocol = self.protocol.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| {
                let metadata = m
                    .protocols
                    .iter()
                    .find(|(n, _)| n == protocol)
                    .map(|(_, md)| md.clone())
                    .unwrap_or_default();
                (m.id.clone(), m.instance_id.clone(), metadata)
            })
            .collect()
    }

    /// Adds a member, mapping its instance id if it is static.
    fn add_member(&mut self, member: Member) {
        if let Some(instance) = &member.instance_id {
            self.static_members
                .insert(instance.clone(), member.id.clone());
        }
        self.members.insert(member.id.clone(), member);
    }

    /// Removes a member, and its instance id's mapping if it is static.
    fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        if let Some(instance) = &member.instance_id
            && self.static_members.get(instance).map(String::as_str) == Some(member_id)
        {
            self.static_members.remove(instance);
        }
        Some(member)
    }

    /// Kafka's member check: a request that names a group instance id must carry the member id
    /// the instance maps to now (an older incarnation is fenced); the member must exist.
    fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), GroupCode> {
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                None => return Err(codes::UNKNOWN_MEMBER_ID),
                Some(current) if current != member_id => return Err(codes::FENCED_INSTANCE_ID),
                Some(_) => {}
            }
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(codes::UNKNOWN_MEMBER_ID)
        }
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
        let timeout = self.largest_rebalance_timeout();
        self.initial_delay_until =
            (self.state == GroupState::Empty).then(|| now + initial_delay.min(timeout));
        self.rebalance_deadline = Some(now + timeout);
        self.state = GroupState::PreparingRebalance;
    }

    /// Completes the join phase once every member has rejoined (and an empty group's initial
    /// delay is over), or once the rebalance deadline passed: dynamic members that did not
    /// rejoin are removed, static ones keep their place (KIP-345) until their session expires.
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
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id);
        }
        if self.members.is_empty() {
            self.become_empty();
            return;
        }
        let joined = |m: &Member| m.join_waiter.is_some();
        if !self.members.values().any(joined) {
            // Only absent static members are left: give them another rebalance timeout to
            // rejoin (their sessions expire meanwhile if they are gone).
            self.rebalance_deadline = Some(now + self.largest_rebalance_timeout());
            return;
        }
        self.generation += 1;
        self.protocol = self.choose_protocol();
        if !self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .is_some_and(joined)
        {
            self.leader = self
                .members
                .values()
                .find(|m| joined(m))
                .map(|m| m.id.clone());
        }
        let leader = self.leader.clone().unwrap_or_default();
        let everyone = self.member_list();
        let answer = self.current_generation(&leader, false);
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
                    member_id: member.id.clone(),
                    members,
                    ..answer.clone()
                });
            }
        }
        self.rebalance_deadline = None;
        self.initial_delay_until = None;
        self.state = GroupState::CompletingRebalance;
    }

    fn largest_rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
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

    /// The member exists (and is not a fenced incarnation) and holds the current generation.
    fn check_member(&self, claim: MemberClaim<'_>) -> Result<(), GroupCode> {
        self.validate_member(claim.member_id, claim.instance_id)?;
        if claim.generation != self.generation {
            return Err(codes::ILLEGAL_GENERATION);
        }
        Ok(())
    }

    /// Handles a SyncGroup: the leader's assignments complete the rebalance.
    pub fn sync(
        &mut self,
        claim: MemberClaim<'_>,
        assignments: Vec<(String, Bytes)>,
    ) -> Answer<SyncOutcome> {
        let member_id = claim.member_id;
        let outcome = |error, assignment| SyncOutcome {
            error,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_name: self.protocol.clone().unwrap_or_default(),
            assignment,
        };
        if let Err(error) = self.check_member(claim) {
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
    pub fn heartbeat(&mut self, claim: MemberClaim<'_>, now: Instant) -> GroupCode {
        if let Err(error) = self.check_member(claim) {
            // During a rebalance an old generation means "rejoin".
            if error == codes::ILLEGAL_GENERATION && self.state == GroupState::PreparingRebalance {
                return codes::REBALANCE_IN_PROGRESS;
            }
            return error;
        }
        if let Some(member) = self.members.get_mut(claim.member_id) {
            member.last_heartbeat = now;
        }
        match self.state {
            GroupState::PreparingRebalance => codes::REBALANCE_IN_PROGRESS,
            _ => codes::NONE,
        }
    }

    /// Whether a member (with this generation) may commit offsets. Generation -1 with neither
    /// member id nor instance id is a commit from outside the group protocol (an admin's
    /// AlterConsumerGroupOffsets, a consumer with manual assignment), allowed while the group
    /// is empty.
    pub fn check_commit(&self, claim: MemberClaim<'_>) -> GroupCode {
        if claim.generation < 0 && claim.member_id.is_empty() && claim.instance_id.is_none() {
            return if self.members.is_empty() {
                codes::NONE
            } else {
                codes::UNKNOWN_MEMBER_ID
            };
        }
        match self.check_member(claim) {
            Err(error) => error,
            // Kafka's rule: members may still commit the generation they hold while others
            // rejoin (eager consumers commit in their revocation callback); between the join
            // and the leader's assignment the generation is new and nothing is owned yet.
            Ok(()) if self.state == GroupState::CompletingRebalance => codes::REBALANCE_IN_PROGRESS,
            Ok(()) => codes::NONE,
        }
    }

    /// Removes members (LeaveGroup); each gets its own result code.
    pub fn leave(&mut self, leaving: &[(String, Option<String>)], now: Instant) -> Vec<GroupCode> {
        let mut results = Vec::with_capacity(leaving.len());
        let mut removed = false;
        for (member_id, instance_id) in leaving {
            match self.leave_one(member_id, instance_id.as_deref()) {
                Ok(Some(mut member)) => {
                    tracing::info!(target: "flyq::group", group = %self.id, member = %member.id, "member left");
                    member.answer_waiting(codes::UNKNOWN_MEMBER_ID);
                    removed = true;
                    results.push(codes::NONE);
                }
                Ok(None) => results.push(codes::NONE),
                Err(error) => results.push(error),
            }
        }
        if removed {
            self.after_members_left(now);
        }
        results
    }

    /// Removes one leaving member: named by member id (checked against its instance id if one
    /// is given), or, with an empty member id, by the instance id of a static member alone (an
    /// administrator removing it). `None` when the id was only handed out by MEMBER_ID_REQUIRED.
    fn leave_one(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<Option<Member>, GroupCode> {
        let id = if member_id.is_empty() {
            instance_id
                .and_then(|i| self.static_members.get(i).cloned())
                .ok_or(codes::UNKNOWN_MEMBER_ID)?
        } else if instance_id.is_none() && self.pending_ids.remove(member_id) {
            return Ok(None);
        } else {
            self.validate_member(member_id, instance_id)?;
            member_id.to_owned()
        };
        Ok(self.remove_member(&id))
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
            if let Some(mut member) = self.remove_member(id) {
                tracing::info!(target: "flyq::group", group = %self.id, member = %id, instance = ?member.instance_id, "member session expired");
                member.answer_waiting(codes::UNKNOWN_MEMBER_ID);
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
            supports_skip_assignment: false,
        }
    }

    fn claim(member_id: &str, generation: i32) -> MemberClaim<'_> {
        MemberClaim {
            member_id,
            instance_id: None,
            generation,
        }
    }

    fn static_request(member_id: &str, instance: &str) -> JoinRequest {
        JoinRequest {
            instance_id: Some(instance.into()),
            ..join_request(member_id, &["range"])
        }
    }

    fn static_claim<'a>(member_id: &'a str, instance: &'a str, generation: i32) -> MemberClaim<'a> {
        MemberClaim {
            instance_id: Some(instance),
            ..claim(member_id, generation)
        }
    }

    /// A stable group of two static members at generation 2: instance "ia" leads and is
    /// assigned "A", instance "ib" is assigned "B". Returns their member ids.
    fn stable_static_pair(group: &mut Group, now: Instant) -> (String, String) {
        let first = group.join(static_request("", "ia"), now, Duration::ZERO);
        let a = first.later().try_recv().unwrap().member_id;
        let mut b_join = group
            .join(static_request("", "ib"), now, Duration::ZERO)
            .later();
        let mut a_join = group
            .join(static_request(&a, "ia"), now, Duration::ZERO)
            .later();
        let (a_out, b_out) = (a_join.try_recv().unwrap(), b_join.try_recv().unwrap());
        assert_eq!((a_out.generation, a_out.leader.as_str()), (2, a.as_str()));
        let b = b_out.member_id;
        let _b_sync = group.sync(static_claim(&b, "ib", 2), vec![]).later();
        let assignments = vec![
            (a.clone(), Bytes::from_static(b"A")),
            (b.clone(), Bytes::from_static(b"B")),
        ];
        let mut a_sync = group.sync(static_claim(&a, "ia", 2), assignments).later();
        assert_eq!(a_sync.try_recv().unwrap().assignment, "A");
        assert_eq!(group.state, GroupState::Stable);
        (a, b)
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
        assert_eq!(
            group.heartbeat(claim(&a, 1), now),
            codes::REBALANCE_IN_PROGRESS
        );
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
        let mut follower_sync = group.sync(claim(follower, 2), vec![]).later();
        assert!(
            follower_sync.try_recv().is_err(),
            "the follower waits for the leader"
        );
        let assignments = vec![
            (a.clone(), Bytes::from_static(b"A")),
            (b.clone(), Bytes::from_static(b"B")),
        ];
        let mut leader_sync = group.sync(claim(leader, 2), assignments).later();
        let (l, f) = (
            leader_sync.try_recv().unwrap(),
            follower_sync.try_recv().unwrap(),
        );
        assert_eq!(group.state, GroupState::Stable);
        assert_eq!(l.assignment.len() + f.assignment.len(), 2);
        assert_eq!(group.heartbeat(claim(&a, 2), now), codes::NONE);
        assert_eq!(
            group.heartbeat(claim(&a, 1), now),
            codes::ILLEGAL_GENERATION
        );
        assert_eq!(
            group.heartbeat(claim("stranger", 2), now),
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

    #[test]
    fn a_restarted_static_member_takes_its_place_back_without_a_rebalance_and_fences_the_old_id() {
        let now = Instant::now();
        let mut group = Group::new("g".into(), 0, None);
        let (a, b) = stable_static_pair(&mut group, now);

        let restarted = group
            .join(static_request("", "ia"), now, Duration::ZERO)
            .now();
        let new_a = restarted.member_id.clone();
        assert_eq!(restarted.error, codes::NONE);
        assert_ne!(new_a, a, "a fresh member id");
        // Before JoinGroup v9 the leader is named as it was, so the client syncs as a follower.
        assert_eq!(
            (
                restarted.generation,
                restarted.leader.as_str(),
                restarted.members.len(),
                restarted.skip_assignment
            ),
            (2, a.as_str(), 0, false)
        );
        assert_eq!((group.state, group.generation), (GroupState::Stable, 2));
        assert_eq!(
            group.heartbeat(static_claim(&b, "ib", 2), now),
            codes::NONE,
            "the other member is not asked to rebalance"
        );
        let synced = group.sync(static_claim(&new_a, "ia", 2), vec![]).now();
        assert_eq!(
            (synced.error, &synced.assignment[..]),
            (codes::NONE, &b"A"[..])
        );

        // Every request of the old incarnation that names the instance is fenced.
        let fenced = codes::FENCED_INSTANCE_ID;
        assert_eq!(group.heartbeat(static_claim(&a, "ia", 2), now), fenced);
        assert_eq!(
            group.sync(static_claim(&a, "ia", 2), vec![]).now().error,
            fenced
        );
        assert_eq!(group.check_commit(static_claim(&a, "ia", 2)), fenced);
        let rejoin = group.join(static_request(&a, "ia"), now, Duration::ZERO);
        assert_eq!(rejoin.now().error, fenced);
        assert_eq!(
            group.leave(&[(a.clone(), Some("ia".into()))], now),
            [fenced]
        );
        assert_eq!(group.heartbeat(claim(&a, 2), now), codes::UNKNOWN_MEMBER_ID);
        // A follower rejoining with unchanged protocols gets the current generation back.
        let b_rejoin = group
            .join(static_request(&b, "ib"), now, Duration::ZERO)
            .now();
        assert_eq!((b_rejoin.error, b_rejoin.generation), (codes::NONE, 2));
        assert_eq!((group.state, group.generation), (GroupState::Stable, 2));

        // From v9 the rejoining leader learns the members but keeps the assignment.
        let v9 = JoinRequest {
            supports_skip_assignment: true,
            ..static_request("", "ia")
        };
        let leader = group.join(v9, now, Duration::ZERO).now();
        assert_eq!(leader.leader, leader.member_id);
        assert_eq!((leader.members.len(), leader.skip_assignment), (2, true));
        assert_eq!((group.state, group.generation), (GroupState::Stable, 2));
    }

    #[test]
    fn a_static_member_that_misses_a_rebalance_stays_until_its_session_expires() {
        let start = Instant::now();
        let mut group = Group::new("g".into(), 0, None);
        let (a, b) = stable_static_pair(&mut group, start);
        let c = new_member(&mut group, start);
        let mut c_join = join(&mut group, &c, &["range"], start).later();
        let mut b_join = group
            .join(static_request(&b, "ib"), start, Duration::ZERO)
            .later();
        // a heartbeats but does not rejoin before the rebalance timeout (10 s).
        let later = start + Duration::from_secs(9);
        assert_eq!(
            group.heartbeat(static_claim(&a, "ia", 2), later),
            codes::REBALANCE_IN_PROGRESS
        );
        let deadline = start + Duration::from_secs(10);
        group.tick(deadline);
        let (b_out, c_out) = (b_join.try_recv().unwrap(), c_join.try_recv().unwrap());
        assert_eq!(
            (b_out.generation, group.state),
            (3, GroupState::CompletingRebalance)
        );
        assert!(
            group.members.contains_key(&a),
            "the static member was dropped"
        );
        let leader = if b_out.leader == b { &b_out } else { &c_out };
        assert_eq!(
            leader.members.len(),
            3,
            "the leader assigns to the absent member too"
        );
        assert_ne!(b_out.leader, a, "an absent member cannot lead");

        // Its session runs out while the others heartbeat: it is removed and they rebalance.
        let alive = deadline + Duration::from_secs(6);
        assert_eq!(
            group.heartbeat(static_claim(&b, "ib", 3), alive),
            codes::NONE
        );
        assert_eq!(group.heartbeat(claim(&c, 3), alive), codes::NONE);
        assert!(group.tick(deadline + Duration::from_secs(11)));
        assert!(!group.members.contains_key(&a));
        assert_eq!(group.state, GroupState::PreparingRebalance);
    }

    #[test]
    fn leave_group_by_instance_id_removes_that_static_member() {
        let now = Instant::now();
        let mut group = Group::new("g".into(), 0, None);
        let (_a, b) = stable_static_pair(&mut group, now);
        let leaving = [
            (String::new(), Some("ib".to_owned())),
            (String::new(), Some("nobody".to_owned())),
        ];
        assert_eq!(
            group.leave(&leaving, now),
            [codes::NONE, codes::UNKNOWN_MEMBER_ID]
        );
        assert!(!group.members.contains_key(&b));
        assert_eq!(group.state, GroupState::PreparingRebalance);
        assert_eq!(
            group.heartbeat(static_claim(&b, "ib", 2), now),
            codes::UNKNOWN_MEMBER_ID
        );
    }
}
