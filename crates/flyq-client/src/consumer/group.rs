//! Classic consumer group membership: JoinGroup/SyncGroup (the leader runs the assignor),
//! a heartbeat task that flags when the group rebalances, and LeaveGroup.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::assignor::{Assignor, Member};
use crate::cluster::Cluster;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::offsets::{self, group_id};
use crate::types::TopicPartition;
use flyq_protocol::consumer_protocol::{self as protocol, Subscription};

/// How one JoinGroup or SyncGroup exchange ended.
enum Round<R> {
    /// The answer, without error.
    Answer(R),
    /// Go round again (after this error).
    Again(Error),
    /// Give up with this error.
    Fail(Error),
}

/// Rounds of JoinGroup/SyncGroup tried before giving up on errors that say "try again".
const MAX_ROUNDS: usize = 50;

/// Raised by the heartbeat task (or a second cooperative phase) when the member must rejoin.
#[derive(Default)]
pub(crate) struct Rejoin {
    flag: AtomicBool,
    notify: Notify,
    /// The coordinator forgot this member: rejoin with an empty member id.
    forget_member: AtomicBool,
    /// The membership ended (unknown member, old generation, fenced): the partitions owned
    /// may already belong to others, so they are lost, not revoked.
    lost: AtomicBool,
}

impl Rejoin {
    /// Marks the owned partitions lost and raises a rejoin (with a new member id when the
    /// coordinator forgot this one).
    pub(crate) fn lose(&self, forget_member: bool) {
        if forget_member {
            self.forget_member.store(true, Ordering::Release);
        }
        self.lost.store(true, Ordering::Release);
        self.raise();
    }

    /// Whether the owned partitions were lost since the last call.
    pub(crate) fn take_lost(&self) -> bool {
        self.lost.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn raise(&self) {
        self.flag.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub(crate) fn is_raised(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    pub(crate) async fn raised(&self) {
        let notified = self.notify.notified();
        if !self.is_raised() {
            notified.await;
        }
    }
}

/// Group settings from the consumer config.
#[derive(Debug, Clone)]
pub(crate) struct GroupSettings {
    pub(crate) group: String,
    pub(crate) assignors: Vec<Assignor>,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
}

/// This consumer's membership in its group.
pub(crate) struct Membership {
    pub(crate) settings: GroupSettings,
    coordinator: Option<Arc<Connection>>,
    pub(crate) member_id: String,
    /// -1 until the first successful join.
    pub(crate) generation: i32,
    pub(crate) assignor: Option<Assignor>,
    pub(crate) rejoin: Arc<Rejoin>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// Whether `code` (from a heartbeat or commit) says this membership is over; if so the owned
/// partitions are marked lost and a rejoin raised.
pub(crate) fn membership_ended(rejoin: &Rejoin, code: i16) -> bool {
    let forget_member = code == ResponseError::UnknownMemberId.code();
    if forget_member
        || code == ResponseError::IllegalGeneration.code()
        || code == ResponseError::FencedInstanceId.code()
    {
        rejoin.lose(forget_member);
        return true;
    }
    false
}

impl Membership {
    pub(crate) fn new(settings: GroupSettings) -> Self {
        let rejoin = Arc::new(Rejoin::default());
        rejoin.raise();
        Self {
            settings,
            coordinator: None,
            member_id: String::new(),
            generation: -1,
            assignor: None,
            rejoin,
            heartbeat: None,
        }
    }

    /// The coordinator connection known now, if it is still open (no lookup).
    pub(crate) fn cached_coordinator(&self) -> Option<Arc<Connection>> {
        self.coordinator.clone().filter(|c| !c.is_closed())
    }

    /// Forgets the coordinator: it moved (NOT_COORDINATOR) or went away.
    pub(crate) fn forget_coordinator(&mut self) {
        self.coordinator = None;
    }

    /// The group coordinator, found again if the connection was lost.
    pub(crate) async fn coordinator(&mut self, cluster: &Cluster) -> Result<Arc<Connection>> {
        match &self.coordinator {
            Some(c) if !c.is_closed() => Ok(c.clone()),
            _ => {
                let c = offsets::coordinator(cluster, &self.settings.group).await?;
                self.coordinator = Some(c.clone());
                Ok(c)
            }
        }
    }

    /// Joins (or rejoins) the group subscribed to `topics`, owning `owned`; returns the new
    /// assignment. Restarts the heartbeat for the new generation.
    pub(crate) async fn join(
        &mut self,
        cluster: &Cluster,
        topics: &[String],
        owned: &[TopicPartition],
    ) -> Result<Vec<TopicPartition>> {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        if self.rejoin.forget_member.swap(false, Ordering::AcqRel) {
            self.member_id.clear();
        }
        let metadata = protocol::encode_subscription(&Subscription {
            topics: topics.to_vec(),
            owned: owned.to_vec(),
        })?;
        let wait = self.settings.rebalance_timeout + cluster.config.request_timeout;
        let mut last = None;
        for _ in 0..MAX_ROUNDS {
            let coordinator = match self.coordinator(cluster).await {
                Ok(c) => c,
                Err(e) if e.is_retriable() => {
                    last = Some(e);
                    tokio::time::sleep(cluster.config.reconnect_backoff_max).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let request = JoinGroupRequest::default()
                .with_group_id(group_id(&self.settings.group))
                .with_session_timeout_ms(ms(self.settings.session_timeout))
                .with_rebalance_timeout_ms(ms(self.settings.rebalance_timeout))
                .with_member_id(str_bytes(&self.member_id))
                .with_protocol_type(str_bytes("consumer"))
                .with_protocols(
                    self.settings
                        .assignors
                        .iter()
                        .map(|a| {
                            JoinGroupRequestProtocol::default()
                                .with_name(str_bytes(a.name()))
                                .with_metadata(metadata.clone())
                        })
                        .collect(),
                );
            let sent = coordinator.send_timeout(&request, wait).await;
            if let Ok(joined) = &sent
                && joined.error_code == ResponseError::MemberIdRequired.code()
            {
                self.member_id = joined.member_id.to_string();
                continue;
            }
            let joined = match self.settle_round("JoinGroup", sent, |r| r.error_code) {
                Round::Answer(r) => r,
                Round::Again(e) => {
                    last = Some(e);
                    continue;
                }
                Round::Fail(e) => return Err(e),
            };
            self.member_id = joined.member_id.to_string();
            self.generation = joined.generation_id;
            let name = joined
                .protocol_name
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default();
            let assignor = Assignor::from_name(&name).ok_or_else(|| Error::Protocol {
                addr: coordinator.addr().to_owned(),
                what: format!("group chose assignor {name:?}, which this client does not know"),
            })?;
            let assignments = if joined.leader.as_str() == self.member_id {
                lead(cluster, assignor, &joined).await?
            } else {
                Vec::new()
            };
            let sync = SyncGroupRequest::default()
                .with_group_id(group_id(&self.settings.group))
                .with_generation_id(self.generation)
                .with_member_id(str_bytes(&self.member_id))
                .with_protocol_type(Some(str_bytes("consumer")))
                .with_protocol_name(Some(str_bytes(assignor.name())))
                .with_assignments(assignments);
            let sent = coordinator.send_timeout(&sync, wait).await;
            let synced = match self.settle_round("SyncGroup", sent, |r| r.error_code) {
                Round::Answer(r) => r,
                Round::Again(e) => {
                    last = Some(e);
                    continue;
                }
                Round::Fail(e) => return Err(e),
            };
            let assignment = protocol::decode_assignment(synced.assignment)?;
            self.assignor = Some(assignor);
            // Cleared only now: a join that fails or is cancelled half way is retried.
            self.rejoin.flag.store(false, Ordering::Release);
            self.start_heartbeat(coordinator);
            return Ok(assignment);
        }
        Err(last.unwrap_or_else(|| {
            Error::DeadlineExceeded(format!("joining group {}", self.settings.group))
        }))
    }

    /// What the answer to a JoinGroup or SyncGroup (`api`) request, or its failure, means for
    /// the join: a lost coordinator or an error that says "try again" sends it round again.
    fn settle_round<R>(&mut self, api: &str, sent: Result<R>, code: fn(&R) -> i16) -> Round<R> {
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) if e.is_retriable() => {
                self.coordinator = None;
                return Round::Again(e);
            }
            Err(e) => return Round::Fail(e),
        };
        match ResponseError::try_from_code(code(&answer)) {
            None => Round::Answer(answer),
            Some(e) if self.retry_round(e) => Round::Again(Error::kafka(api, e)),
            Some(e) => Round::Fail(Error::kafka(format!("{api} {}", self.settings.group), e)),
        }
    }

    /// Whether a JoinGroup/SyncGroup error means "go round again", fixing state on the way.
    fn retry_round(&mut self, e: ResponseError) -> bool {
        match e {
            ResponseError::UnknownMemberId => {
                self.member_id.clear();
                true
            }
            ResponseError::RebalanceInProgress | ResponseError::IllegalGeneration => true,
            ResponseError::NotCoordinator
            | ResponseError::CoordinatorNotAvailable
            | ResponseError::CoordinatorLoadInProgress => {
                self.coordinator = None;
                true
            }
            _ => false,
        }
    }

    fn start_heartbeat(&mut self, coordinator: Arc<Connection>) {
        let request = HeartbeatRequest::default()
            .with_group_id(group_id(&self.settings.group))
            .with_generation_id(self.generation)
            .with_member_id(str_bytes(&self.member_id));
        let rejoin = self.rejoin.clone();
        let interval = self.settings.heartbeat_interval;
        self.heartbeat = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                match coordinator.send(&request).await {
                    Ok(r) if r.error_code == 0 => {}
                    Ok(r) => {
                        if membership_ended(&rejoin, r.error_code) {
                            return;
                        }
                        // REBALANCE_IN_PROGRESS and the like: rejoin, but keep the session
                        // alive until the consumer does, or the coordinator evicts it.
                        rejoin.raise();
                    }
                    Err(_) if coordinator.is_closed() => {
                        rejoin.raise();
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(target: "flyq_client::group", error = %e, "heartbeat failed")
                    }
                }
            }
        }));
    }

    /// Leaves the group; the coordinator rebalances the rest at once.
    pub(crate) async fn leave(&mut self, cluster: &Cluster) -> Result<()> {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        if self.member_id.is_empty() {
            return Ok(());
        }
        let coordinator = self.coordinator(cluster).await?;
        let response = coordinator
            .send(&leave_request(&self.settings.group, &self.member_id))
            .await?;
        self.member_id.clear();
        self.generation = -1;
        Error::check(response.error_code, || {
            format!("LeaveGroup {}", self.settings.group)
        })
    }

    /// For a best-effort leave from `Drop`: what to send, and where.
    pub(crate) fn leave_later(&self) -> Option<(Arc<Connection>, LeaveGroupRequest)> {
        let c = self.coordinator.clone()?;
        (!self.member_id.is_empty())
            .then(|| (c, leave_request(&self.settings.group, &self.member_id)))
    }
}

fn leave_request(group: &str, member_id: &str) -> LeaveGroupRequest {
    LeaveGroupRequest::default()
        .with_group_id(group_id(group))
        .with_members(vec![
            MemberIdentity::default()
                .with_member_id(str_bytes(member_id))
                .with_reason(Some(str_bytes("consumer closed"))),
        ])
}

/// The leader's part: decode every member's subscription, assign, encode.
async fn lead(
    cluster: &Cluster,
    assignor: Assignor,
    joined: &JoinGroupResponse,
) -> Result<Vec<SyncGroupRequestAssignment>> {
    let members = joined
        .members
        .iter()
        .map(|m| {
            let sub = protocol::decode_subscription(m.metadata.clone())?;
            Ok(Member {
                id: m.member_id.to_string(),
                topics: sub.topics,
                owned: sub.owned,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut topics: Vec<String> = members
        .iter()
        .flat_map(|m| m.topics.iter().cloned())
        .collect();
    topics.sort();
    topics.dedup();
    cluster.refresh_metadata(&topics, false).await?;
    let metadata = cluster.metadata();
    let counts: BTreeMap<String, i32> = topics
        .into_iter()
        .filter_map(|t| metadata.partition_count(&t).map(|n| (t, n)))
        .collect();
    assignor
        .assign(&members, &counts)
        .into_iter()
        .map(|(member, tps)| {
            Ok(SyncGroupRequestAssignment::default()
                .with_member_id(StrBytes::from_string(member))
                .with_assignment(protocol::encode_assignment(&tps)?))
        })
        .collect()
}

#[cfg(test)]
mod membership_tests {
    use super::*;

    #[test]
    fn only_an_ended_membership_loses_the_partitions() {
        let rejoin = Rejoin::default();
        assert!(!membership_ended(
            &rejoin,
            ResponseError::RebalanceInProgress.code()
        ));
        assert!(!rejoin.take_lost() && !rejoin.is_raised());
        assert!(membership_ended(
            &rejoin,
            ResponseError::IllegalGeneration.code()
        ));
        assert!(rejoin.is_raised() && rejoin.take_lost());
        assert!(!rejoin.forget_member.load(Ordering::Acquire));
        assert!(membership_ended(
            &rejoin,
            ResponseError::UnknownMemberId.code()
        ));
        assert!(rejoin.forget_member.load(Ordering::Acquire) && rejoin.take_lost());
        assert!(membership_ended(
            &rejoin,
            ResponseError::FencedInstanceId.code()
        ));
    }
}
