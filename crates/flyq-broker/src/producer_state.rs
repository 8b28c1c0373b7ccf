//! Idempotent producers: per partition, each producer's epoch and its last few batches, so a
//! retried batch is acknowledged again without being appended twice, and a gap in sequence
//! numbers is refused.
//!
//! Rules (Kafka's): a batch from producer id -1 is not idempotent. An unknown producer is
//! accepted at any sequence (its state may have been lost with retention or a restart). An
//! older epoch is fenced (INVALID_PRODUCER_EPOCH); a newer epoch must start at sequence 0. In
//! the same epoch, a batch matching one of the last five is a duplicate (its original offset
//! is returned); otherwise its first sequence must follow the last one (wrapping at i32::MAX).

use std::collections::{HashMap, VecDeque};

use flyq_protocol::BatchHeader;

/// How many recent batches per producer are remembered (Kafka's max.in.flight limit).
const REMEMBERED_BATCHES: usize = 5;

/// A batch's identity and where it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Remembered {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
}

#[derive(Debug, Default)]
struct Producer {
    epoch: i16,
    batches: VecDeque<Remembered>,
}

/// What to do with an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Append,
    Duplicate { base_offset: i64 },
    StaleEpoch,
    OutOfOrder { expected: i32 },
}

fn last_sequence(header: &BatchHeader) -> i32 {
    // Sequences wrap at i32::MAX.
    ((i64::from(header.base_sequence) + i64::from(header.last_offset_delta))
        % (i64::from(i32::MAX) + 1)) as i32
}

/// The idempotent-producer state of one partition.
#[derive(Debug, Default)]
pub(crate) struct ProducerStates {
    producers: HashMap<i64, Producer>,
}

impl ProducerStates {
    /// Judges a batch before it is appended.
    pub fn check(&self, header: &BatchHeader) -> Verdict {
        if header.producer_id < 0 {
            return Verdict::Append;
        }
        let Some(producer) = self.producers.get(&header.producer_id) else {
            return Verdict::Append;
        };
        if header.producer_epoch < producer.epoch {
            return Verdict::StaleEpoch;
        }
        if header.producer_epoch > producer.epoch {
            return if header.base_sequence == 0 {
                Verdict::Append
            } else {
                Verdict::OutOfOrder { expected: 0 }
            };
        }
        let last = last_sequence(header);
        if let Some(seen) = producer
            .batches
            .iter()
            .find(|b| b.first_sequence == header.base_sequence && b.last_sequence == last)
        {
            return Verdict::Duplicate {
                base_offset: seen.base_offset,
            };
        }
        let expected = producer
            .batches
            .back()
            .map_or(0, |b| b.last_sequence.wrapping_add(1).max(0));
        if producer.batches.is_empty() || header.base_sequence == expected {
            Verdict::Append
        } else {
            Verdict::OutOfOrder { expected }
        }
    }

    /// Records an appended batch (its header carries the assigned base offset).
    pub fn record(&mut self, header: &BatchHeader) {
        if header.producer_id < 0 {
            return;
        }
        let producer = self.producers.entry(header.producer_id).or_default();
        if header.producer_epoch != producer.epoch {
            producer.epoch = header.producer_epoch;
            producer.batches.clear();
        }
        producer.batches.push_back(Remembered {
            first_sequence: header.base_sequence,
            last_sequence: last_sequence(header),
            base_offset: header.base_offset,
        });
        while producer.batches.len() > REMEMBERED_BATCHES {
            producer.batches.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, records: i32, offset: i64) -> BatchHeader {
        let batch = flyq_protocol::builder::with_producer(
            flyq_protocol::builder::filler_batch(0, records as usize, 1),
            pid,
            epoch,
            seq,
        );
        let mut h = BatchHeader::parse(&batch).unwrap();
        h.base_offset = offset;
        h
    }

    #[test]
    fn sequences_duplicates_gaps_and_epochs() {
        let mut states = ProducerStates::default();
        let first = header(7, 0, 0, 3, 0);
        assert_eq!(states.check(&first), Verdict::Append);
        states.record(&first);
        assert_eq!(
            states.check(&header(7, 0, 0, 3, 99)),
            Verdict::Duplicate { base_offset: 0 }
        );
        assert_eq!(
            states.check(&header(7, 0, 5, 1, 99)),
            Verdict::OutOfOrder { expected: 3 }
        );
        let next = header(7, 0, 3, 2, 3);
        assert_eq!(states.check(&next), Verdict::Append);
        states.record(&next);
        // A new epoch starts over at 0; the old one is fenced from then on.
        assert_eq!(
            states.check(&header(7, 1, 4, 1, 9)),
            Verdict::OutOfOrder { expected: 0 }
        );
        let bumped = header(7, 1, 0, 1, 5);
        assert_eq!(states.check(&bumped), Verdict::Append);
        states.record(&bumped);
        assert_eq!(states.check(&header(7, 0, 5, 1, 9)), Verdict::StaleEpoch);
        // Unknown producers and non-idempotent batches are always appended.
        assert_eq!(states.check(&header(8, 0, 40, 1, 9)), Verdict::Append);
        assert_eq!(states.check(&header(-1, -1, -1, 1, 9)), Verdict::Append);
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut states = ProducerStates::default();
        for i in 0..7 {
            states.record(&header(1, 0, i, 1, i64::from(i)));
        }
        assert_eq!(
            states.check(&header(1, 0, 6, 1, 0)),
            Verdict::Duplicate { base_offset: 6 }
        );
        assert_eq!(
            states.check(&header(1, 0, 0, 1, 0)),
            Verdict::OutOfOrder { expected: 7 }
        );
    }
}
