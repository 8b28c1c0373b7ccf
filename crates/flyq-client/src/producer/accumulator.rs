//! The record accumulator: per-partition queues of batches between `send` and the sender.
//!
//! `send` appends encoded records to the partition's open batch under one short lock; a batch
//! is closed when full, when its linger expires, or on flush. The sender drains closed batches,
//! at most one per partition per Produce request, assigning idempotence sequence numbers in
//! queue order, so retried batches (re-inserted by sequence) go out before later ones.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use flyq_protocol::layout::BATCH_HEADER_LEN;
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::ProducerConfig;
use super::batch::BatchBuilder;
use super::clock::WallClock;
use super::delivery::{Completion, Delivery, DeliveryFuture};
use super::partitioner::{Rng, partition_for_key};
use crate::cluster::Metadata;
use crate::connection::Connection;
use crate::types::Header;

/// A partition's first batch starts this small and grows, so many slow partitions do not each
/// hold a full `batch_size` allocation; later batches start at the size the previous one
/// reached, so a busy partition does not copy its buffer as it grows.
const INITIAL_BATCH_CAPACITY: usize = 16 * 1024;

/// A batch's contents: still raw (compressed and sealed by the request task, off the lock),
/// compressed but waiting for a (new) sequence, or sealed bytes kept for retries.
#[derive(Debug)]
pub(crate) enum Body {
    Raw(BatchBuilder),
    Closed(BytesMut),
    Sealed(Bytes),
}

/// Producer id and epoch written into batches (-1, -1 without idempotence).
pub(crate) type Identity = (i64, i16);

/// Batches created and not yet completed, by id; ids count up in creation order, so a flush
/// can wait for the batches created before it without waiting for later ones.
#[derive(Debug, Default)]
pub(crate) struct Unfinished {
    next_id: u64,
    ids: BTreeSet<u64>,
}

impl Unfinished {
    /// The id the next batch gets: every batch created so far has a smaller one.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Whether every batch with an id below `id` has completed.
    pub(crate) fn completed_before(&self, id: u64) -> bool {
        self.ids.first().is_none_or(|&first| first >= id)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn start(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.ids.insert(id);
        id
    }

    pub(crate) fn finish(&mut self, id: u64) {
        self.ids.remove(&id);
    }
}

impl Body {
    /// Bytes the batch takes in a request (uncompressed size while still raw).
    fn len(&self) -> usize {
        match self {
            Body::Raw(b) => b.size(),
            Body::Closed(b) => b.len(),
            Body::Sealed(b) => b.len(),
        }
    }
}

/// A batch that left the open slot.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Its id in [`Unfinished`].
    pub(crate) id: u64,
    pub(crate) body: Body,
    pub(crate) count: i32,
    /// -1 until assigned (or always, without idempotence).
    pub(crate) base_sequence: i32,
    /// The identity the sequence belongs to, set with it.
    pub(crate) identity: Identity,
    /// Settles the records' delivery futures (with an error if the batch is dropped).
    pub(crate) completion: Completion,
    /// Buffer memory held until the batch completes.
    _memory: Option<OwnedSemaphorePermit>,
    pub(crate) created: Instant,
    pub(crate) attempts: u32,
    pub(crate) retry_at: Option<Instant>,
}

#[derive(Debug)]
struct OpenBatch {
    id: u64,
    builder: BatchBuilder,
    created: Instant,
    completion: Completion,
    memory: Option<OwnedSemaphorePermit>,
}

impl OpenBatch {
    fn close(self) -> Batch {
        Batch {
            id: self.id,
            count: self.builder.count(),
            body: Body::Raw(self.builder),
            base_sequence: -1,
            identity: (-1, -1),
            completion: self.completion,
            _memory: self.memory,
            created: self.created,
            attempts: 0,
            retry_at: None,
        }
    }
}

#[derive(Debug, Default)]
struct PartitionQueue {
    open: Option<OpenBatch>,
    ready: VecDeque<Batch>,
    next_sequence: i32,
    /// Bytes the last closed batch reached: where the next one's buffer starts.
    last_batch_size: usize,
}

#[derive(Debug)]
struct TopicQueues {
    name: Arc<str>,
    partitions: Vec<PartitionQueue>,
    sticky: Option<i32>,
    /// The partition count and the metadata generation it was read from: `send` uses it
    /// without looking the topic up in the metadata while the generation is current.
    partition_count: Option<(u64, i32)>,
}

impl TopicQueues {
    fn queue(&mut self, partition: i32) -> &mut PartitionQueue {
        let index = usize::try_from(partition).unwrap_or(0);
        if self.partitions.len() <= index {
            self.partitions
                .resize_with(index + 1, PartitionQueue::default);
        }
        &mut self.partitions[index]
    }

    /// Moves the open batch to the ready queue; a keyless sticky partition moves on.
    fn close_open(&mut self, partition: i32, partitions: i32, rng: &mut Rng) {
        let q = self.queue(partition);
        if let Some(open) = q.open.take() {
            q.last_batch_size = open.builder.size();
            q.ready.push_back(open.close());
            if self.sticky == Some(partition) {
                self.sticky = Some(rng.next_sticky(partitions, Some(partition)));
            }
        }
    }
}

/// Every topic's queues.
#[derive(Debug, Default)]
struct Topics {
    list: Vec<TopicQueues>,
    /// Index of each topic in `list`.
    index: HashMap<Arc<str>, usize>,
    /// The topic of the last `get_or_insert`: most producers send to one topic, which then
    /// costs a string comparison instead of a hash lookup.
    last: usize,
}

impl Topics {
    /// The queues of `topic`, created on first use.
    fn get_or_insert(&mut self, topic: &str) -> &mut TopicQueues {
        let last = self.last;
        if self.list.get(last).is_some_and(|t| &*t.name == topic) {
            return &mut self.list[last];
        }
        let index = match self.index.get(topic) {
            Some(&i) => i,
            None => {
                let name: Arc<str> = Arc::from(topic);
                self.list.push(TopicQueues {
                    name: name.clone(),
                    partitions: Vec::new(),
                    sticky: None,
                    partition_count: None,
                });
                self.index.insert(name, self.list.len() - 1);
                self.list.len() - 1
            }
        };
        self.last = index;
        &mut self.list[index]
    }

    fn get_mut(&mut self, topic: &str) -> Option<&mut TopicQueues> {
        let index = *self.index.get(topic)?;
        self.list.get_mut(index)
    }
}

/// One batch on its way to a leader.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) batch: Batch,
}

/// A Produce request's worth of batches for one leader.
pub(crate) struct Drained {
    pub(crate) leader: i32,
    pub(crate) batches: Vec<InFlight>,
}

/// What one pass of the sender found.
pub(crate) struct Drain {
    pub(crate) requests: Vec<Drained>,
    /// When the sender must look again (earliest linger expiry or retry time).
    pub(crate) next_wake: Option<Instant>,
    /// Topics with batches whose leader is unknown.
    pub(crate) unknown_leaders: Vec<String>,
    /// Batches that waited for a leader longer than the delivery timeout.
    pub(crate) expired: Vec<InFlight>,
}

/// Everything behind the accumulator lock.
#[derive(Debug)]
pub(crate) struct State {
    topics: Topics,
    /// Produce requests drained and not yet answered, per leader.
    pub(crate) in_flight: HashMap<i32, usize>,
    /// The connection every request in flight to a leader goes on (see `sender::connection`).
    pub(crate) pinned: HashMap<i32, Arc<Connection>>,
    pub(crate) flushing: usize,
    pub(crate) shutdown: bool,
    /// Current producer id and epoch.
    pub(crate) identity: Identity,
    /// A sequenced batch failed for good, leaving a gap the broker would refuse every later
    /// batch for: take a new producer id (once nothing is in flight) and renumber.
    pub(crate) new_identity_needed: bool,
    rng: Rng,
    /// Stamps records sent without a timestamp.
    clock: WallClock,
}

/// A record to append, with the buffer memory reserved for it.
pub(crate) struct Append<'a> {
    pub(crate) topic: &'a str,
    /// The partition the caller asked for; `None` lets the partitioner choose.
    pub(crate) partition: Option<i32>,
    /// Create time; `None` means now.
    pub(crate) timestamp: Option<i64>,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: &'a [Header],
    pub(crate) size_bound: usize,
    pub(crate) memory: OwnedSemaphorePermit,
    /// The current metadata generation.
    pub(crate) generation: u64,
    /// The partition count just read from the metadata, if the caller looked it up.
    pub(crate) partitions: Option<i32>,
}

/// Why a record was not appended.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The topic's partition count is not known for the current metadata generation: look it
    /// up and append again with it (and this memory).
    PartitionCountNeeded(OwnedSemaphorePermit),
    /// The partition asked for does not exist.
    NoSuchPartition,
}

/// What `append` did: the delivery future, and whether a batch became ready (wake the
/// sender).
pub(crate) struct Appended {
    pub(crate) delivery: DeliveryFuture,
    pub(crate) batch_ready: bool,
    /// The record opened a new batch (whose linger deadline the sender does not know yet).
    pub(crate) new_batch: bool,
}

impl State {
    pub(crate) fn new(identity: Identity) -> Self {
        Self {
            topics: Topics::default(),
            in_flight: HashMap::new(),
            pinned: HashMap::new(),
            flushing: 0,
            shutdown: false,
            identity,
            new_identity_needed: false,
            rng: Rng::seeded(),
            clock: WallClock::new(),
        }
    }

    /// Appends a record to its partition's open batch, choosing the partition (by key hash, or
    /// sticky for keyless records) unless the caller did. A new batch is registered in
    /// `unfinished` here, under the state lock, so the sender cannot complete it before it is
    /// counted (a count taken after the lock could be left at one for good, and flush and close
    /// would hang).
    pub(crate) fn append(
        &mut self,
        r: Append<'_>,
        config: &ProducerConfig,
        unfinished: &watch::Sender<Unfinished>,
    ) -> Result<Appended, Refused> {
        let timestamp = r.timestamp.unwrap_or_else(|| self.clock.now_ms());
        let t = self.topics.get_or_insert(r.topic);
        let partitions = match (r.partitions, t.partition_count) {
            (Some(n), _) => {
                t.partition_count = Some((r.generation, n));
                n
            }
            (None, Some((generation, n))) if generation == r.generation => n,
            (None, _) => return Err(Refused::PartitionCountNeeded(r.memory)),
        };
        let rng = &mut self.rng;
        let mut batch_ready = false;
        let mut partition = match (r.partition, r.key) {
            (Some(p), _) if !(0..partitions).contains(&p) => {
                return Err(Refused::NoSuchPartition);
            }
            (Some(p), _) => p,
            (None, Some(key)) => partition_for_key(key, partitions),
            // The partition count may have shrunk since the sticky choice (never in Kafka,
            // but a recreated topic can): stay in range.
            (None, None) => match t.sticky {
                Some(p) if p < partitions => p,
                _ => *t.sticky.insert(rng.below(partitions)),
            },
        };
        let sticky = r.partition.is_none() && r.key.is_none();
        let q = t.queue(partition);
        let full = q.open.as_ref().is_some_and(|o| {
            o.builder.count() > 0 && o.builder.size() + r.size_bound > config.batch_size
        });
        if full {
            t.close_open(partition, partitions, rng);
            batch_ready = true;
            if sticky {
                partition = t.sticky.unwrap_or(partition);
            }
        }
        let topic_name = t.name.clone();
        let q = t.queue(partition);
        let new_batch = q.open.is_none();
        let capacity = q
            .last_batch_size
            .max(INITIAL_BATCH_CAPACITY)
            .min(config.batch_size)
            .max(r.size_bound + BATCH_HEADER_LEN);
        let open = q.open.get_or_insert_with(|| {
            let mut id = 0;
            unfinished.send_modify(|u| id = u.start());
            OpenBatch {
                id,
                builder: BatchBuilder::new(capacity, timestamp),
                created: Instant::now(),
                completion: Completion(Delivery::new(topic_name, partition)),
                memory: None,
            }
        });
        match &mut open.memory {
            Some(m) => m.merge(r.memory),
            None => open.memory = Some(r.memory),
        }
        let index = open.builder.append(timestamp, r.key, r.value, r.headers);
        let delivery = DeliveryFuture::new(open.completion.0.clone(), index, timestamp);
        if open.builder.size() >= config.batch_size {
            t.close_open(partition, partitions, rng);
            batch_ready = true;
        }
        Ok(Appended {
            delivery,
            batch_ready,
            new_batch,
        })
    }

    /// Closes batches whose linger expired (all of them when flushing or shutting down) and
    /// takes what can be sent now.
    pub(crate) fn drain(
        &mut self,
        metadata: &Metadata,
        config: &ProducerConfig,
        idempotent: bool,
        now: Instant,
    ) -> Drain {
        let close_all = self.flushing > 0 || self.shutdown;
        let mut next_wake: Option<Instant> = None;
        let mut wake_at = |t: Instant| next_wake = Some(next_wake.map_or(t, |w| w.min(t)));
        let mut unknown_leaders = Vec::new();
        let mut expired = Vec::new();
        let mut gap = false;
        let mut by_leader: BTreeMap<i32, Vec<(Arc<str>, i32)>> = BTreeMap::new();
        // Waiting for a new producer id: nothing can be sent until it comes (InitProducerId
        // may keep failing), so batches expire by the delivery timeout as without a leader.
        let stalled = self.new_identity_needed;
        for t in &mut self.topics.list {
            let partitions = metadata
                .partition_count(&t.name)
                .unwrap_or(i32::try_from(t.partitions.len()).unwrap_or(i32::MAX));
            for p in 0..t.partitions.len() {
                let partition = i32::try_from(p).unwrap_or(i32::MAX);
                if let Some(open) = &t.partitions[p].open {
                    let deadline = open.created + config.linger;
                    if close_all || deadline <= now {
                        t.close_open(partition, partitions, &mut self.rng);
                    } else {
                        wake_at(deadline);
                    }
                }
                let Some(front) = t.partitions[p].ready.front() else {
                    continue;
                };
                if let Some(at) = front.retry_at.filter(|at| *at > now) {
                    wake_at(at);
                    continue;
                }
                match metadata.leader(&t.name, partition).filter(|_| !stalled) {
                    Some(leader) => by_leader
                        .entry(leader)
                        .or_default()
                        .push((t.name.clone(), partition)),
                    None => {
                        // Nowhere to send them: batches past the delivery timeout fail here,
                        // as they would after a failed attempt.
                        let q = &mut t.partitions[p];
                        while let Some(batch) = q.ready.pop_front() {
                            if now.duration_since(batch.created) < config.delivery_timeout {
                                q.ready.push_front(batch);
                                break;
                            }
                            gap |= batch.base_sequence >= 0;
                            expired.push(InFlight {
                                topic: t.name.clone(),
                                partition,
                                batch,
                            });
                        }
                        if !stalled {
                            unknown_leaders.push(t.name.to_string());
                        }
                    }
                }
            }
        }
        self.new_identity_needed |= gap;
        let mut requests = Vec::new();
        if self.new_identity_needed {
            // Nothing new goes out under the old id; the sender renumbers once idle.
            by_leader.clear();
        }
        for (leader, partitions) in by_leader {
            let in_flight = self.in_flight.entry(leader).or_default();
            while *in_flight < config.max_in_flight {
                let mut batches = Vec::new();
                let mut size = 0;
                for (topic, partition) in &partitions {
                    let Some(t) = self.topics.get_mut(topic) else {
                        continue;
                    };
                    let q = t.queue(*partition);
                    let Some(front) = q.ready.front() else {
                        continue;
                    };
                    if front.retry_at.is_some_and(|at| at > now) {
                        continue;
                    }
                    // Checked before adding: a request may not grow past the limit (the
                    // broker would refuse it), except that one batch always goes alone.
                    if size + front.body.len() > config.max_request_size && !batches.is_empty() {
                        continue;
                    }
                    let Some(mut batch) = q.ready.pop_front() else {
                        continue;
                    };
                    if idempotent && batch.base_sequence < 0 {
                        batch.identity = self.identity;
                        batch.base_sequence = q.next_sequence;
                        // Sequences wrap to 0 after i32::MAX, as in the Java client.
                        q.next_sequence = (q.next_sequence.wrapping_add(batch.count)) & i32::MAX;
                    }
                    size += batch.body.len();
                    batches.push(InFlight {
                        topic: topic.clone(),
                        partition: *partition,
                        batch,
                    });
                }
                if batches.is_empty() {
                    break;
                }
                *in_flight += 1;
                requests.push(Drained { leader, batches });
            }
        }
        unknown_leaders.sort();
        unknown_leaders.dedup();
        Drain {
            requests,
            next_wake,
            unknown_leaders,
            expired,
        }
    }

    /// The topics sent to so far.
    pub(crate) fn topic_names(&self) -> Vec<String> {
        self.topics
            .list
            .iter()
            .map(|t| t.name.to_string())
            .collect()
    }

    /// Whether no request is in flight to any broker.
    pub(crate) fn idle(&self) -> bool {
        self.in_flight.values().all(|n| *n == 0)
    }

    /// Switches to a new producer id: every queued batch gets a fresh sequence from 0 when it
    /// is next drained (sealed ones are unsealed for that).
    pub(crate) fn renumber(&mut self, identity: Identity) {
        self.identity = identity;
        self.new_identity_needed = false;
        for t in &mut self.topics.list {
            for q in &mut t.partitions {
                q.next_sequence = 0;
                for b in &mut q.ready {
                    b.base_sequence = -1;
                    if let Body::Sealed(bytes) = &b.body {
                        b.body = Body::Closed(BytesMut::from(&bytes[..]));
                    }
                }
            }
        }
    }

    /// Puts a batch back for another attempt, before every later sequence of its partition.
    pub(crate) fn requeue(&mut self, f: InFlight) {
        let Some(t) = self.topics.get_mut(&f.topic) else {
            return;
        };
        let q = t.queue(f.partition);
        let seq = f.batch.base_sequence;
        let at = if seq < 0 {
            0
        } else {
            q.ready
                .iter()
                .position(|b| b.base_sequence < 0 || b.base_sequence > seq)
                .unwrap_or(q.ready.len())
        };
        q.ready.insert(at, f.batch);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::time::Duration;

    use tokio::sync::Semaphore;

    use super::*;

    fn config() -> ProducerConfig {
        ProducerConfig::new("127.0.0.1:9092")
            .batch_size(250)
            .linger(Duration::from_secs(60))
    }

    /// Permits must come from one semaphore: a batch merges those of its records.
    fn append(
        state: &mut State,
        memory: &Arc<Semaphore>,
        partition: Option<i32>,
        config: &ProducerConfig,
    ) -> Appended {
        append_of(state, memory, partition, 2, config)
    }

    /// A record of 30 bytes for topic "t", with 64 bytes of `memory` reserved for it.
    fn record<'a>(
        memory: &Arc<Semaphore>,
        partition: Option<i32>,
        key: Option<&'a [u8]>,
        generation: u64,
        partitions: Option<i32>,
    ) -> Append<'a> {
        Append {
            topic: "t",
            partition,
            timestamp: Some(1),
            key,
            value: Some(&[7u8; 30]),
            headers: &[],
            size_bound: 64,
            memory: memory.clone().try_acquire_many_owned(64).unwrap(),
            generation,
            partitions,
        }
    }

    /// Appends a record to topic "t" of `partitions` partitions.
    fn append_of(
        state: &mut State,
        memory: &Arc<Semaphore>,
        partition: Option<i32>,
        partitions: i32,
        config: &ProducerConfig,
    ) -> Appended {
        state
            .append(
                record(memory, partition, None, 0, Some(partitions)),
                config,
                &watch::Sender::new(Unfinished::default()),
            )
            .expect("appended")
    }

    fn sequences(drain: &Drain) -> Vec<Vec<(i32, i32)>> {
        drain
            .requests
            .iter()
            .map(|r| {
                r.batches
                    .iter()
                    .map(|f| (f.partition, f.batch.base_sequence))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn full_batches_close_and_wait_for_the_sender_linger_does_not_apply_to_them() {
        let config = config();
        let memory = Arc::new(Semaphore::new(1 << 20));
        let mut state = State::new((5, 0));
        let first = append(&mut state, &memory, Some(0), &config);
        assert!(!first.batch_ready);
        // Records encode to 37 bytes but are admitted against a 64-byte bound, so a 250-byte
        // batch (61-byte header) takes four; the fifth closes it.
        let ready: Vec<bool> = (0..5)
            .map(|_| append(&mut state, &memory, Some(0), &config).batch_ready)
            .collect();
        assert_eq!(ready, vec![false, false, false, true, false]);
        let metadata = Metadata::single_broker(&[("t", 2)]);
        let drain = state.drain(&metadata, &config, true, Instant::now());
        // The closed batch goes; the open one waits for its linger.
        assert_eq!(sequences(&drain), vec![vec![(0, 0)]]);
        assert_eq!(drain.requests[0].batches[0].batch.count, 4);
        assert_eq!(drain.requests[0].batches[0].batch.identity, (5, 0));
        assert!(drain.next_wake.is_some());
    }

    #[test]
    fn each_request_carries_one_batch_per_partition_in_sequence_order_up_to_max_in_flight() {
        let mut config = config();
        config.max_in_flight = 2;
        let memory = Arc::new(Semaphore::new(1 << 20));
        let mut state = State::new((5, 0));
        for _ in 0..12 {
            append(&mut state, &memory, Some(0), &config);
        }
        for _ in 0..4 {
            append(&mut state, &memory, Some(1), &config);
        }
        state.flushing = 1;
        let metadata = Metadata::single_broker(&[("t", 2)]);
        let drain = state.drain(&metadata, &config, true, Instant::now());
        // Partition 0 has three batches of 4 records, partition 1 one batch of 4.
        assert_eq!(sequences(&drain), vec![vec![(0, 0), (1, 0)], vec![(0, 4)]]);
        assert_eq!(state.in_flight[&1], 2);
        // Nothing more until a request completes.
        let more = state.drain(&metadata, &config, true, Instant::now());
        assert!(more.requests.is_empty());
        // A failed batch goes back before later sequences and is resent first.
        let mut requests = drain.requests.into_iter();
        let failed = requests.next().unwrap().batches.into_iter().next().unwrap();
        state.requeue(failed);
        state.in_flight.insert(1, 0);
        let retry = state.drain(&metadata, &config, true, Instant::now());
        assert_eq!(sequences(&retry), vec![vec![(0, 0)], vec![(0, 8)]]);
    }

    #[test]
    fn a_new_identity_renumbers_queued_batches_from_zero() {
        let config = config();
        let memory = Arc::new(Semaphore::new(1 << 20));
        let mut state = State::new((5, 0));
        for _ in 0..8 {
            append(&mut state, &memory, Some(0), &config);
        }
        state.flushing = 1;
        let metadata = Metadata::single_broker(&[("t", 2)]);
        let drain = state.drain(&metadata, &config, true, Instant::now());
        assert_eq!(sequences(&drain), vec![vec![(0, 0)], vec![(0, 4)]]);
        // The second batch failed for good; the first is back for a retry.
        let mut requests = drain.requests.into_iter();
        state.requeue(requests.next().unwrap().batches.into_iter().next().unwrap());
        state.in_flight.insert(1, 0);
        state.new_identity_needed = true;
        assert!(
            state
                .drain(&metadata, &config, true, Instant::now())
                .requests
                .is_empty()
        );
        state.renumber((6, 0));
        let drain = state.drain(&metadata, &config, true, Instant::now());
        assert_eq!(sequences(&drain), vec![vec![(0, 0)]]);
        assert_eq!(drain.requests[0].batches[0].batch.identity, (6, 0));
    }

    #[test]
    fn keyless_records_stick_until_their_batch_closes() {
        let config = config();
        let memory = Arc::new(Semaphore::new(1 << 20));
        let mut state = State::new((-1, -1));
        let partitions: Vec<i32> = (0..9)
            .map(|_| {
                append(&mut state, &memory, None, &config)
                    .delivery
                    .partition()
            })
            .collect();
        // Four records fill a batch; the fifth starts one on the other partition.
        assert!(partitions[..4].iter().all(|p| *p == partitions[0]));
        assert!(partitions[4..8].iter().all(|p| *p != partitions[0]));
        assert_eq!(partitions[8], partitions[0]);
    }

    #[test]
    fn batches_without_a_leader_expire_after_the_delivery_timeout() {
        let config = config();
        let memory = Arc::new(Semaphore::new(1 << 20));
        let mut state = State::new((-1, -1));
        append(&mut state, &memory, Some(1), &config);
        state.flushing = 1;
        let no_topic = Metadata::single_broker(&[]);
        let soon = state.drain(&no_topic, &config, false, Instant::now());
        assert!(soon.expired.is_empty());
        assert_eq!(soon.unknown_leaders, vec!["t".to_owned()]);
        let late = Instant::now() + config.delivery_timeout;
        let drain = state.drain(&no_topic, &config, false, late);
        assert_eq!(drain.expired.len(), 1);
        assert_eq!(drain.expired[0].partition, 1);
        assert!(
            !state.new_identity_needed,
            "an unsent batch leaves no sequence gap"
        );
    }

    /// Appends a keyed record to "t" as `send` does: with the partition count only if given.
    fn append_keyed(
        state: &mut State,
        memory: &Arc<Semaphore>,
        key: &[u8],
        generation: u64,
        partitions: Option<i32>,
    ) -> Result<Appended, Refused> {
        state.append(
            record(memory, None, Some(key), generation, partitions),
            &config(),
            &watch::Sender::new(Unfinished::default()),
        )
    }

    #[test]
    fn the_partition_count_is_cached_until_the_metadata_changes() {
        let memory = Arc::new(Semaphore::new(1 << 20));
        let mut state = State::new((-1, -1));
        // Unknown at first: the caller must look it up; the memory comes back.
        match append_keyed(&mut state, &memory, b"k", 1, None) {
            Err(Refused::PartitionCountNeeded(permit)) => assert_eq!(permit.num_permits(), 64),
            other => panic!("{:?}", other.map(|a| a.delivery)),
        }
        let first = append_keyed(&mut state, &memory, b"k", 1, Some(6)).unwrap();
        assert_eq!(first.delivery.partition(), partition_for_key(b"k", 6));
        // Same generation: no lookup.
        let cached = append_keyed(&mut state, &memory, b"k", 1, None).unwrap();
        assert_eq!(cached.delivery.partition(), first.delivery.partition());
        // New metadata: looked up again, and keys hash over the new count.
        assert!(matches!(
            append_keyed(&mut state, &memory, b"k", 2, None),
            Err(Refused::PartitionCountNeeded(_))
        ));
        let grown = append_keyed(&mut state, &memory, b"k", 2, Some(40)).unwrap();
        assert_eq!(grown.delivery.partition(), partition_for_key(b"k", 40));
    }

    #[test]
    fn a_partition_out_of_range_is_refused() {
        let config = config();
        let memory = Arc::new(Semaphore::new(1 << 20));
        let mut state = State::new((-1, -1));
        let refused = state.append(
            record(&memory, Some(2), None, 0, Some(2)),
            &config,
            &watch::Sender::new(Unfinished::default()),
        );
        assert!(matches!(refused, Err(Refused::NoSuchPartition)));
        assert_eq!(memory.available_permits(), 1 << 20, "memory returned");
    }

    #[test]
    fn a_new_batch_is_counted_by_append_itself() {
        let config = config();
        let memory = Arc::new(Semaphore::new(1 << 20));
        let mut state = State::new((5, 0));
        let unfinished = watch::Sender::new(Unfinished::default());
        state
            .append(
                record(&memory, Some(0), None, 0, Some(2)),
                &config,
                &unfinished,
            )
            .expect("appended");
        // Counted before the lock guarding `state` could be released.
        assert!(!unfinished.borrow().is_empty());
        assert_eq!(unfinished.borrow().next_id(), 1);
    }

    #[test]
    fn flush_waits_only_for_batches_created_before_it() {
        let mut u = Unfinished::default();
        let first = u.start();
        let flush_target = u.next_id();
        let later = u.start();
        assert!(!u.completed_before(flush_target));
        u.finish(first);
        // A batch sent after the flush began does not hold it up.
        assert!(u.completed_before(flush_target));
        assert!(!u.is_empty());
        u.finish(later);
        assert!(u.is_empty());
    }

    #[test]
    fn batches_waiting_for_a_new_producer_id_expire_after_the_delivery_timeout() {
        let config = config();
        let memory = Arc::new(Semaphore::new(1 << 20));
        let mut state = State::new((5, 0));
        append(&mut state, &memory, Some(0), &config);
        state.flushing = 1;
        state.new_identity_needed = true;
        let metadata = Metadata::single_broker(&[("t", 2)]);
        let soon = state.drain(&metadata, &config, true, Instant::now());
        assert!(soon.requests.is_empty() && soon.expired.is_empty());
        let late = Instant::now() + config.delivery_timeout;
        let drain = state.drain(&metadata, &config, true, late);
        assert_eq!(drain.expired.len(), 1);
        assert!(drain.unknown_leaders.is_empty());
    }

    #[test]
    fn a_request_stays_within_max_request_size() {
        let mut config = config();
        // Each batch (4 records of about 40 bytes, plus the header) is about 220 bytes: two
        // fit in 500, three do not.
        config.max_request_size = 500;
        let memory = Arc::new(Semaphore::new(1 << 20));
        let mut state = State::new((-1, -1));
        for p in 0..3 {
            for _ in 0..4 {
                append_of(&mut state, &memory, Some(p), 3, &config);
            }
        }
        state.flushing = 1;
        let metadata = Metadata::single_broker(&[("t", 3)]);
        let drain = state.drain(&metadata, &config, false, Instant::now());
        let sizes: Vec<usize> = drain
            .requests
            .iter()
            .map(|r| r.batches.iter().map(|f| f.batch.body.len()).sum())
            .collect();
        assert_eq!(sizes.len(), 2, "{sizes:?}");
        assert!(sizes.iter().all(|s| *s <= 500), "{sizes:?}");
    }
}
