//! Offset commits: the consumer's commit API, retried on retriable errors, with the group state
//! fixed on the way (coordinator moved, membership ended, rebalance started); `commit_async`
//! commits run one after another on a per-consumer task so they apply in the order they were
//! started.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tokio::sync::{mpsc, oneshot};

use super::Consumer;
use super::group::{Rejoin, membership_ended};
use crate::cluster::Cluster;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::offsets;
use crate::types::TopicPartition;

/// Attempts per commit, the first included.
const ATTEMPTS: usize = 5;
/// Wait between attempts.
const BACKOFF: Duration = Duration::from_millis(100);

/// Who commits.
pub(crate) struct Target {
    pub(crate) group: String,
    pub(crate) generation: i32,
    pub(crate) member_id: String,
    /// The coordinator to use; looked up when absent (and set to `None` when it moved).
    pub(crate) coordinator: Option<Arc<Connection>>,
    /// The membership's rejoin signal; `None` for commits outside a group membership.
    pub(crate) rejoin: Option<Arc<Rejoin>>,
}

/// One `commit_async` commit.
pub(crate) struct Job {
    pub(crate) target: Target,
    pub(crate) offsets: BTreeMap<TopicPartition, i64>,
    pub(crate) done: oneshot::Sender<Result<()>>,
}

/// Starts the task that runs `commit_async` commits in order; it ends when the sender drops.
pub(crate) fn spawn_committer(cluster: Arc<Cluster>) -> mpsc::UnboundedSender<Job> {
    let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
    tokio::spawn(async move {
        while let Some(mut job) = rx.recv().await {
            let result = commit(&cluster, &mut job.target, &job.offsets).await;
            let _ = job.done.send(result);
        }
    });
    jobs
}

/// Commits `offsets`, retrying retriable errors.
pub(crate) async fn commit(
    cluster: &Cluster,
    target: &mut Target,
    offsets: &BTreeMap<TopicPartition, i64>,
) -> Result<()> {
    let mut attempt = 1;
    loop {
        let result = async {
            let conn = match target.coordinator.clone().filter(|c| !c.is_closed()) {
                Some(c) => c,
                None => {
                    let c = offsets::coordinator(cluster, &target.group).await?;
                    target.coordinator = Some(c.clone());
                    c
                }
            };
            offsets::commit(
                &conn,
                &target.group,
                target.generation,
                &target.member_id,
                offsets,
            )
            .await
        }
        .await;
        match result {
            Err(e) if retry_after(target, &e) && attempt < ATTEMPTS => {
                tracing::debug!(target: "flyq_client::consumer", error = %e, attempt, "commit failed; retrying");
                attempt += 1;
                tokio::time::sleep(BACKOFF).await;
            }
            other => return other,
        }
    }
}

/// Fixes the group state after a failed commit and says whether retrying can help.
fn retry_after(target: &mut Target, e: &Error) -> bool {
    match e.kafka_error() {
        Some(ResponseError::NotCoordinator | ResponseError::CoordinatorNotAvailable) => {
            target.coordinator = None;
            true
        }
        // The generation is over: the commit can never succeed with it. A rejoin (and, for
        // an ended membership, dropping the partitions as lost) is what helps.
        Some(
            code @ (ResponseError::IllegalGeneration
            | ResponseError::UnknownMemberId
            | ResponseError::FencedInstanceId),
        ) => {
            if let Some(rejoin) = &target.rejoin {
                membership_ended(rejoin, code.code());
            }
            false
        }
        Some(ResponseError::RebalanceInProgress) => {
            if let Some(rejoin) = &target.rejoin {
                rejoin.raise();
            }
            false
        }
        _ => e.is_retriable(),
    }
}

impl Consumer {
    pub(super) async fn commit_partitions(
        &mut self,
        filter: Option<&[TopicPartition]>,
    ) -> Result<()> {
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
        let result = commit(&self.cluster, &mut target, offsets).await;
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
                    .get_or_insert_with(|| spawn_committer(cluster.clone()));
                // The task only ends when this consumer drops the sender.
                let _ = commits.send(Job {
                    target,
                    offsets,
                    done,
                });
            }
        }
        async move { outcome.await.map_err(|_| Error::Closed("consumer"))? }
    }

    /// Who commits: the group, and the membership's generation, member id and coordinator.
    fn commit_target(&self) -> Result<Target> {
        let group = self
            .config
            .group_id
            .clone()
            .ok_or_else(|| Error::Config("commits need a group_id".to_owned()))?;
        Ok(match &self.membership {
            Some(m) => Target {
                group,
                generation: m.generation,
                member_id: m.member_id.clone(),
                coordinator: m.cached_coordinator(),
                rejoin: Some(m.rejoin.clone()),
            },
            None => Target {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            group: "g".to_owned(),
            generation: 3,
            member_id: "m".to_owned(),
            coordinator: None,
            rejoin: Some(Arc::new(Rejoin::default())),
        }
    }

    fn kafka(code: ResponseError) -> Error {
        Error::kafka("OffsetCommit", code)
    }

    #[test]
    fn commit_errors_fix_the_group_state() {
        let mut t = target();
        assert!(retry_after(&mut t, &kafka(ResponseError::NotCoordinator)));
        assert!(retry_after(
            &mut t,
            &kafka(ResponseError::CoordinatorNotAvailable)
        ));
        let rejoin = t.rejoin.clone().unwrap_or_default();
        assert!(!retry_after(
            &mut t,
            &kafka(ResponseError::RebalanceInProgress)
        ));
        assert!(rejoin.is_raised() && !rejoin.take_lost());
        assert!(!retry_after(
            &mut t,
            &kafka(ResponseError::IllegalGeneration)
        ));
        assert!(rejoin.take_lost());
        assert!(!retry_after(&mut t, &kafka(ResponseError::UnknownMemberId)));
        assert!(rejoin.take_lost());
        assert!(retry_after(
            &mut t,
            &kafka(ResponseError::CoordinatorLoadInProgress)
        ));
        assert!(!retry_after(
            &mut t,
            &kafka(ResponseError::GroupAuthorizationFailed)
        ));
    }
}
