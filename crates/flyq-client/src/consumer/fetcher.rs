//! Fetch requests: one per leader, run as a task so the next records arrive while the
//! application processes the current ones; decoding happens in that task too.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest};

use super::ConsumerRecord;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::offsets::topic_name;
use crate::records::{BatchDecoder, DecodeError};
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
/// does not fit after others did is fetched again next time, with a fresh budget.
const INFLATE_BUDGET: usize = 64 << 20;
/// Most records one batch may claim (a 1 MiB batch of the smallest records holds about
/// 150,000; this leaves room for brokers configured with larger batches).
const MAX_BATCH_RECORDS: usize = 1 << 20;
/// Answers larger than this are decoded on a blocking thread, off the tokio workers.
const DECODE_INLINE_BYTES: usize = 64 << 10;

/// The records of one partition's answer, and where the next fetch starts.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub(crate) records: Vec<ConsumerRecord>,
    /// The offset after the last whole batch, `None` without one. Batches can decode to no
    /// records (transaction markers, compacted-away records): the position must still pass
    /// them, or the consumer fetches the same batch forever.
    pub(crate) next_offset: Option<i64>,
}

/// What came back for one partition.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) target: FetchTarget,
    pub(crate) result: Result<Decoded>,
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
                    .unwrap_or_else(|| Ok(Decoded::default()));
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
) -> Result<BTreeMap<TopicPartition, Result<Decoded>>> {
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
            let result = match Error::check(p.error_code, || format!("Fetch {tp}")) {
                Ok(()) => {
                    let records = p.records.unwrap_or_default();
                    let decoded = if records.len() > DECODE_INLINE_BYTES {
                        // Inflating and decoding a large answer takes milliseconds: keep it
                        // off the workers the application's tasks run on.
                        let (topic, partition) = (topic.clone(), p.partition_index);
                        tokio::task::spawn_blocking(move || {
                            decode(&topic, partition, from, records)
                        })
                        .await
                        .unwrap_or_else(|e| Err(format!("decoding task failed: {e}")))
                    } else {
                        decode(&topic, p.partition_index, from, records)
                    };
                    decoded.map_err(|what| Error::Protocol {
                        addr: conn.addr().to_owned(),
                        what: format!("records of {tp}: {what}"),
                    })
                }
                Err(e) => Err(e),
            };
            out.insert(tp, result);
        }
    }
    Ok(out)
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
    while records.remaining() >= 12 {
        let len = i32::from_be_bytes([records[8], records[9], records[10], records[11]]);
        let Ok(len) = usize::try_from(len) else {
            return Err(format!("negative batch length {len}"));
        };
        if records.remaining() < 12 + len {
            break;
        }
        let batch = match decoder.decode(records.split_to(12 + len)) {
            Ok(batch) => batch,
            // The rest comes with the next fetch, decoded with a fresh budget.
            Err(DecodeError::OverBudget { .. }) if out.next_offset.is_some() => break,
            Err(e) => return Err(e.to_string()),
        };
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use bytes::BytesMut;

    use super::*;
    use crate::producer::{BatchBuilder, Compression, seal};

    fn batch(base_offset: i64, values: &[&str], control: bool) -> BytesMut {
        let mut b = BatchBuilder::new(256, 1_000);
        for v in values {
            b.append(1_000, None, Some(v.as_bytes()), &[]);
        }
        let mut bytes = b.close(Compression::Gzip).unwrap();
        bytes[..8].copy_from_slice(&base_offset.to_be_bytes());
        if control {
            // Attributes bit 5 marks a control batch (transaction markers).
            bytes[22] |= 0x20;
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
        bytes[..8].copy_from_slice(&base_offset.to_be_bytes());
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
    }
}
