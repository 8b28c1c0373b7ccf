//! Offset commits: retried on retriable errors, with the group state fixed on the way
//! (coordinator moved, membership ended, rebalance started); `commit_async` commits run one
//! after another on a per-consumer task so they apply in the order they were started.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tokio::sync::{mpsc, oneshot};

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
