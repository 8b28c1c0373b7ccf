//! Fetch requests: one per leader, run as a task so the next records arrive while the
//! application processes the current ones; decoding happens in that task too.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest};
use kafka_protocol::records::RecordBatchDecoder;

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

/// What came back for one partition.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) target: FetchTarget,
    pub(crate) result: Result<Vec<ConsumerRecord>>,
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
                let result = by_tp.remove(&target.tp).unwrap_or_else(|| Ok(Vec::new()));
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
) -> Result<BTreeMap<TopicPartition, Result<Vec<ConsumerRecord>>>> {
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
                decode(
                    &topic,
                    p.partition_index,
                    from,
                    p.records.unwrap_or_default(),
                )
                .map_err(|what| Error::Protocol {
                    addr: conn.addr().to_owned(),
                    what: format!("records of {tp}: {what}"),
                })
            });
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
) -> std::result::Result<Vec<ConsumerRecord>, String> {
    let mut out = Vec::new();
    while records.remaining() >= 12 {
        let len = i32::from_be_bytes([records[8], records[9], records[10], records[11]]);
        let Ok(len) = usize::try_from(len) else {
            return Err(format!("negative batch length {len}"));
        };
        if records.remaining() < 12 + len {
            break;
        }
        let mut batch = records.split_to(12 + len);
        let set = RecordBatchDecoder::decode(&mut batch).map_err(|e| e.to_string())?;
        for r in set.records {
            if r.control || r.offset < from {
                continue;
            }
            out.push(ConsumerRecord {
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
        let got: Vec<(i64, &[u8])> = out
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
}
