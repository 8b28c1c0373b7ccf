//! Runs broker calls that do file I/O (creating, growing, reconfiguring and deleting topics,
//! reading logs) on tokio's blocking pool, never on an async worker thread.

use std::sync::Arc;

use flyq_broker::Broker;

use crate::error::{ApiError, ApiResult};

/// Runs `f` with the broker on a blocking thread; its errors become API errors.
pub(crate) async fn with_broker<T, E, F>(broker: &Arc<Broker>, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
    F: FnOnce(&Broker) -> Result<T, E> + Send + 'static,
{
    let broker = Arc::clone(broker);
    tokio::task::spawn_blocking(move || f(&broker))
        .await
        .map_err(|e| ApiError::internal("running a broker operation", &e))?
        .map_err(Into::into)
}
