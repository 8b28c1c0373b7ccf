//! One client connection: read a frame, dispatch it, write the answer, in order.
//!
//! The stream comes from the shared listener, after its handshake (plaintext today). SASL,
//! when it comes, is a step here: SaslHandshake and SaslAuthenticate are Kafka requests, and
//! until they succeed every other API must be refused.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use flyq_listener::Closing;
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use super::handlers::{self, Close, Request};
use super::{Context, frame, metrics, versions};

/// Serves one connection until the peer leaves, sends something unacceptable, or the
/// listener shuts down (between requests).
pub(crate) async fn run(
    stream: impl AsyncRead + AsyncWrite + Unpin,
    peer: SocketAddr,
    context: Arc<Context>,
    mut closing: Closing,
) {
    // Small: thousands of idle clients must be cheap, and large request bodies bypass it.
    // Answers are written through it, straight to the stream.
    let mut stream = BufReader::with_capacity(8 * 1024, stream);
    let config = &context.config;
    loop {
        let frame = tokio::select! {
            biased;
            () = closing.wait() => break,
            frame = frame::read_frame(&mut stream, config.max_request_bytes, config.request_read_timeout) => frame,
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                metrics::count_error("BadFrame");
                if let Some(suppressed) = context.problems.admit() {
                    tracing::warn!(target: "flyq::kafka", %peer, error = %e, suppressed, "closing connection: bad frame");
                }
                break;
            }
        };
        match dispatch(&context, peer, frame).await {
            Ok(Some(response)) => {
                if let Err(e) = stream.write_all(&response).await {
                    tracing::debug!(target: "flyq::kafka", %peer, error = %e, "write failed");
                    break;
                }
            }
            Ok(None) => {}
            Err(Close(reason)) => {
                metrics::count_error("MalformedRequest");
                if let Some(suppressed) = context.problems.admit() {
                    tracing::warn!(target: "flyq::kafka", %peer, %reason, suppressed, "closing connection");
                }
                break;
            }
        }
    }
    let _ = stream.shutdown().await;
}

/// Decodes a request's header and hands it to its API's handler.
async fn dispatch(
    context: &Context,
    peer: SocketAddr,
    mut frame: Bytes,
) -> Result<Option<Bytes>, Close> {
    if frame.len() < 8 {
        return Err(Close(format!(
            "a {}-byte frame is shorter than a request header",
            frame.len()
        )));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let key = ApiKey::try_from(api_key).map_err(|_| Close(format!("unknown API key {api_key}")))?;
    if !versions::servable(key, version) {
        if key == ApiKey::ApiVersions {
            return Ok(Some(handlers::api_versions::unsupported_version(
                correlation_id,
            )?));
        }
        return Err(Close(format!("unsupported {key:?} version {version}")));
    }
    let header = RequestHeader::decode(&mut frame, key.request_header_version(version))
        .map_err(|e| Close(format!("malformed {key:?} v{version} request header: {e}")))?;
    let request = Request {
        context,
        key,
        version,
        correlation_id,
        header,
        peer,
        body: frame,
    };
    context.metrics.observe(key, handle(key, request)).await
}

/// Runs the handler of `key`'s API.
async fn handle(key: ApiKey, request: Request<'_>) -> Result<Option<Bytes>, Close> {
    match key {
        ApiKey::ApiVersions => handlers::api_versions::handle(request).await,
        ApiKey::Metadata => handlers::metadata::handle(request).await,
        ApiKey::Produce => handlers::produce::handle(request).await,
        ApiKey::Fetch => handlers::fetch::handle(request).await,
        ApiKey::ListOffsets => handlers::list_offsets::handle(request).await,
        ApiKey::CreateTopics => handlers::create_topics::handle(request).await,
        ApiKey::DeleteTopics => handlers::delete_topics::handle(request).await,
        ApiKey::FindCoordinator => handlers::find_coordinator::handle(request).await,
        ApiKey::JoinGroup => handlers::join_group::handle(request).await,
        ApiKey::SyncGroup => handlers::sync_group::handle(request).await,
        ApiKey::Heartbeat => handlers::heartbeat::handle(request).await,
        ApiKey::LeaveGroup => handlers::leave_group::handle(request).await,
        ApiKey::OffsetCommit => handlers::offset_commit::handle(request).await,
        ApiKey::OffsetFetch => handlers::offset_fetch::handle(request).await,
        ApiKey::ListGroups => handlers::list_groups::handle(request).await,
        ApiKey::DescribeGroups => handlers::describe_groups::handle(request).await,
        ApiKey::DeleteGroups => handlers::delete_groups::handle(request).await,
        ApiKey::OffsetDelete => handlers::offset_delete::handle(request).await,
        ApiKey::InitProducerId => handlers::init_producer_id::handle(request).await,
        ApiKey::DescribeConfigs => handlers::describe_configs::handle(request).await,
        ApiKey::AlterConfigs => handlers::alter_configs::handle(request).await,
        ApiKey::IncrementalAlterConfigs => {
            handlers::incremental_alter_configs::handle(request).await
        }
        ApiKey::CreatePartitions => handlers::create_partitions::handle(request).await,
        ApiKey::DeleteRecords => handlers::delete_records::handle(request).await,
        ApiKey::DescribeCluster => handlers::describe_cluster::handle(request).await,
        ApiKey::OffsetForLeaderEpoch => handlers::offset_for_leader_epoch::handle(request).await,
        other => Err(Close(format!("{other:?} is advertised but has no handler"))),
    }
}
