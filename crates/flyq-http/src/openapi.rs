//! `GET /api/v1/openapi.json`: the OpenAPI 3 document of this API, written by hand in
//! `openapi.json` beside this file. The tests below keep it true: it lists exactly the routes
//! and methods of [`crate::routes::table`], and every route it names is served.

use axum::http::header;
use axum::response::IntoResponse;

/// The OpenAPI document, as served.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

pub(crate) async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeSet;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use serde_json::Value;
    use tower::ServiceExt;

    use super::OPENAPI_JSON;
    use crate::routes::{router, table};
    use crate::state::HttpState;

    fn documented() -> BTreeSet<(String, String)> {
        let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().expect("paths");
        let mut found = BTreeSet::new();
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                if [
                    "get", "post", "put", "patch", "delete", "head", "options", "trace",
                ]
                .contains(&method.as_str())
                {
                    found.insert((method.clone(), path.clone()));
                }
            }
        }
        found
    }

    #[test]
    fn document_lists_exactly_the_served_routes() {
        let served: BTreeSet<(String, String)> = table()
            .iter()
            .map(|r| (r.verb.openapi_name().to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(documented(), served);
    }

    #[tokio::test]
    async fn every_documented_route_is_routed() {
        // Before the broker is attached every admin route answers 503 `not_ready`: proof the
        // request reached a handler rather than the fallbacks (404 / 405 route errors).
        let app = router(HttpState::new(1, "unused".into(), None));
        for (method, path) in documented() {
            let uri = path
                .replace("{topic}", "t")
                .replace("{partition}", "0")
                .replace("{group}", "g");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = if method == Method::GET || method == Method::DELETE {
                Body::empty()
            } else {
                Body::from("{}")
            };
            let request = Request::builder()
                .method(method.clone())
                .uri(&uri)
                .header("content-type", "application/json")
                .body(body)
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED && !text.contains("route_not_found"),
                "{method} {uri}: {status} {text}"
            );
        }
    }

    #[test]
    fn every_operation_documents_the_error_shape() {
        let doc: Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                assert!(!responses.is_empty(), "{method} {path}");
                assert!(op["operationId"].is_string(), "{method} {path}");
            }
        }
        assert!(doc["components"]["schemas"]["Error"].is_object());
    }
}
