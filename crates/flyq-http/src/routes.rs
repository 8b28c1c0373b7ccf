//! The route table: every method and path the API serves, in one list that builds the router
//! and that the OpenAPI test compares with the document.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::middleware::from_fn;
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::error::ApiError;
use crate::state::HttpState;
use crate::{cluster, groups, health, metrics, openapi, records, topics};

/// Largest request body accepted (every body is a small JSON object).
const MAX_BODY_BYTES: usize = 64 << 10;

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verb {
    Get,
    Post,
    Patch,
    Delete,
}

impl Verb {
    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Patch => MethodFilter::PATCH,
            Verb::Delete => MethodFilter::DELETE,
        }
    }

    /// The name OpenAPI uses (lowercase).
    #[cfg(test)]
    pub(crate) fn openapi_name(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

/// A handler, waiting to be bound to its route's method.
type Bind = Box<dyn FnOnce(MethodFilter) -> MethodRouter<HttpState>>;

/// One served route.
pub(crate) struct Route {
    pub verb: Verb,
    pub path: &'static str,
    bind: Bind,
}

fn route<H, T>(verb: Verb, path: &'static str, handler: H) -> Route
where
    H: Handler<T, HttpState>,
    T: 'static,
{
    Route {
        verb,
        path,
        bind: Box::new(move |filter| on(filter, handler)),
    }
}

/// Every route the API serves.
pub(crate) fn table() -> Vec<Route> {
    use Verb::{Delete, Get, Patch, Post};
    vec![
        route(Get, "/health", health::detail),
        route(Get, "/health/live", health::live),
        route(Get, "/health/ready", health::ready),
        route(Get, "/metrics", metrics::render),
        route(Get, "/api/v1/openapi.json", openapi::document),
        route(Get, "/api/v1/cluster", cluster::describe),
        route(Get, "/api/v1/topics", topics::list),
        route(Post, "/api/v1/topics", topics::create),
        route(Get, "/api/v1/topics/{topic}", topics::describe),
        route(Delete, "/api/v1/topics/{topic}", topics::delete),
        route(
            Patch,
            "/api/v1/topics/{topic}/configs",
            topics::alter_configs,
        ),
        route(
            Post,
            "/api/v1/topics/{topic}/partitions",
            topics::create_partitions,
        ),
        route(
            Get,
            "/api/v1/topics/{topic}/partitions/{partition}/records",
            records::list,
        ),
        route(Get, "/api/v1/groups", groups::list),
        route(Get, "/api/v1/groups/{group}", groups::describe),
        route(Delete, "/api/v1/groups/{group}", groups::delete),
        route(
            Post,
            "/api/v1/groups/{group}/reset-offsets",
            groups::reset_offsets,
        ),
    ]
}

async fn no_route() -> ApiError {
    ApiError::not_found("route_not_found", "no such route; see /api/v1/openapi.json")
}

async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method; see /api/v1/openapi.json",
    )
}

/// The API's router over `state`.
pub fn router(state: HttpState) -> Router {
    let routes = table().into_iter().fold(Router::new(), |router, r| {
        router.route(r.path, (r.bind)(r.verb.filter()))
    });
    routes
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn(metrics::count_requests))
        .with_state(state)
}
