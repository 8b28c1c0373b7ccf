//! Offset lookups and log-start moves on a partition: ListOffsets' specs, DeleteRecords and
//! OffsetForLeaderEpoch, for every front end. Lookups read indexes and may read the disk, so
//! each runs on a blocking thread.

use flyq_log::TimestampOffset;

use crate::broker::{Broker, refuse_internal};
use crate::error::{BrokerError, Result};
use crate::partition::Partition;

/// Which offset a lookup asks for (Kafka's ListOffsets specs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The high watermark (-1).
    Latest,
    /// The log start (-2).
    Earliest,
    /// The record with the largest timestamp (-3).
    MaxTimestamp,
    /// The first offset on local storage (-4): the log start, as nothing is tiered.
    EarliestLocal,
    /// The last offset on tiered storage (-5): none, as nothing is tiered.
    LatestTiered,
    /// The first record at or after this timestamp.
    Timestamp(i64),
}

impl OffsetSpec {
    /// The spec Kafka's `timestamp` field names, if any.
    pub fn from_kafka(timestamp: i64) -> Option<Self> {
        match timestamp {
            -1 => Some(Self::Latest),
            -2 => Some(Self::Earliest),
            -3 => Some(Self::MaxTimestamp),
            -4 => Some(Self::EarliestLocal),
            -5 => Some(Self::LatestTiered),
            t if t >= 0 => Some(Self::Timestamp(t)),
            _ => None,
        }
    }
}

/// An offset a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundOffset {
    /// The offset.
    pub offset: i64,
    /// The record's timestamp for lookups by time, else -1.
    pub timestamp: i64,
    /// The partition's leader epoch.
    pub leader_epoch: i32,
}

impl Broker {
    /// Runs `work` on a partition on a blocking thread.
    async fn on_partition<T: Send + 'static>(
        &self,
        topic: &str,
        partition: i32,
        work: impl FnOnce(&Partition) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let partition = self.partition(topic, partition)?;
        tokio::task::spawn_blocking(move || work(&partition))
            .await
            .map_err(|e| BrokerError::Metadata {
                context: "running a partition lookup".into(),
                source: std::io::Error::other(e),
            })?
    }

    /// The offset `spec` names in a partition; `None` when there is none. As in Kafka, a record
    /// at or past the high watermark (not yet visible to consumers) is not an answer.
    pub async fn list_offsets(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<Option<FoundOffset>> {
        self.on_partition(topic, partition, move |p| {
            let view = p.view();
            let offset_only = |offset| {
                Some(TimestampOffset {
                    offset,
                    timestamp: -1,
                })
            };
            let found = match spec {
                OffsetSpec::Latest => offset_only(view.high_watermark),
                OffsetSpec::Earliest | OffsetSpec::EarliestLocal => {
                    offset_only(view.log_start_offset)
                }
                OffsetSpec::LatestTiered => None,
                OffsetSpec::MaxTimestamp => p
                    .log
                    .offset_of_max_timestamp()?
                    .filter(|f| f.offset < view.high_watermark),
                OffsetSpec::Timestamp(ts) => p
                    .log
                    .offset_for_timestamp(ts)?
                    .filter(|f| f.offset < view.high_watermark),
            };
            Ok(found.map(|f| FoundOffset {
                offset: f.offset,
                timestamp: f.timestamp,
                leader_epoch: view.leader_epoch,
            }))
        })
        .await
    }

    /// Moves a partition's log start to `offset` (-1: the high watermark), deleting whole
    /// segments below it (DeleteRecords); returns the new log start.
    pub async fn delete_records(&self, topic: &str, partition: i32, offset: i64) -> Result<i64> {
        refuse_internal(topic)?;
        self.on_partition(topic, partition, move |p| {
            let offset = if offset == -1 {
                p.view().high_watermark
            } else {
                offset
            };
            Ok(p.log.delete_records(offset)?)
        })
        .await
    }

    /// The end offset of `leader_epoch` in a partition (OffsetForLeaderEpoch), for a client
    /// that knows the partition at `current_epoch` (-1: any): `(epoch, end offset)`, where the
    /// epoch is the largest one not above the asked one, or `None` when the log has none.
    pub fn end_of_leader_epoch(
        &self,
        topic: &str,
        partition: i32,
        current_epoch: i32,
        leader_epoch: i32,
    ) -> Result<Option<(i32, i64)>> {
        let view = self.partition(topic, partition)?.view();
        if current_epoch > view.leader_epoch {
            return Err(BrokerError::UnknownLeaderEpoch {
                known: view.leader_epoch,
                asked: current_epoch,
            });
        }
        // Every batch of a partition carries the epoch it was appended under; until leaders
        // change (replication) there is one epoch, which ends at the log end.
        Ok((leader_epoch <= view.leader_epoch).then_some((view.leader_epoch, view.log_end_offset)))
    }
}
