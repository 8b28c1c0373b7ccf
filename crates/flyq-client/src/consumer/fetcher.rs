//! Fetch requests: one per leader, run as a task so the next records arrive while the
//! application processes the current ones.
//!
//! An answer comes back undecoded, with only its batch headers read (to know where the next
//! fetch starts): the consumer sends that next fetch first and decodes while it is on its way,
//! as the Java client decodes in `poll`.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use flyq_protocol::decode::{BatchDecoder, DecodeError};
use flyq_protocol::header::{batch_size, peek_compressed, peek_next_offset};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest};

use super::ConsumerRecord;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::offsets::topic_name;
use crate::types::{Header, TopicPartition};

/// Fetch settings taken from the consumer config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchLimits {
    pub(crate) max_wait_ms: i32,
    pub(crate) min_bytes: i32,
    pub(crate) max_bytes: i32,
    pub(crate) partition_max_bytes: i32,
}

/// One partition to fetch: where from, and the seek epoch that must still hold when the
/// answer arrives (a seek in between makes the answer stale).
#[derive(Debug, Clone)]
pub(crate) struct FetchTarget {
    pub(crate) tp: TopicPartition,
    pub(crate) offset: i64,
    pub(crate) epoch: u64,
}

/// Most bytes the compressed batches of one partition's fetch answer may inflate into. The
/// batches are producer-written: a gzip bomb must not take the consumer down. A batch that
/// does not fit after others did is decoded next, with a fresh budget.
const INFLATE_BUDGET: usize = 64 << 20;
/// Most records one batch may claim (a 1 MiB batch of the smallest records holds about
/// 150,000; this leaves room for brokers configured with larger batches).
const MAX_BATCH_RECORDS: usize = 1 << 20;
/// Compressed answers larger than this are decoded on a blocking thread, off the tokio
/// workers: inflating them takes milliseconds.
const INFLATE_INLINE_BYTES: usize = 64 << 10;
/// Uncompressed answers larger than this are decoded on a blocking thread too. Below it,
/// decoding (a CRC pass and a walk over the records, about 1 GB/s) is cheaper than the hop to
/// another thread and back, which would delay every fetch of a busy partition.
const DECODE_INLINE_BYTES: usize = 4 << 20;

/// The records of one part of an answer.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub(crate) records: Vec<ConsumerRecord>,
    /// The offset after the last whole batch, `None` without one. Batches can decode to no
    /// records (transaction markers, compacted-away records): the position must still pass
    /// them, or the consumer fetches the same batch forever.
    pub(crate) next_offset: Option<i64>,
    /// Whole batches left undecoded because they would inflate past the budget together with
    /// those before them: decoded next, with a fresh budget.
    pub(crate) rest: Bytes,
}

/// One partition's answer, as it came: whole batches (a truncated last one is cut off).
#[derive(Debug, Default)]
pub(crate) struct Answer {
    pub(crate) records: Bytes,
    /// The fetch offset: records before it (in the batch holding it) are skipped.
    pub(crate) from: i64,
    /// The offset after the last whole batch, `None` without one.
    pub(crate) next_offset: Option<i64>,
    /// The broker it came from, for errors found when decoding.
    pub(crate) broker: String,
}

impl Answer {
    /// Reads the batch headers of `records` (lengths and offsets only; CRCs and records are
    /// checked by [`decode`]) and cuts off a truncated last batch.
    pub(crate) fn new(
        mut records: Bytes,
        from: i64,
        broker: &str,
    ) -> std::result::Result<Self, String> {
        let mut whole = 0;
        let mut next_offset = None;
        // Only batches whose header reaches the last offset delta count.
        while let Some(next) = peek_next_offset(&records[whole..]) {
            let at = &records[whole..];
            let Some(size) = batch_size(at).map_err(|e| e.to_string())? else {
                break;
            };
            if at.len() < size {
                break;
            }
            next_offset = Some(next);
            whole += size;
        }
        records.truncate(whole);
        Ok(Self {
            records,
            from,
            next_offset,
            broker: broker.to_owned(),
        })
    }
}

/// What came back for one partition.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) target: FetchTarget,
    pub(crate) result: Result<Answer>,
}

/// Fetches `targets` from `leader`; a request-level failure becomes every partition's error.
pub(crate) async fn fetch(
    cluster: Arc<Cluster>,
    leader: i32,
    targets: Vec<FetchTarget>,
    limits: FetchLimits,
) -> Vec<Fetched> {
    match fetch_once(&cluster, leader, &targets, limits).await {
        Ok(mut by_tp) => targets
            .into_iter()
            .map(|target| {
                let result = by_tp
                    .remove(&target.tp)
                    .unwrap_or_else(|| Ok(Answer::default()));
                Fetched { target, result }
            })
            .collect(),
        Err(e) => targets
            .into_iter()
            .map(|target| Fetched {
                target,
                result: Err(e.clone()),
            })
            .collect(),
    }
}

async fn fetch_once(
    cluster: &Cluster,
    leader: i32,
    targets: &[FetchTarget],
    limits: FetchLimits,
) -> Result<BTreeMap<TopicPartition, Result<Answer>>> {
    let mut by_topic: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    let mut wanted: BTreeMap<&TopicPartition, i64> = BTreeMap::new();
    for t in targets {
        wanted.insert(&t.tp, t.offset);
        by_topic.entry(&t.tp.topic).or_default().push(
            FetchPartition::default()
                .with_partition(t.tp.partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(t.offset)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(limits.partition_max_bytes),
        );
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(limits.max_wait_ms)
        .with_min_bytes(limits.min_bytes)
        .with_max_bytes(limits.max_bytes)
        // Sessionless full fetches: session 0, epoch -1.
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    FetchTopic::default()
                        .with_topic(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let conn = cluster.broker(leader).await?;
    let response = conn.send(&request).await?;
    Error::check(response.error_code, || {
        format!("Fetch from broker {leader}")
    })?;
    let mut out = BTreeMap::new();
    for t in response.responses {
        let topic: Arc<str> = Arc::from(t.topic.0.as_str());
        for p in t.partitions {
            let tp = TopicPartition::new(&*topic, p.partition_index);
            let Some(&from) = wanted.get(&tp) else {
                continue;
            };
            let result = Error::check(p.error_code, || format!("Fetch {tp}")).and_then(|()| {
                Answer::new(p.records.unwrap_or_default(), from, conn.addr()).map_err(|what| {
                    Error::Protocol {
                        addr: conn.addr().to_owned(),
                        what: format!("records of {tp}: {what}"),
                    }
                })
            });
            out.insert(tp, result);
        }
    }
    Ok(out)
}

/// Whether decoding `records` is slow enough to move off the tokio workers. The first batch's
/// compression stands for the answer's: one producer writes them alike.
pub(crate) fn decode_offloaded(records: &[u8]) -> bool {
    records.len()
        > if peek_compressed(records) {
            INFLATE_INLINE_BYTES
        } else {
            DECODE_INLINE_BYTES
        }
}

/// Decodes whole batches from `records`, dropping records before `from` (a fetch returns the
/// whole batch containing the fetch offset), control records, and a truncated last batch.
pub(crate) fn decode(
    topic: &Arc<str>,
    partition: i32,
    from: i64,
    mut records: Bytes,
) -> std::result::Result<Decoded, String> {
    let mut out = Decoded::default();
    let mut decoder = BatchDecoder::new(INFLATE_BUDGET, MAX_BATCH_RECORDS);
    while let Some(size) = batch_size(&records).map_err(|e| e.to_string())? {
        if records.remaining() < size {
            break;
        }
        let batch = match decoder.decode(records.slice(..size)) {
            Ok(batch) => batch,
            // The rest is decoded next, with a fresh budget.
            Err(DecodeError::OverBudget { .. }) if out.next_offset.is_some() => {
                out.rest = records;
                break;
            }
            Err(e) => return Err(e.to_string()),
        };
        records.advance(size);
        out.next_offset = Some(batch.next_offset);
        for r in batch.records {
            if r.control || r.offset < from {
                continue;
            }
            out.records.push(ConsumerRecord {
                topic: topic.clone(),
                partition,
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| Header {
                        key: k.to_string(),
                        value: v,
                    })
                    .collect(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use bytes::BytesMut;
    use flyq_protocol::layout::{ATTRIBUTES, BASE_OFFSET, CONTROL_FLAG};

    use super::*;
    use crate::producer::{BatchBuilder, Compression, seal};

    /// A gzip batch of `values` at `base_offset`, sealed.
    pub(crate) fn batch(base_offset: i64, values: &[&str], control: bool) -> BytesMut {
        let mut b = BatchBuilder::new(256, 1_000);
        for v in values {
            b.append(1_000, None, Some(v.as_bytes()), &[]);
        }
        let mut bytes = b.close(Compression::Gzip).unwrap();
        BASE_OFFSET.write(&mut bytes, base_offset);
        if control {
            let attributes = ATTRIBUTES.read(&bytes).unwrap();
            ATTRIBUTES.write(&mut bytes, attributes | CONTROL_FLAG);
        }
        BytesMut::from(&seal(bytes, -1, -1, -1)[..])
    }

    #[test]
    fn decode_skips_earlier_records_control_batches_and_a_truncated_tail() {
        let mut records = batch(10, &["a", "b", "c"], false);
        records.extend_from_slice(&batch(13, &["marker"], true));
        records.extend_from_slice(&batch(14, &["d"], false));
        let whole = batch(15, &["e", "f"], false);
        records.extend_from_slice(&whole[..whole.len() - 3]);
        let topic: Arc<str> = Arc::from("t");
        let out = decode(&topic, 0, 11, records.freeze()).unwrap();
        assert_eq!(out.next_offset, Some(15));
        let got: Vec<(i64, &[u8])> = out
            .records
            .iter()
            .map(|r| (r.offset, r.value.as_deref().unwrap()))
            .collect();
        assert_eq!(got, vec![(11, &b"b"[..]), (12, b"c"), (14, b"d")]);
    }

    #[test]
    fn an_answer_reads_where_its_batches_end_and_cuts_a_truncated_tail() {
        let mut records = batch(10, &["a", "b", "c"], false);
        records.extend_from_slice(&batch(13, &["d"], false));
        let whole = records.len();
        let tail = batch(14, &["e", "f"], false);
        records.extend_from_slice(&tail[..tail.len() - 3]);
        let answer = Answer::new(records.freeze(), 11, "b:1").unwrap();
        assert_eq!(answer.next_offset, Some(14));
        assert_eq!(answer.records.len(), whole);
        let empty = Answer::new(Bytes::from_static(&[0; 20]), 0, "b:1").unwrap();
        assert_eq!((empty.next_offset, empty.records.len()), (None, 0));
        let mut bad = vec![0u8; 8];
        bad.extend_from_slice(&(-5i32).to_be_bytes());
        bad.extend_from_slice(&[0; 20]);
        assert!(Answer::new(Bytes::from(bad), 0, "b:1").is_err());
    }

    #[test]
    fn decode_rejects_a_negative_batch_length() {
        let mut bad = vec![0u8; 8];
        bad.extend_from_slice(&(-5i32).to_be_bytes());
        let topic: Arc<str> = Arc::from("t");
        assert!(decode(&topic, 0, 0, Bytes::from(bad)).is_err());
    }

    #[test]
    fn a_batch_without_user_records_still_moves_the_position() {
        let topic: Arc<str> = Arc::from("t");
        let out = decode(&topic, 0, 13, batch(13, &["marker"], true).freeze()).unwrap();
        assert!(out.records.is_empty());
        assert_eq!(out.next_offset, Some(14));
        let out = decode(&topic, 0, 13, Bytes::new()).unwrap();
        assert_eq!(out.next_offset, None);
    }

    fn gzip_bomb(base_offset: i64) -> BytesMut {
        // One record whose value is 80 MiB of zeros: more than the budget once inflated.
        let mut b = BatchBuilder::new(80 << 20, 1_000);
        b.append(1_000, None, Some(&vec![0u8; 80 << 20]), &[]);
        let mut bytes = b.close(Compression::Gzip).unwrap();
        BASE_OFFSET.write(&mut bytes, base_offset);
        BytesMut::from(&seal(bytes, -1, -1, -1)[..])
    }

    #[test]
    fn a_compressed_bomb_is_refused_and_what_came_before_it_kept() {
        let topic: Arc<str> = Arc::from("t");
        let bomb = gzip_bomb(1);
        assert!(bomb.len() < 1 << 20);
        let err = decode(&topic, 0, 1, bomb.clone().freeze()).unwrap_err();
        assert!(err.contains("inflates to more than"), "{err}");
        let mut records = batch(0, &["a"], false);
        records.extend_from_slice(&bomb);
        let out = decode(&topic, 0, 0, records.freeze()).unwrap();
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.next_offset, Some(1));
        // The bomb is left for the next decode, which refuses it on its own.
        assert_eq!(out.rest, bomb);
    }
}
