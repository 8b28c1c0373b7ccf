//! The sender task: drains ready batches into one Produce request per leader (several in flight
//! per connection), completes delivery futures from the answers, and re-queues retriable
//! failures with backoff.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use tokio::sync::oneshot;
use tokio::sync::oneshot::error::TryRecvError;

use super::accumulator::{Body, InFlight};
use super::batch::{BatchBuilder, seal};
use super::{Acks, Compression, Shared};
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::offsets::topic_name;

/// How long the sender sleeps when nothing has a deadline; any send or completion wakes it.
const IDLE: Duration = Duration::from_secs(60);
/// Batches larger than this are compressed on a blocking thread: compressing hundreds of KiB
/// takes milliseconds, which would stall the application's tasks on the same worker.
const COMPRESS_INLINE_BYTES: usize = 64 << 10;

/// Runs until the producer is dropped or closed and every batch has completed.
pub(crate) async fn run(shared: Arc<Shared>) {
    // Per leader, the turn of the newest request: each request waits for the one drained
    // before it to be on the wire, so batches (and retries, in sequence order) reach the
    // broker in drain order even though requests are sealed and awaited concurrently.
    let mut turns: HashMap<i32, oneshot::Receiver<()>> = HashMap::new();
    // After a failed InitProducerId, when to try again; meanwhile the loop goes on draining,
    // so waiting batches expire and a closed producer can finish.
    let mut identity_retry_at: Option<Instant> = None;
    loop {
        let notified = shared.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let renumber = {
            let state = shared.state.lock();
            state.new_identity_needed
                && state.idle()
                && !(state.shutdown && shared.unfinished.borrow().is_empty())
                && identity_retry_at.is_none_or(|at| at <= Instant::now())
        };
        if renumber {
            match super::new_identity(&shared.cluster).await {
                Ok(identity) => {
                    tracing::info!(target: "flyq_client::producer", producer_id = identity.0, "new producer id after a failed batch");
                    shared.state.lock().renumber(identity);
                    identity_retry_at = None;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(target: "flyq_client::producer", error = %e, "InitProducerId failed");
                    identity_retry_at = Some(Instant::now() + shared.config.retry_backoff);
                }
            }
        }
        if shared.cluster.metadata_stale() {
            // The producer's own topics: a cluster's whole metadata can be large.
            let topics = shared.state.lock().topic_names();
            if !topics.is_empty() {
                refresh_metadata(&shared, topics);
            }
        }
        let metadata = shared.cluster.metadata();
        let drain = {
            let mut state = shared.state.lock();
            if state.shutdown && shared.unfinished.borrow().is_empty() {
                return;
            }
            state.drain(
                &metadata,
                &shared.config,
                shared.idempotent(),
                Instant::now(),
            )
        };
        for f in drain.expired {
            let what = format!(
                "delivery to {}/{} (no leader known within the delivery timeout)",
                f.topic, f.partition
            );
            shared.complete(f, Err(Error::DeadlineExceeded(what)));
        }
        if !drain.unknown_leaders.is_empty() {
            refresh_metadata(&shared, drain.unknown_leaders);
        }
        for request in drain.requests {
            let (my_turn_done, next) = oneshot::channel();
            // A settled predecessor is written, or failed with its batches back in the queue
            // (before anything drained now): nothing to wait for.
            let previous = turns
                .insert(request.leader, next)
                .and_then(|mut rx| matches!(rx.try_recv(), Err(TryRecvError::Empty)).then_some(rx));
            tokio::spawn(send(
                shared.clone(),
                request.leader,
                request.batches,
                previous,
                my_turn_done,
            ));
        }
        let wake = drain
            .next_wake
            .into_iter()
            .chain(identity_retry_at.filter(|at| *at > Instant::now()))
            .min()
            .unwrap_or_else(|| Instant::now() + IDLE);
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(wake.into()) => {}
        }
    }
}

/// Refreshes metadata in the background (once at a time) and wakes the sender after.
fn refresh_metadata(shared: &Arc<Shared>, topics: Vec<String>) {
    if shared
        .refreshing
        .swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        if let Err(e) = shared.cluster.refresh_metadata(&topics, true).await {
            tracing::debug!(target: "flyq_client::producer", error = %e, "metadata refresh failed");
            tokio::time::sleep(shared.config.retry_backoff).await;
        }
        shared
            .refreshing
            .store(false, std::sync::atomic::Ordering::Release);
        shared.wake.notify_one();
    });
}

/// Closes (compresses) a batch, off the tokio workers when it is large.
async fn close_batch(builder: BatchBuilder, compression: Compression) -> Result<BytesMut> {
    if compression == Compression::None || builder.size() <= COMPRESS_INLINE_BYTES {
        return builder.close(compression);
    }
    tokio::task::spawn_blocking(move || builder.close(compression))
        .await
        .map_err(|_| Error::Closed("producer"))?
}

/// Sends one Produce request and settles each of its batches. It goes on the wire after
/// `previous` is settled, and settles `done` in turn: a value once written; dropped, if it
/// failed before that, only once its batches are back in the queue.
///
/// With idempotence, a request whose predecessor never reached the broker is not sent either
/// (it fails as the predecessor did, and is retried after it): on a new connection it would
/// land first, and a broker that lost track of the producer (a restart) takes any sequence from
/// an unknown producer, after which the earlier batch is out of order for good.
async fn send(
    shared: Arc<Shared>,
    leader: i32,
    batches: Vec<InFlight>,
    previous: Option<oneshot::Receiver<()>>,
    done: oneshot::Sender<()>,
) {
    let mut sendable = Vec::with_capacity(batches.len());
    // Whether a sequenced batch failed for good (see `State::new_identity_needed`).
    let mut gap = false;
    for mut f in batches {
        // Compress and seal off the accumulator lock; a retried batch is already sealed.
        let identity = f.batch.identity;
        let sequence = f.batch.base_sequence;
        let closed = match std::mem::replace(&mut f.batch.body, Body::Sealed(Default::default())) {
            Body::Raw(builder) => close_batch(builder, shared.config.compression).await,
            Body::Closed(bytes) => Ok(bytes),
            sealed @ Body::Sealed(_) => {
                f.batch.body = sealed;
                sendable.push(f);
                continue;
            }
        };
        match closed {
            Ok(bytes) => f.batch.body = Body::Sealed(seal(bytes, identity.0, identity.1, sequence)),
            Err(e) => {
                gap |= shared.idempotent();
                shared.complete(f, Err(e));
                continue;
            }
        }
        sendable.push(f);
    }
    let previous_written = match previous {
        Some(previous) => previous.await.is_ok(),
        None => true,
    };
    let mut done = Some(done);
    let result = if previous_written || !shared.idempotent() {
        produce(&shared, leader, &sendable, &mut done).await
    } else {
        Err(Error::Disconnected {
            addr: format!("broker {leader}"),
            api: ApiKey::Produce,
        })
    };
    let mut retries = Vec::new();
    match result {
        Err(e) => {
            for f in sendable {
                gap |= settle(&shared, f, Err(e.clone()), &mut retries);
            }
        }
        Ok(None) => {
            for f in sendable {
                shared.complete(f, Ok((-1, -1)));
            }
        }
        Ok(Some(mut answers)) => {
            for f in sendable {
                let answer = answers
                    .remove(&(f.topic.to_string(), f.partition))
                    .unwrap_or_else(|| {
                        Err(Error::kafka(
                            format!(
                                "Produce to {}/{} (missing from the answer)",
                                f.topic, f.partition
                            ),
                            ResponseError::NetworkException,
                        ))
                    });
                gap |= settle(&shared, f, answer, &mut retries);
            }
        }
    }
    {
        let mut state = shared.state.lock();
        if let Some(n) = state.in_flight.get_mut(&leader) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // Every failed batch is back in the queue: the next request may open a new
                // connection.
                state.pinned.remove(&leader);
            }
        }
        for f in retries {
            state.requeue(f);
        }
        state.new_identity_needed |= gap;
    }
    // Only now may requests that waited for this one see it failed (see above).
    drop(done);
    shared.wake.notify_one();
}

type Answers = BTreeMap<(String, i32), Result<(i64, i64)>>;

/// The connection to send a request to `leader` on: the one the requests still in flight there
/// use, failing if it has closed. A new connection is opened only once none is in flight, by
/// when the batches that failed with the old one are back in the queue, first in line: a batch
/// on a new connection could otherwise overtake an earlier one about to fail with the old, and
/// a broker that lost track of the producer (a restart) would take it, after which the earlier
/// one is out of sequence for good.
async fn connection(shared: &Shared, leader: i32) -> Result<Arc<Connection>> {
    let pinned = shared.state.lock().pinned.get(&leader).cloned();
    if let Some(conn) = pinned {
        return if conn.is_closed() {
            Err(Error::Disconnected {
                addr: conn.addr().to_owned(),
                api: ApiKey::Produce,
            })
        } else {
            Ok(conn)
        };
    }
    let conn = shared.cluster.broker(leader).await?;
    // Another request may have pinned one meanwhile: all must use the same.
    Ok(shared
        .state
        .lock()
        .pinned
        .entry(leader)
        .or_insert(conn)
        .clone())
}

/// Sends the request; `None` for acks=0, which gets no answer.
async fn produce(
    shared: &Shared,
    leader: i32,
    batches: &[InFlight],
    written: &mut Option<oneshot::Sender<()>>,
) -> Result<Option<Answers>> {
    let mut signal_written = || {
        if let Some(written) = written.take() {
            let _ = written.send(());
        }
    };
    let mut by_topic: BTreeMap<&str, Vec<PartitionProduceData>> = BTreeMap::new();
    for f in batches {
        let Body::Sealed(bytes) = &f.batch.body else {
            continue;
        };
        by_topic.entry(&f.topic).or_default().push(
            PartitionProduceData::default()
                .with_index(f.partition)
                .with_records(Some(bytes.clone())),
        );
    }
    let request = ProduceRequest::default()
        .with_transactional_id(None)
        .with_acks(shared.config.acks.wire())
        .with_timeout_ms(
            i32::try_from(shared.cluster.config.request_timeout.as_millis()).unwrap_or(i32::MAX),
        )
        .with_topic_data(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    TopicProduceData::default()
                        .with_name(topic_name(t))
                        .with_partition_data(ps)
                })
                .collect(),
        );
    let conn = connection(shared, leader).await?;
    if shared.config.acks == Acks::None {
        conn.send_oneway(&request).await?;
        signal_written();
        return Ok(None);
    }
    let submitted = conn
        .submit(&request, shared.cluster.config.request_timeout)
        .await?;
    // The next request may go now.
    signal_written();
    let response = submitted.response().await?;
    let mut answers = Answers::new();
    for t in response.responses {
        for p in t.partition_responses {
            let answer = match ResponseError::try_from_code(p.error_code) {
                // A retry of a batch the broker already has: it was written once.
                None | Some(ResponseError::DuplicateSequenceNumber) => {
                    Ok((p.base_offset, p.log_append_time_ms))
                }
                Some(error) => Err(Error::kafka(
                    match &p.error_message {
                        Some(m) => format!("Produce to {}/{} ({m})", t.name.0.as_str(), p.index),
                        None => format!("Produce to {}/{}", t.name.0.as_str(), p.index),
                    },
                    error,
                )),
            };
            answers.insert((t.name.0.to_string(), p.index), answer);
        }
    }
    Ok(Some(answers))
}

/// Completes a batch, or sets it aside for a retry when the error allows one. Returns whether
/// a sequenced batch failed for good.
fn settle(
    shared: &Arc<Shared>,
    mut f: InFlight,
    answer: Result<(i64, i64)>,
    retries: &mut Vec<InFlight>,
) -> bool {
    let Err(e) = answer else {
        shared.complete(f, answer);
        return false;
    };
    // With idempotence, a batch behind a failed one is refused as out of sequence; it goes
    // again, in order, after the failed one.
    let retriable = e.is_retriable()
        || (shared.idempotent()
            && e.kafka_error() == Some(ResponseError::OutOfOrderSequenceNumber));
    let expired = f.batch.created.elapsed() >= shared.config.delivery_timeout;
    if !retriable || expired || f.batch.attempts >= shared.config.retries {
        let sequenced = f.batch.base_sequence >= 0;
        shared.complete(f, Err(e));
        return sequenced;
    }
    if matches!(
        e.kafka_error(),
        Some(
            ResponseError::NotLeaderOrFollower
                | ResponseError::UnknownTopicOrPartition
                | ResponseError::LeaderNotAvailable
        )
    ) {
        refresh_metadata(shared, vec![f.topic.to_string()]);
    }
    tracing::debug!(target: "flyq_client::producer", topic = %f.topic, partition = f.partition, error = %e, "retrying batch");
    f.batch.attempts += 1;
    f.batch.retry_at = Some(Instant::now() + shared.config.retry_backoff);
    retries.push(f);
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn builder(values: usize) -> BatchBuilder {
        let mut b = BatchBuilder::new(1024, 1_000);
        for i in 0..values {
            b.append(
                1_000,
                None,
                Some(format!("value {i}").repeat(20).as_bytes()),
                &[],
            );
        }
        b
    }

    #[tokio::test(flavor = "current_thread")]
    async fn large_batches_compress_off_the_worker_with_the_same_result() {
        let large = builder(1000);
        assert!(large.size() > COMPRESS_INLINE_BYTES);
        let inline = builder(1000).close(Compression::Gzip).unwrap();
        let offloaded = close_batch(large, Compression::Gzip).await.unwrap();
        assert_eq!(inline, offloaded);
    }
}
