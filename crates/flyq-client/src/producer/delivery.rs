//! Delivery results: one shared slot per batch, read by the futures of all its records.
//!
//! A batch's records all learn their fate at once, so the batch owns one [`Delivery`] and each
//! record's [`DeliveryFuture`] holds a reference to it plus the record's index: sending a
//! record costs a reference count, not a channel, and completing a batch of thousands of
//! records is one store and one wake per waiting task.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// What a batch's records learn when it completes: (base offset or -1 with acks=0, log append
/// time or -1).
pub(crate) type Outcome = Result<(i64, i64)>;

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset (-1 with acks=0, which gets no answer).
    pub offset: i64,
    /// The record's timestamp: its create time, or the broker's append time for topics with
    /// `message.timestamp.type=LogAppendTime`.
    pub timestamp: i64,
}

/// The result slot of one batch, shared by its records' futures.
#[derive(Debug)]
pub(crate) struct Delivery {
    topic: Arc<str>,
    partition: i32,
    outcome: OnceLock<Outcome>,
    /// Tasks waiting for the outcome. Taken (and woken) once the outcome is set; pushed to only
    /// under this lock after seeing no outcome, so no wake is lost between the two.
    waiters: Mutex<Vec<Waker>>,
}

impl Delivery {
    pub(crate) fn new(topic: Arc<str>, partition: i32) -> Arc<Self> {
        Arc::new(Self {
            topic,
            partition,
            outcome: OnceLock::new(),
            waiters: Mutex::new(Vec::new()),
        })
    }

    /// Settles the batch; only the first outcome counts.
    pub(crate) fn complete(&self, outcome: Outcome) {
        if self.outcome.set(outcome).is_err() {
            return;
        }
        let waiters = std::mem::take(&mut *self.waiters.lock());
        for waker in waiters {
            waker.wake();
        }
    }
}

/// Owned by a batch: if the batch is dropped unsettled (the producer task ended), its
/// records fail with [`Error::Closed`] instead of waiting for ever.
#[derive(Debug)]
pub(crate) struct Completion(pub(crate) Arc<Delivery>);

impl Drop for Completion {
    fn drop(&mut self) {
        self.0.complete(Err(Error::Closed("producer")));
    }
}

/// Resolves to the record's [`RecordMetadata`] once its batch is acknowledged, or to the error
/// that failed it. Dropping it does not cancel the send.
#[derive(Debug)]
pub struct DeliveryFuture {
    delivery: Arc<Delivery>,
    index: i32,
    timestamp: i64,
    /// This future's entry in the waiter list, so a re-poll replaces its waker instead of
    /// adding another.
    waiter: Option<usize>,
}

impl DeliveryFuture {
    pub(crate) fn new(delivery: Arc<Delivery>, index: i32, timestamp: i64) -> Self {
        Self {
            delivery,
            index,
            timestamp,
            waiter: None,
        }
    }

    /// The partition the record was appended to.
    pub fn partition(&self) -> i32 {
        self.delivery.partition
    }

    fn metadata(&self, outcome: &Outcome) -> Result<RecordMetadata> {
        let (base, append_time) = outcome.clone()?;
        Ok(RecordMetadata {
            topic: self.delivery.topic.clone(),
            partition: self.delivery.partition,
            offset: if base < 0 {
                -1
            } else {
                base + i64::from(self.index)
            },
            timestamp: if append_time >= 0 {
                append_time
            } else {
                self.timestamp
            },
        })
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(outcome) = this.delivery.outcome.get() {
            return Poll::Ready(this.metadata(outcome));
        }
        let mut waiters = this.delivery.waiters.lock();
        // Checked again under the lock: `complete` sets the outcome before taking the list.
        if let Some(outcome) = this.delivery.outcome.get() {
            drop(waiters);
            return Poll::Ready(this.metadata(outcome));
        }
        match this.waiter.and_then(|i| waiters.get_mut(i)) {
            Some(waker) => waker.clone_from(cx.waker()),
            None => {
                this.waiter = Some(waiters.len());
                waiters.push(cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn every_record_of_a_batch_learns_its_own_offset() {
        let delivery = Delivery::new(Arc::from("t"), 3);
        let first = DeliveryFuture::new(delivery.clone(), 0, 10);
        let third = DeliveryFuture::new(delivery.clone(), 2, 12);
        let waiting = tokio::spawn(third);
        tokio::task::yield_now().await;
        delivery.complete(Ok((100, -1)));
        let third = waiting.await.unwrap().unwrap();
        assert_eq!(
            (third.partition, third.offset, third.timestamp),
            (3, 102, 12)
        );
        assert_eq!(first.await.unwrap().offset, 100);
    }

    #[tokio::test]
    async fn append_time_replaces_the_create_time_and_acks_0_gives_no_offset() {
        let appended = Delivery::new(Arc::from("t"), 0);
        appended.complete(Ok((5, 777)));
        let md = DeliveryFuture::new(appended, 1, 10).await.unwrap();
        assert_eq!((md.offset, md.timestamp), (6, 777));
        let unanswered = Delivery::new(Arc::from("t"), 0);
        unanswered.complete(Ok((-1, -1)));
        let md = DeliveryFuture::new(unanswered, 4, 10).await.unwrap();
        assert_eq!((md.offset, md.timestamp), (-1, 10));
    }

    #[tokio::test]
    async fn a_batch_dropped_unsettled_fails_its_records_as_closed() {
        let delivery = Delivery::new(Arc::from("t"), 0);
        let mut future = DeliveryFuture::new(delivery.clone(), 0, 0);
        assert!((&mut future).now_or_never().is_none());
        drop(Completion(delivery));
        assert!(matches!(future.await, Err(Error::Closed(_))));
    }

    #[test]
    fn a_repolled_future_keeps_one_waiter_entry() {
        let delivery = Delivery::new(Arc::from("t"), 0);
        let mut future = DeliveryFuture::new(delivery.clone(), 0, 0);
        for _ in 0..3 {
            assert!((&mut future).now_or_never().is_none());
        }
        assert_eq!(delivery.waiters.lock().len(), 1);
    }

    #[test]
    fn only_the_first_outcome_counts() {
        let delivery = Delivery::new(Arc::from("t"), 0);
        delivery.complete(Ok((1, -1)));
        delivery.complete(Err(Error::Closed("producer")));
        let md = DeliveryFuture::new(delivery, 0, 0).now_or_never().unwrap();
        assert_eq!(md.unwrap().offset, 1);
    }
}
