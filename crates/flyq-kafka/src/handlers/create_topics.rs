//! CreateTopics (19): new topics with a partition count and config overrides, or with a manual
//! replica assignment (then the count and replication factor must be -1, as in Kafka). A
//! single node takes replication factor 1 (or -1, the default) only, and assignments that name
//! it once per partition.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableReplicaAssignment;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use flyq_broker::Placement;

use super::{Close, Request, config_map, str_bytes};
use crate::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: CreateTopicsRequest = request.decode()?;
    let broker = &request.context.broker;
    let mut results = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let name = topic.name.as_str().to_owned();
        let assigned = assignment(&topic.assignments);
        let partitions = match &assigned {
            Ok(Some(lists)) => i32::try_from(lists.len()).unwrap_or(i32::MAX),
            _ if topic.num_partitions == -1 => broker.config().default_partitions,
            _ => topic.num_partitions,
        };
        let configs = config_map(topic.configs.iter().map(|c| (&c.name, c.value.as_ref())));
        let version = request.version;
        let mut result = CreatableTopicResult::default().with_name(topic.name.clone());
        if version >= 5 {
            result = result
                .with_num_partitions(partitions)
                .with_replication_factor(1);
        }
        let failure = |code: i16, message: String| {
            let failed = CreatableTopicResult::default()
                .with_name(topic.name.clone())
                .with_error_code(code);
            if version >= 5 {
                failed
                    .with_error_message(Some(str_bytes(message)))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1)
            } else {
                failed.with_error_message(Some(str_bytes(message)))
            }
        };
        let placement = match assigned {
            Ok(Some(_)) if topic.num_partitions != -1 || topic.replication_factor != -1 => Err((
                ResponseError::InvalidRequest.code(),
                "with a replica assignment, num_partitions and replication_factor must be -1"
                    .to_owned(),
            )),
            Ok(Some(lists)) => Ok(Placement::Assigned(lists)),
            Ok(None) if !matches!(topic.replication_factor, -1 | 1) => Err((
                ResponseError::InvalidReplicationFactor.code(),
                format!(
                    "replication factor {} is more than this single node has",
                    topic.replication_factor
                ),
            )),
            Ok(None) => Ok(Placement::Count(topic.num_partitions)),
            Err(message) => Err((ResponseError::InvalidReplicaAssignment.code(), message)),
        };
        let result = match placement {
            Err((code, message)) => failure(code, message),
            Ok(placement) if req.validate_only => {
                match broker.validate_new_topic(&name, &placement, &configs) {
                    Ok(_) => result,
                    Err(e) => failure(error_code(&e), e.to_string()),
                }
            }
            Ok(placement) => match broker.create_topic(&name, placement, configs).await {
                Ok(created) if version >= 7 => result.with_topic_id(created.id),
                Ok(_) => result,
                Err(e) => failure(error_code(&e), e.to_string()),
            },
        };
        results.push(result);
    }
    request.respond(&CreateTopicsResponse::default().with_topics(results))
}

/// The replica lists of a manual assignment, by partition, or `None` if there is none. The
/// partitions must be exactly 0..n, each once.
fn assignment(assignments: &[CreatableReplicaAssignment]) -> Result<Option<Vec<Vec<i32>>>, String> {
    if assignments.is_empty() {
        return Ok(None);
    }
    let mut lists = vec![None; assignments.len()];
    for a in assignments {
        let slot = usize::try_from(a.partition_index)
            .ok()
            .and_then(|i| lists.get_mut(i))
            .ok_or_else(|| {
                format!(
                    "partition {} is outside 0..{}: partitions must be numbered from 0 without gaps",
                    a.partition_index,
                    assignments.len()
                )
            })?;
        if slot.is_some() {
            return Err(format!("partition {} is assigned twice", a.partition_index));
        }
        *slot = Some(a.broker_ids.iter().map(|b| b.0).collect::<Vec<i32>>());
    }
    Ok(Some(lists.into_iter().flatten().collect()))
}
