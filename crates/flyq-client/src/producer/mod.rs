//! The producer: batching with linger and batch size, compression, acks 0/1/all, retries with
//! backoff, idempotence (on by default), delivery futures, flush and bounded buffer memory.
//!
//! `send` encodes the record straight into its partition's open RecordBatch v2 buffer and
//! returns a [`DeliveryFuture`]; a background sender task ships ready batches, one Produce
//! request per leader carrying every partition's next batch, up to `max_in_flight` requests per
//! connection. When `buffer_memory` bytes are buffered, `send` waits.

mod accumulator;
mod batch;
mod clock;
mod delivery;
mod partitioner;
mod sender;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bytes::Bytes;
use flyq_protocol::layout::BATCH_HEADER_LEN;
use flyq_protocol::record::record_size_bound;
use kafka_protocol::messages::InitProducerIdRequest;
use parking_lot::Mutex;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError, watch};

use crate::cluster::Cluster;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::offsets::with_retries;
use crate::types::Header;
use accumulator::{Append, InFlight, Refused, State, Unfinished};
#[cfg(test)]
pub(crate) use batch::{BatchBuilder, seal};
use delivery::Outcome;
pub use delivery::{DeliveryFuture, RecordMetadata};
pub use flyq_protocol::Compression;
pub use partitioner::{murmur2, partition_for_key};

/// How many acknowledgements a write needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// Fire and forget: no answer, no offsets (acks=0).
    None,
    /// The leader wrote it (acks=1).
    Leader,
    /// Every in-sync replica wrote it (acks=all); required by idempotence.
    All,
}

impl Acks {
    fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// Producer settings. Defaults follow the Java client where it matters (idempotence on,
/// acks=all, 5 requests in flight, 5 ms linger); batches are larger (256 KiB, closer to
/// librdkafka's 1 MB) because throughput per partition is bounded by batch size times
/// requests in flight per round trip.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Connection settings.
    pub client: ClientConfig,
    /// Acknowledgements required.
    pub acks: Acks,
    /// Exactly-once per partition across retries (InitProducerId + sequence numbers).
    pub idempotence: bool,
    /// Batch compression.
    pub compression: Compression,
    /// How long a batch waits for more records before it is sent.
    pub linger: Duration,
    /// A batch is sent once its uncompressed size reaches this many bytes.
    pub batch_size: usize,
    /// Bytes of records buffered before `send` waits.
    pub buffer_memory: usize,
    /// Largest Produce request, and so largest record (default 1 MiB, as the Java client).
    pub max_request_size: usize,
    /// Retries of a batch that failed with a retriable error.
    pub retries: u32,
    /// Wait before a retry.
    pub retry_backoff: Duration,
    /// A record not acknowledged within this time fails.
    pub delivery_timeout: Duration,
    /// Produce requests in flight per broker connection (at most 5 with idempotence).
    pub max_in_flight: usize,
}

impl ProducerConfig {
    /// Defaults for the cluster at `bootstrap` ("host:port,...").
    pub fn new(bootstrap: &str) -> Self {
        Self {
            client: ClientConfig::new(bootstrap),
            acks: Acks::All,
            idempotence: true,
            compression: Compression::None,
            linger: Duration::from_millis(5),
            batch_size: 256 * 1024,
            buffer_memory: 64 * 1024 * 1024,
            // As the Java client: brokers refuse larger batches by default
            // (max.message.bytes is about 1 MiB), so a larger default only moves the failure.
            max_request_size: 1024 * 1024,
            retries: u32::MAX,
            retry_backoff: Duration::from_millis(100),
            delivery_timeout: Duration::from_secs(120),
            max_in_flight: 5,
        }
    }

    /// Sets acks; turning acks below `All` turns idempotence off, as it requires acks=all.
    pub fn acks(mut self, acks: Acks) -> Self {
        self.acks = acks;
        if acks != Acks::All {
            self.idempotence = false;
        }
        self
    }

    /// Sets idempotence.
    pub fn idempotence(mut self, on: bool) -> Self {
        self.idempotence = on;
        self
    }

    /// Sets the compression codec.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the linger time.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Sets the batch size in bytes.
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.batch_size = bytes;
        self
    }

    /// Sets the Produce requests in flight per broker connection (at most 5 with idempotence).
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests;
        self
    }

    /// Sets the buffer memory in bytes.
    pub fn buffer_memory(mut self, bytes: usize) -> Self {
        self.buffer_memory = bytes;
        self
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_owned()));
        if self.idempotence && self.acks != Acks::All {
            return bad("idempotence requires acks=all (set acks to All or idempotence off)");
        }
        if self.idempotence && self.max_in_flight > 5 {
            return bad("idempotence allows at most 5 requests in flight (max_in_flight)");
        }
        if self.max_in_flight == 0 || self.batch_size == 0 {
            return bad("max_in_flight and batch_size must be above zero");
        }
        if self.buffer_memory < self.max_request_size {
            return bad(
                "buffer_memory must be at least max_request_size, or a large record could never be buffered",
            );
        }
        if u32::try_from(self.buffer_memory).is_err() {
            return bad("buffer_memory must be below 4 GiB");
        }
        Ok(())
    }
}

/// A record to send.
#[derive(Debug, Clone, Default)]
pub struct ProducerRecord {
    /// Topic (shared: sending many records to one topic copies no string).
    pub topic: Arc<str>,
    /// Partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// Key (hashed to choose the partition).
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<Header>,
    /// Create time in ms since the epoch; `None` means now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with a value.
    pub fn new(topic: impl Into<Arc<str>>, value: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into(),
            value: Some(value.into()),
            ..Self::default()
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// Sets the timestamp.
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }
}

/// State shared by producer handles and the sender task.
pub(crate) struct Shared {
    cluster: Arc<Cluster>,
    config: ProducerConfig,
    state: Mutex<State>,
    /// Wakes the sender: a batch is ready, a request finished, flush or close was asked.
    wake: Notify,
    memory: Arc<Semaphore>,
    /// Batches created and not yet completed; flush waits for those created before it.
    unfinished: watch::Sender<Unfinished>,
    refreshing: AtomicBool,
}

impl Shared {
    fn idempotent(&self) -> bool {
        self.config.idempotence
    }

    /// The bound of `record`'s encoded size, and the buffer memory to reserve for it.
    fn size_of(&self, record: &ProducerRecord) -> Result<(usize, u32)> {
        let size_bound = record_size_bound(
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
        let limit = self.config.max_request_size;
        let too_large = || Error::RecordTooLarge {
            size: size_bound,
            limit,
        };
        if size_bound + BATCH_HEADER_LEN > limit {
            return Err(too_large());
        }
        let permits = u32::try_from(size_bound).map_err(|_| too_large())?;
        Ok((size_bound, permits))
    }

    /// Appends `record` with its reserved `memory`; `partitions` is the topic's partition
    /// count when the caller just looked it up. `Ok(Err(memory))` gives the memory back when
    /// the count must be looked up first.
    fn append(
        &self,
        record: &ProducerRecord,
        size_bound: usize,
        memory: OwnedSemaphorePermit,
        partitions: Option<i32>,
    ) -> Result<std::result::Result<DeliveryFuture, OwnedSemaphorePermit>> {
        // Read before the metadata it stands for (see `metadata_generation`).
        let generation = self.cluster.metadata_generation();
        let appended = {
            let mut state = self.state.lock();
            if state.shutdown {
                return Err(Error::Closed("producer"));
            }
            state.append(
                Append {
                    topic: &record.topic,
                    partition: record.partition,
                    timestamp: record.timestamp,
                    key: record.key.as_deref(),
                    value: record.value.as_deref(),
                    headers: &record.headers,
                    size_bound,
                    memory,
                    generation,
                    partitions,
                },
                &self.config,
                &self.unfinished,
            )
        };
        match appended {
            Ok(appended) => {
                // A new batch brings a linger deadline the sender may not know of yet (it
                // sleeps until its earliest known one): without this wake a lone record
                // waited for the next send.
                if appended.batch_ready || appended.new_batch {
                    self.wake.notify_one();
                }
                Ok(Ok(appended.delivery))
            }
            Err(Refused::PartitionCountNeeded(memory)) => Ok(Err(memory)),
            Err(Refused::NoSuchPartition) => Err(Error::UnknownPartition {
                topic: record.topic.to_string(),
                partition: record.partition.unwrap_or(-1),
            }),
        }
    }

    /// `send` when it has to wait: for buffer memory (`memory` is `None`) or for the topic's
    /// partition count.
    async fn send_waiting(
        &self,
        record: ProducerRecord,
        size_bound: usize,
        memory: Option<OwnedSemaphorePermit>,
        permits: u32,
    ) -> Result<DeliveryFuture> {
        let mut memory = match memory {
            Some(memory) => memory,
            None => self
                .memory
                .clone()
                .acquire_many_owned(permits)
                .await
                .map_err(|_| Error::Closed("producer"))?,
        };
        let mut partitions = None;
        loop {
            match self.append(&record, size_bound, memory, partitions)? {
                Ok(delivery) => return Ok(delivery),
                Err(returned) => memory = returned,
            }
            let topic = record.topic.to_string();
            // A topic the broker just auto-created may report LEADER_NOT_AVAILABLE for a
            // moment.
            partitions = Some(
                with_retries(&self.cluster, std::slice::from_ref(&topic), || {
                    self.cluster.partition_count(&topic, true)
                })
                .await?,
            );
        }
    }

    /// Settles a batch: its delivery futures wake, its buffer memory is released.
    fn complete(&self, f: InFlight, result: Outcome) {
        if let Err(e) = &result {
            tracing::warn!(target: "flyq_client::producer", topic = %f.topic, partition = f.partition, error = %e, "batch failed");
        }
        f.batch.completion.0.complete(result);
        let id = f.batch.id;
        drop(f);
        self.unfinished.send_modify(|u| u.finish(id));
    }
}

/// A fresh producer id and epoch from InitProducerId.
async fn new_identity(cluster: &Cluster) -> Result<accumulator::Identity> {
    with_retries(cluster, &[], || async {
        let response = cluster
            .any()
            .await?
            .send(
                &InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(-1),
            )
            .await?;
        Error::check(response.error_code, || "InitProducerId".to_owned())?;
        Ok((response.producer_id.0, response.producer_epoch))
    })
    .await
}

/// Closes the producer when the last handle goes: remaining batches are still sent.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.state.lock().shutdown = true;
        self.shared.wake.notify_one();
    }
}

/// An async producer. Cheap to clone; clones share batches and connections.
#[derive(Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

impl Producer {
    /// Connects (for idempotence, obtains a producer id) and starts the sender task.
    pub async fn new(config: ProducerConfig) -> Result<Self> {
        config.validate()?;
        let cluster = Cluster::new(config.client.clone())?;
        let identity = if config.idempotence {
            new_identity(&cluster).await?
        } else {
            (-1, -1)
        };
        let shared = Arc::new(Shared {
            cluster,
            memory: Arc::new(Semaphore::new(config.buffer_memory)),
            config,
            state: Mutex::new(State::new(identity)),
            wake: Notify::new(),
            unfinished: watch::Sender::new(Unfinished::default()),
            refreshing: AtomicBool::new(false),
        });
        tokio::spawn(sender::run(shared.clone()));
        Ok(Self {
            handle: Arc::new(Handle { shared }),
        })
    }

    /// Queues `record` and returns its delivery future. Waits while the buffer is full; fails
    /// at once on an invalid record or an unknown topic that cannot be auto-created.
    ///
    /// The common case is synchronous: one short lock, no metadata lookup (the topic's
    /// partition count is cached with its queues while the metadata does not change), no
    /// allocation beyond the batch. Waiting for memory or metadata happens in a separate,
    /// boxed future, so the common case does not carry its size.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let shared = &*self.handle.shared;
        let (size_bound, permits) = shared.size_of(&record)?;
        match shared.memory.clone().try_acquire_many_owned(permits) {
            Ok(memory) => match shared.append(&record, size_bound, memory, None)? {
                Ok(delivery) => Ok(delivery),
                Err(memory) => {
                    Box::pin(shared.send_waiting(record, size_bound, Some(memory), permits)).await
                }
            },
            Err(TryAcquireError::NoPermits) => {
                Box::pin(shared.send_waiting(record, size_bound, None, permits)).await
            }
            Err(TryAcquireError::Closed) => Err(Error::Closed("producer")),
        }
    }

    /// Sends everything buffered now, ignoring linger, and waits until every batch created
    /// before the call has completed (successfully or not). Batches created by sends during
    /// the flush are not waited for: under steady sends there would always be one.
    pub async fn flush(&self) {
        /// Undoes the flush request even if the caller stops waiting, or linger would stay
        /// switched off.
        struct Flushing<'a>(&'a Shared);
        impl Drop for Flushing<'_> {
            fn drop(&mut self) {
                self.0.state.lock().flushing -= 1;
            }
        }
        let shared = &self.handle.shared;
        let mut unfinished = shared.unfinished.subscribe();
        let target = {
            let mut state = shared.state.lock();
            state.flushing += 1;
            // Batches are registered under the state lock: every batch holding a record sent
            // before this call has an id below this.
            unfinished.borrow().next_id()
        };
        let _flushing = Flushing(shared);
        shared.wake.notify_one();
        // The sender holds `shared`, so the channel cannot close while we wait.
        let _ = unfinished.wait_for(|u| u.completed_before(target)).await;
    }

    /// Flushes, then stops the producer; later sends fail with [`Error::Closed`].
    pub async fn close(self) {
        self.flush().await;
        self.handle.shared.state.lock().shutdown = true;
        self.handle.shared.wake.notify_one();
    }

    /// The producer id from InitProducerId (-1 without idempotence). It changes when a batch
    /// fails for good, since its sequence gap would block the partition.
    pub fn producer_id(&self) -> i64 {
        self.handle.shared.state.lock().identity.0
    }
}
