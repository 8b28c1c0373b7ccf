//! Group subscriptions and rebalances: joining with a topic list or a pattern, taking the
//! assignment a rebalance hands out, revoking (committing first) and losing partitions, and
//! telling the application's [`RebalanceListener`].

use regex::Regex;

use super::Consumer;
use super::assignor::Assignor;
use super::fetch_buffer::PartitionState;
use super::group::{GroupSettings, Membership};
use super::positions::Position;
use crate::error::{Error, Result};
use crate::types::TopicPartition;

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

/// What the consumer asks the group for.
#[derive(Debug, Clone)]
pub(super) enum Subscription {
    None,
    Topics(Vec<String>),
    Pattern(Regex),
}

impl Consumer {
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

    pub(super) fn resolve_subscription(&self) -> Vec<String> {
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

    pub(super) async fn rejoin(&mut self) -> Result<()> {
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
    pub(super) fn drop_lost_partitions(&mut self) {
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
    pub(super) async fn revoke(&mut self, partitions: &[TopicPartition]) {
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
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::consumer::ConsumerConfig;

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
}
