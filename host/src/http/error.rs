//! Webhook failures and the one mapping from them to HTTP answers.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::runtime::Busy;

#[derive(Debug)]
pub enum WebhookError {
    NoRoute { method: String, path: String },
    WrongMethod { method: String, path: String, allowed: Vec<String> },
    BodyTooLarge { limit: usize },
    BadBody,
    Busy(Busy),
    Timeout { workflow: String, execution_id: String, limit: Duration },
    Failed { workflow: String, execution_id: String },
    InvalidResponse { workflow: String, execution_id: String, reason: String },
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::NoRoute { method, path } => {
                (StatusCode::NOT_FOUND, json!({ "error": format!("no webhook answers {method} {path}") }))
            }
            Self::WrongMethod { method, path, ref allowed } => {
                let mut response = (
                    StatusCode::METHOD_NOT_ALLOWED,
                    Json(json!({
                        "error": format!("{path} does not answer {method}; it answers {}", allowed.join(", ")),
                        "allowed": allowed,
                    })),
                )
                    .into_response();
                if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                return response;
            }
            Self::BodyTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "error": format!("request body is larger than the host's limit of {limit} bytes") }),
            ),
            Self::Busy(busy) => {
                let body = json!({ "error": format!("{busy}; retry shortly") });
                let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            }
            Self::BadBody => (StatusCode::BAD_REQUEST, json!({ "error": "could not read the request body" })),
            Self::Timeout { workflow, execution_id, limit } => (
                StatusCode::GATEWAY_TIMEOUT,
                json!({
                    "error": format!("workflow {workflow:?} timed out: it ran past its {}s limit and was stopped", limit.as_secs_f64()),
                    "workflow": workflow,
                    "executionId": execution_id,
                }),
            ),
            Self::Failed { workflow, execution_id } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({
                    "error": format!("workflow {workflow:?} failed (trapped); the host's log has the details under this execution id"),
                    "workflow": workflow,
                    "executionId": execution_id,
                }),
            ),
            Self::InvalidResponse { workflow, execution_id, reason } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({
                    "error": format!("workflow {workflow:?} returned an invalid response: {reason}"),
                    "workflow": workflow,
                    "executionId": execution_id,
                }),
            ),
        };
        (status, Json(body)).into_response()
    }
}
