//! The fetch buffer: per partition, fetch answers not decoded yet and records decoded but not
//! handed out. When the next fetch starts (while less than a fetch's worth is buffered), how
//! answers come in, how `poll` decodes only what it hands out, and how taking records moves
//! the position.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::fetcher::{self, Answer, FetchLimits, FetchTarget, Fetched};
use super::positions::Position;
use super::{Consumer, ConsumerRecord};
use crate::error::{Error, Result};
use crate::types::TopicPartition;

/// One assigned partition: its position, whether it is paused, and its fetch buffer.
#[derive(Debug)]
pub(super) struct PartitionState {
    pub(super) position: Position,
    pub(super) paused: bool,
    /// Decoded records, handed out by `poll`.
    pub(super) records: VecDeque<ConsumerRecord>,
    /// Fetch answers not decoded yet: `poll` decodes the next when `records` runs out.
    pub(super) answers: VecDeque<Answer>,
    /// Bytes of `answers` plus key and value bytes of `records`: the next fetch starts before
    /// they are all taken (so it overlaps with decoding and the application's work) while this
    /// is below a fetch's worth.
    pub(super) buffered_bytes: usize,
    /// Where the batches behind `records` and `answers` end: the next fetch starts there.
    pub(super) fetched_to: Option<i64>,
    /// Bumped by seeks; fetch answers from an older epoch are dropped.
    pub(super) epoch: u64,
    pub(super) fetching: bool,
}

impl PartitionState {
    pub(super) fn new(position: Position) -> Self {
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
    pub(super) fn fetch_offset(&self) -> Option<i64> {
        match (self.is_buffering(), self.position) {
            (true, _) => self.fetched_to,
            (false, Position::Known(offset)) => Some(offset),
            (false, _) => None,
        }
    }

    pub(super) fn is_buffering(&self) -> bool {
        !self.records.is_empty() || !self.answers.is_empty()
    }

    /// Drops what is buffered (after a seek, a reset or an undecodable answer).
    pub(super) fn clear_buffer(&mut self) {
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

impl Consumer {
    /// Decodes answers until `max` records are ready (or none is left), visiting partitions
    /// in the order the next `take_buffered` will: a poll decodes what it hands out, not every
    /// partition's next answer.
    pub(super) async fn decode_buffered(&mut self, max: usize) -> Result<()> {
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

    pub(super) fn take_buffered(&mut self, max: usize) -> Vec<ConsumerRecord> {
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

    pub(super) fn start_fetches(&mut self) {
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

    pub(super) fn absorb(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::tests::{answer, consumer, fetched};

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
}
