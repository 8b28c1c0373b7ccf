//! One handler per Kafka API. Each decodes its request, calls the broker, and encodes its
//! response; none keeps state of its own.

pub(crate) mod alter_configs;
pub(crate) mod api_versions;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_groups;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod incremental_alter_configs;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod offset_for_leader_epoch;
pub(crate) mod produce;
pub(crate) mod sync_group;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::Context;

/// A reason to close the connection (a malformed or unanswerable request).
#[derive(Debug)]
pub(crate) struct Close(pub String);

/// A request whose header is decoded and whose body is not yet.
pub(crate) struct Request<'a> {
    pub context: &'a Context,
    pub key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub header: RequestHeader,
    pub peer: std::net::SocketAddr,
    pub body: Bytes,
}

impl Request<'_> {
    /// The client id from the request header ("" if none).
    pub fn client_id(&self) -> String {
        self.header
            .client_id
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default()
    }
}

impl Request<'_> {
    /// Decodes the body as `T` at the request's version.
    pub fn decode<T: Decodable>(&mut self) -> Result<T, Close> {
        T::decode(&mut self.body, self.version).map_err(|e| {
            Close(format!(
                "malformed {:?} v{} request: {e}",
                self.key, self.version
            ))
        })
    }

    /// Encodes `response` with its header, length-prefixed, ready to write.
    pub fn respond<R: Encodable>(&self, response: &R) -> Result<Option<Bytes>, Close> {
        encode_response(self.key, self.version, self.correlation_id, response).map(Some)
    }
}

/// Encodes a response frame: length, response header, body.
pub(crate) fn encode_response<R: Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &R,
) -> Result<Bytes, Close> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, key.response_header_version(version))
        .and_then(|()| response.encode(&mut buf, version))
        .map_err(|e| {
            Close(format!(
                "cannot encode the {key:?} v{version} response: {e}"
            ))
        })?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

/// Topic config overrides from a request's (name, value) pairs; null values are skipped.
pub(crate) fn config_map<'a>(
    pairs: impl Iterator<Item = (&'a StrBytes, Option<&'a StrBytes>)>,
) -> flyq_broker::TopicConfigs {
    pairs
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value?.as_str().to_owned())))
        .collect()
}

/// A string for a response field.
pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}
