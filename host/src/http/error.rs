//! Failures of webhooks and manual invokes, and the one mapping from them
//! (and from how an execution ended) to HTTP answers.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::executor::{Busy, Failure, Outcome, Ran};

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no webhook answers {method} {path}")]
    NoRoute { method: String, path: String },
    #[error("{path} does not answer {method}; it answers {}", .allowed.join(", "))]
    WrongMethod { method: String, path: String, allowed: Vec<String> },
    #[error("request body is larger than the host's limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("could not read the request body")]
    BadBody,
    #[error("{0}; retry shortly")]
    Busy(Busy),
    #[error("workflow {workflow:?} timed out: it ran past its {}s limit and was stopped", .limit.as_secs_f64())]
    Timeout { workflow: String, execution_id: String, limit: Duration },
    #[error(
        "workflow {workflow:?} failed (trapped); its record has the details: `floww logs {workflow}`, or GET /api/executions/{execution_id}"
    )]
    Failed { workflow: String, execution_id: String },
    #[error("workflow {workflow:?} returned an invalid response: {reason}")]
    InvalidResponse { workflow: String, execution_id: String, reason: String },
    /// The workflow returned an error: its message is for the caller.
    #[error("{message}")]
    Returned { workflow: String, execution_id: String, message: String },
}

impl WebhookError {
    /// The output of `workflow`'s run, or the error that answers how it
    /// ended instead.
    pub fn check<T>(workflow: String, ran: Ran<T>) -> Result<T, WebhookError> {
        let execution_id = ran.id;
        match ran.outcome {
            Outcome::Completed(output) => Ok(output),
            Outcome::Failed(Failure::Trapped) => Err(WebhookError::Failed { workflow, execution_id }),
            Outcome::Failed(Failure::Error(message)) => Err(WebhookError::Returned { workflow, execution_id, message }),
            Outcome::Failed(Failure::InvalidOutput(reason)) => {
                Err(WebhookError::InvalidResponse { workflow, execution_id, reason })
            }
            Outcome::Timeout(limit) => Err(WebhookError::Timeout { workflow, execution_id, limit }),
        }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.to_string() });
        let status = match &self {
            Self::NoRoute { .. } => StatusCode::NOT_FOUND,
            Self::WrongMethod { allowed, .. } => {
                body["allowed"] = json!(allowed);
                StatusCode::METHOD_NOT_ALLOWED
            }
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadBody => StatusCode::BAD_REQUEST,
            Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout { workflow, execution_id, .. }
            | Self::Failed { workflow, execution_id }
            | Self::InvalidResponse { workflow, execution_id, .. }
            | Self::Returned { workflow, execution_id, .. } => {
                body["workflow"] = json!(workflow);
                body["executionId"] = json!(execution_id);
                if matches!(self, Self::Timeout { .. }) {
                    StatusCode::GATEWAY_TIMEOUT
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::WrongMethod { allowed, .. } => {
                if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                    headers.insert(header::ALLOW, value);
                }
            }
            Self::Busy(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
