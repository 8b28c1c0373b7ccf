//! Consumer groups: list, describe (members, committed offsets and lag), reset offsets and
//! delete, through the group coordinator the Kafka handlers use.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use flyq_broker::group::{CommittedOffset, MemberClaim, codes};
use flyq_broker::{Broker, BrokerError, OffsetSpec};
use flyq_protocol::consumer_protocol::{decode_assignment, decode_subscription};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, Json, Path};
use crate::state::HttpState;

/// A group in the list.
#[derive(Debug, Serialize)]
pub(crate) struct GroupSummary {
    group_id: String,
    protocol_type: String,
    state: &'static str,
}

/// `GET /api/v1/groups`.
#[derive(Debug, Serialize)]
pub(crate) struct GroupList {
    groups: Vec<GroupSummary>,
}

pub(crate) async fn list(State(state): State<HttpState>) -> ApiResult<Json<GroupList>> {
    let groups = state
        .broker()?
        .groups()
        .list()
        .into_iter()
        .map(|(group_id, protocol_type, state)| GroupSummary {
            group_id,
            protocol_type,
            state: state.as_str(),
        })
        .collect();
    Ok(Json(GroupList { groups }))
}

/// Partitions of one topic assigned to a member.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct AssignedTopic {
    topic: String,
    partitions: Vec<i32>,
}

/// A member's assignment by topic; `None` when it does not decode.
fn assignment(bytes: bytes::Bytes) -> Option<Vec<AssignedTopic>> {
    let mut out: Vec<AssignedTopic> = Vec::new();
    // Decoded partitions come sorted by topic: consecutive runs are one topic each.
    for tp in decode_assignment(bytes).ok()? {
        match out.last_mut() {
            Some(last) if last.topic == tp.topic => last.partitions.push(tp.partition),
            _ => out.push(AssignedTopic {
                topic: tp.topic,
                partitions: vec![tp.partition],
            }),
        }
    }
    Some(out)
}

/// A member of a described group.
#[derive(Debug, Serialize)]
pub(crate) struct Member {
    member_id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    /// Subscribed topics, when the group uses the consumer protocol.
    subscription: Option<Vec<String>>,
    /// Assigned partitions, when the group uses the consumer protocol.
    assignment: Option<Vec<AssignedTopic>>,
}

/// A committed offset with the partition's high watermark and the lag between them.
#[derive(Debug, Serialize)]
pub(crate) struct OffsetLag {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) committed_offset: i64,
    metadata: String,
    /// `None` when the partition no longer exists.
    high_watermark: Option<i64>,
    pub(crate) lag: Option<i64>,
}

/// `GET /api/v1/groups/{group}`.
#[derive(Debug, Serialize)]
pub(crate) struct GroupDetail {
    group_id: String,
    state: &'static str,
    protocol_type: String,
    protocol: String,
    members: Vec<Member>,
    offsets: Vec<OffsetLag>,
}

fn unknown_group(group: &str) -> ApiError {
    ApiError::not_found("group_not_found", format!("unknown group {group}"))
}

/// A committed offset with its partition's high watermark and lag (also used by `/metrics`).
pub(crate) fn with_lag(
    broker: &Broker,
    topic: String,
    partition: i32,
    committed: CommittedOffset,
) -> OffsetLag {
    let high_watermark = broker
        .partition(&topic, partition)
        .ok()
        .map(|p| p.view().high_watermark);
    OffsetLag {
        // Committed offsets are whatever clients sent: saturate rather than overflow.
        lag: high_watermark.map(|hw| hw.saturating_sub(committed.offset).max(0)),
        topic,
        partition,
        committed_offset: committed.offset,
        metadata: committed.metadata,
        high_watermark,
    }
}

pub(crate) async fn describe(
    State(state): State<HttpState>,
    Path(group): Path<String>,
) -> ApiResult<Json<GroupDetail>> {
    let broker = state.broker()?;
    let coordinator = broker.groups();
    let described = coordinator
        .describe(&group)
        .ok_or_else(|| unknown_group(&group))?;
    let consumer = described.protocol_type == "consumer";
    let members = described
        .members
        .into_iter()
        .map(|m| Member {
            subscription: consumer
                .then(|| decode_subscription(m.metadata).ok().map(|s| s.topics))
                .flatten(),
            assignment: consumer.then(|| assignment(m.assignment)).flatten(),
            member_id: m.member_id,
            instance_id: m.instance_id,
            client_id: m.client_id,
            client_host: m.client_host,
        })
        .collect();
    let offsets = coordinator
        .committed(&group, None)
        .into_iter()
        .filter_map(|(topic, partition, c)| c.map(|c| with_lag(broker, topic, partition, c)))
        .collect();
    Ok(Json(GroupDetail {
        group_id: described.group_id,
        state: described.state.as_str(),
        protocol_type: described.protocol_type,
        protocol: described.protocol,
        members,
        offsets,
    }))
}

/// Where `reset-offsets` moves a group's positions.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ResetTo {
    /// Each partition's log start offset.
    Earliest,
    /// Each partition's high watermark.
    Latest,
    /// A given offset (clamped into the partition's range, as Kafka's tool does).
    Offset,
    /// The first offset at or after a timestamp (the high watermark if none is that late).
    Timestamp,
}

/// `POST /api/v1/groups/{group}/reset-offsets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetRequest {
    topic: String,
    /// Partitions to reset; every partition of the topic if absent.
    partitions: Option<Vec<i32>>,
    to: ResetTo,
    /// With `to: offset`.
    offset: Option<i64>,
    /// With `to: timestamp`, in ms since the epoch.
    timestamp: Option<i64>,
    /// Compute and return the new offsets without committing them.
    #[serde(default)]
    dry_run: bool,
}

/// One partition's reset.
#[derive(Debug, Serialize)]
pub(crate) struct ResetPartition {
    partition: i32,
    previous_offset: Option<i64>,
    new_offset: i64,
}

/// The answer to a reset.
#[derive(Debug, Serialize)]
pub(crate) struct ResetResult {
    group_id: String,
    topic: String,
    dry_run: bool,
    partitions: Vec<ResetPartition>,
}

/// The target, checked against the fields it needs.
#[derive(Debug, Clone, Copy)]
enum Target {
    Earliest,
    Latest,
    Offset(i64),
    Timestamp(i64),
}

fn target(request: &ResetRequest) -> ApiResult<Target> {
    let missing = |field: &str| {
        ApiError::bad_request(
            "invalid_reset",
            format!("`to: {field}` needs the `{field}` field"),
        )
    };
    let target = match request.to {
        ResetTo::Earliest => Target::Earliest,
        ResetTo::Latest => Target::Latest,
        ResetTo::Offset => Target::Offset(request.offset.ok_or_else(|| missing("offset"))?),
        ResetTo::Timestamp => {
            let ts = request.timestamp.ok_or_else(|| missing("timestamp"))?;
            if ts < 0 {
                return Err(ApiError::bad_request(
                    "invalid_reset",
                    "timestamp must be milliseconds since the epoch (>= 0)",
                ));
            }
            Target::Timestamp(ts)
        }
    };
    let stray = match request.to {
        ResetTo::Offset => request.timestamp.is_some(),
        ResetTo::Timestamp => request.offset.is_some(),
        ResetTo::Earliest | ResetTo::Latest => {
            request.offset.is_some() || request.timestamp.is_some()
        }
    };
    if stray {
        return Err(ApiError::bad_request(
            "invalid_reset",
            "give `offset` only with `to: offset` and `timestamp` only with `to: timestamp`",
        ));
    }
    Ok(target)
}

/// The new offset of each partition, within its log start and high watermark (the broker's
/// lookups: a timestamp with no record at or after it resets to the high watermark).
async fn new_offsets(
    broker: &Broker,
    topic: &str,
    partitions: &[i32],
    target: Target,
) -> Result<Vec<(i32, i64)>, BrokerError> {
    let mut offsets = Vec::with_capacity(partitions.len());
    for &index in partitions {
        let view = broker.partition(topic, index)?.view();
        let (start, end) = (view.log_start_offset, view.high_watermark);
        // Into start..=end without `clamp`, which would panic were the two ever crossed.
        let within = |offset: i64| offset.min(end).max(start);
        let offset = match target {
            Target::Earliest => start,
            Target::Latest => end,
            Target::Offset(n) => within(n),
            Target::Timestamp(ts) => broker
                .list_offsets(topic, index, OffsetSpec::Timestamp(ts))
                .await?
                .map_or(end, |found| within(found.offset)),
        };
        offsets.push((index, offset));
    }
    Ok(offsets)
}

fn refuse_active(group: &str) -> ApiError {
    ApiError::conflict(
        "group_not_empty",
        format!("group {group} has active members; stop its consumers before resetting offsets"),
    )
}

pub(crate) async fn reset_offsets(
    State(state): State<HttpState>,
    Path(group): Path<String>,
    Json(request): Json<ResetRequest>,
) -> ApiResult<Json<ResetResult>> {
    let broker = state.broker()?;
    let target = target(&request)?;
    let topic = broker.topic(&request.topic).ok_or_else(|| {
        ApiError::not_found(
            "topic_not_found",
            format!("unknown topic {}", request.topic),
        )
    })?;
    let count = topic.partitions.len();
    let partitions: Vec<i32> = match &request.partitions {
        None => (0..count).filter_map(|p| i32::try_from(p).ok()).collect(),
        Some(wanted) => {
            let unique: BTreeSet<i32> = wanted.iter().copied().collect();
            if let Some(bad) = unique
                .iter()
                .find(|p| usize::try_from(**p).map_or(true, |p| p >= count))
            {
                return Err(ApiError::not_found(
                    "partition_not_found",
                    format!("topic {} has no partition {bad}", request.topic),
                ));
            }
            unique.into_iter().collect()
        }
    };
    let coordinator = broker.groups();
    if coordinator
        .describe(&group)
        .is_some_and(|g| !g.members.is_empty())
    {
        return Err(refuse_active(&group));
    }
    let offsets = new_offsets(broker, &request.topic, &partitions, target).await?;
    let previous = coordinator.committed(&group, Some(vec![(request.topic.clone(), partitions)]));
    if !request.dry_run {
        let commits = offsets
            .iter()
            .map(|&(partition, offset)| {
                let committed = CommittedOffset {
                    offset,
                    leader_epoch: -1,
                    metadata: String::new(),
                };
                (request.topic.clone(), partition, committed)
            })
            .collect();
        // Generation -1 with no member id is an admin commit: the coordinator accepts it only
        // while the group has no members, so a consumer joining since the check above still
        // makes this fail rather than be overwritten.
        let admin = MemberClaim {
            member_id: "",
            instance_id: None,
            generation: -1,
        };
        let partition_exists = |topic: &str, partition| broker.partition(topic, partition).is_ok();
        let results = coordinator
            .commit(&group, admin, commits, partition_exists)
            .await;
        // One code for the whole commit, except for a partition deleted since it was checked.
        match results.into_iter().find(|&code| code != codes::NONE) {
            None => {}
            Some(
                codes::UNKNOWN_MEMBER_ID | codes::ILLEGAL_GENERATION | codes::REBALANCE_IN_PROGRESS,
            ) => {
                return Err(refuse_active(&group));
            }
            Some(codes::INVALID_GROUP_ID) => {
                return Err(ApiError::bad_request(
                    "invalid_group_id",
                    format!("invalid group id {group:?}"),
                ));
            }
            Some(codes::UNKNOWN_TOPIC_OR_PARTITION) => {
                return Err(ApiError::not_found(
                    "topic_not_found",
                    format!("topic {} was deleted meanwhile", request.topic),
                ));
            }
            Some(code) => {
                return Err(ApiError::internal(
                    "committing reset offsets",
                    &format!("group coordinator answered {code:?}"),
                ));
            }
        }
    }
    let partitions = offsets
        .into_iter()
        .zip(previous)
        .map(|((partition, new_offset), (_, _, before))| ResetPartition {
            partition,
            previous_offset: before.map(|c| c.offset),
            new_offset,
        })
        .collect();
    Ok(Json(ResetResult {
        group_id: group,
        topic: request.topic,
        dry_run: request.dry_run,
        partitions,
    }))
}

pub(crate) async fn delete(
    State(state): State<HttpState>,
    Path(group): Path<String>,
) -> ApiResult<StatusCode> {
    match state.broker()?.groups().delete(&group).await {
        codes::NONE => Ok(StatusCode::NO_CONTENT),
        codes::GROUP_ID_NOT_FOUND => Err(unknown_group(&group)),
        codes::NON_EMPTY_GROUP => Err(ApiError::conflict(
            "group_not_empty",
            format!("group {group} has active members"),
        )),
        code => Err(ApiError::internal(
            "deleting a group",
            &format!("group coordinator answered {code:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use bytes::BufMut;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::messages::{ConsumerProtocolAssignment, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    #[test]
    fn assignments_group_by_topic_and_garbage_is_none() {
        let topic = |name: &'static str, partitions: Vec<i32>| {
            TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str(name)))
                .with_partitions(partitions)
        };
        let assigned = ConsumerProtocolAssignment::default()
            .with_assigned_partitions(vec![topic("b", vec![1]), topic("a", vec![2, 0])]);
        let mut buf = bytes::BytesMut::new();
        buf.put_i16(1);
        assigned.encode(&mut buf, 1).unwrap();
        let view = |topic: &str, partitions: Vec<i32>| AssignedTopic {
            topic: topic.to_owned(),
            partitions,
        };
        assert_eq!(
            assignment(buf.freeze()),
            Some(vec![view("a", vec![0, 2]), view("b", vec![1])])
        );
        assert_eq!(assignment(bytes::Bytes::new()), Some(Vec::new()));
        assert_eq!(assignment(bytes::Bytes::from_static(&[0xff])), None);
    }
}
