//! Topics: list, create, describe, reconfigure, grow and delete, through the same broker
//! calls the Kafka handlers make (CreateTopics, DescribeConfigs, IncrementalAlterConfigs,
//! CreatePartitions, DeleteTopics), so both APIs see one state.

use axum::extract::State;
use axum::http::StatusCode;
use flyq_broker::topic_config::ConfigSource;
use flyq_broker::{Broker, BrokerError, ConfigChange, Placement, Topic, TopicConfigs};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, Json, Path};
use crate::state::HttpState;

/// Most config keys one request may set or delete (Kafka has far fewer topic configs).
const MAX_CONFIG_CHANGES: usize = 100;

/// A topic in the list.
#[derive(Debug, Serialize)]
pub(crate) struct TopicSummary {
    name: String,
    id: String,
    partitions: usize,
    internal: bool,
}

/// `GET /api/v1/topics`.
#[derive(Debug, Serialize)]
pub(crate) struct TopicList {
    topics: Vec<TopicSummary>,
}

pub(crate) async fn list(State(state): State<HttpState>) -> ApiResult<Json<TopicList>> {
    let topics = state
        .broker()?
        .topics()
        .iter()
        .map(|t| TopicSummary {
            name: t.name.to_string(),
            id: t.id.to_string(),
            partitions: t.partitions.len(),
            internal: t.is_internal(),
        })
        .collect();
    Ok(Json(TopicList { topics }))
}

/// One partition of a described topic.
#[derive(Debug, Serialize)]
pub(crate) struct PartitionDetail {
    partition: i32,
    leader: i32,
    log_start_offset: i64,
    high_watermark: i64,
    size_bytes: u64,
}

/// One config of a described topic.
#[derive(Debug, Serialize)]
pub(crate) struct ConfigDetail {
    name: String,
    value: String,
    /// `topic` for an override, `broker` for the broker's `[topic_defaults]`, `default` for
    /// FlyQ's built-in default.
    source: &'static str,
}

/// `GET /api/v1/topics/{topic}`.
#[derive(Debug, Serialize)]
pub(crate) struct TopicDetail {
    name: String,
    id: String,
    internal: bool,
    partitions: Vec<PartitionDetail>,
    configs: Vec<ConfigDetail>,
}

fn detail(broker: &Broker, topic: &Topic) -> Result<TopicDetail, BrokerError> {
    let configs = broker
        .describe_topic_configs(&topic.name)?
        .into_iter()
        .map(|c| ConfigDetail {
            name: c.name,
            value: c.value,
            source: match c.source {
                ConfigSource::Topic => "topic",
                ConfigSource::Broker => "broker",
                ConfigSource::Default => "default",
            },
        })
        .collect();
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            let view = p.view();
            PartitionDetail {
                partition: p.index,
                leader: view.leader,
                log_start_offset: view.log_start_offset,
                high_watermark: view.high_watermark,
                size_bytes: p.storage().size_bytes,
            }
        })
        .collect();
    Ok(TopicDetail {
        name: topic.name.to_string(),
        id: topic.id.to_string(),
        internal: topic.is_internal(),
        partitions,
        configs,
    })
}

/// The topic's description as it is now.
fn describe_now(broker: &Broker, name: &str) -> ApiResult<TopicDetail> {
    let topic = broker
        .topic(name)
        .ok_or_else(|| ApiError::unknown_topic(name))?;
    Ok(detail(broker, &topic)?)
}

pub(crate) async fn describe(
    State(state): State<HttpState>,
    Path(name): Path<String>,
) -> ApiResult<Json<TopicDetail>> {
    describe_now(state.broker()?, &name).map(Json)
}

/// `POST /api/v1/topics`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTopic {
    name: String,
    /// The broker's default if absent.
    partitions: Option<i32>,
    #[serde(default)]
    configs: TopicConfigs,
}

pub(crate) async fn create(
    State(state): State<HttpState>,
    Json(new): Json<NewTopic>,
) -> ApiResult<(StatusCode, Json<TopicDetail>)> {
    let broker = state.broker()?;
    if new.configs.len() > MAX_CONFIG_CHANGES {
        return Err(ApiError::bad_request(
            "invalid_config",
            format!("at most {MAX_CONFIG_CHANGES} configs per request"),
        ));
    }
    let placement = Placement::Count(new.partitions.unwrap_or(-1));
    let topic = broker
        .create_topic(&new.name, placement, new.configs)
        .await?;
    Ok((StatusCode::CREATED, Json(detail(broker, &topic)?)))
}

/// `PATCH /api/v1/topics/{topic}/configs`: IncrementalAlterConfigs' SET and DELETE.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigChanges {
    /// Overrides to set, by Kafka name.
    #[serde(default)]
    set: TopicConfigs,
    /// Overrides to remove (back to the broker default).
    #[serde(default)]
    delete: Vec<String>,
}

pub(crate) async fn alter_configs(
    State(state): State<HttpState>,
    Path(name): Path<String>,
    Json(changes): Json<ConfigChanges>,
) -> ApiResult<Json<TopicDetail>> {
    let broker = state.broker()?;
    if changes.set.len() + changes.delete.len() > MAX_CONFIG_CHANGES {
        return Err(ApiError::bad_request(
            "invalid_config",
            format!("at most {MAX_CONFIG_CHANGES} changes per request"),
        ));
    }
    let edits: Vec<(String, ConfigChange)> = changes
        .delete
        .into_iter()
        .map(|key| (key, ConfigChange::Delete))
        .chain(
            changes
                .set
                .into_iter()
                .map(|(key, value)| (key, ConfigChange::Set(value))),
        )
        .collect();
    broker.update_topic_configs(&name, &edits, false).await?;
    describe_now(broker, &name).map(Json)
}

/// `POST /api/v1/topics/{topic}/partitions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrowPartitions {
    /// The new total; must exceed the current count.
    count: i32,
}

pub(crate) async fn create_partitions(
    State(state): State<HttpState>,
    Path(name): Path<String>,
    Json(grow): Json<GrowPartitions>,
) -> ApiResult<Json<TopicDetail>> {
    let broker = state.broker()?;
    broker
        .create_partitions(&name, grow.count, None, false)
        .await?;
    describe_now(broker, &name).map(Json)
}

pub(crate) async fn delete(
    State(state): State<HttpState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.broker()?.delete_topic(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
