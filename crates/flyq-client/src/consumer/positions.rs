//! Positions: where each assigned partition's next record comes from (a known offset, the
//! committed offset, or the reset policy), how they are resolved, and seeks.

use std::collections::BTreeMap;

use super::{Consumer, OffsetReset};
use crate::error::{Error, Result};
use crate::offsets;
use crate::types::{OffsetSpec, TopicPartition};

/// How a partition's next fetch offset is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Position {
    Known(i64),
    /// Use the committed offset, else the reset policy.
    Committed,
    /// Use the reset policy.
    Reset,
}

impl Consumer {
    /// The offset of the next record `poll` returns for `tp`, if known yet.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        match self.partitions.get(tp)?.position {
            Position::Known(o) => Some(o),
            _ => None,
        }
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

    pub(super) async fn resolve_positions(&mut self) -> Result<()> {
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

    /// Positions of `filter` (all assigned partitions when `None`) that are known.
    pub(super) fn positions(
        &self,
        filter: Option<&[TopicPartition]>,
    ) -> BTreeMap<TopicPartition, i64> {
        self.partitions
            .iter()
            .filter(|(tp, _)| filter.is_none_or(|f| f.contains(tp)))
            .filter_map(|(tp, s)| match s.position {
                Position::Known(o) => Some((tp.clone(), o)),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::tests::{answer, consumer, fetched};

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
}
