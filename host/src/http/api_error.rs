//! Admin API failures and the one mapping from them to HTTP answers, with
//! the edge of the API: every failure JSON, every body bounded per route.

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;

use super::error::WebhookError;

use crate::kv::{BatchError, KvError};
use crate::registry::{DeployError, UndeployError};
use crate::runs::RunError;
use crate::secrets::SecretError;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or wrong admin token: send `Authorization: Bearer <token>` (see <data-dir>/admin-token)")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error(transparent)]
    Undeploy(#[from] UndeployError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Run(#[from] RunError),
    /// A host bug: the cause goes to the log, a plain message to the caller.
    #[error("the host failed: {0}")]
    Internal(String),
    /// Storage failed; unless it is merely unavailable, the text goes to the log only.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Kv(e) | Self::Batch(BatchError { error: e, .. }) => match e {
                KvError::NotFound(_) => StatusCode::NOT_FOUND,
                KvError::PermissionDenied(_) => StatusCode::FORBIDDEN,
                KvError::InvalidInput(_) => StatusCode::BAD_REQUEST,
                KvError::ValueTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                KvError::Conflict(_) => StatusCode::CONFLICT,
                KvError::Internal(StorageError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
                KvError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::Deploy(e) => match e {
                DeployError::RouteTaken { .. } => StatusCode::CONFLICT,
                DeployError::Storage(StorageError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
                DeployError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
                DeployError::InvalidId(_)
                | DeployError::InvalidComponent(_)
                | DeployError::Triggers(_)
                | DeployError::InvalidTrigger(_)
                | DeployError::InvalidAllowlist(_) => StatusCode::BAD_REQUEST,
            },
            Self::Undeploy(e) => match e {
                UndeployError::NotFound(_) => StatusCode::NOT_FOUND,
                UndeployError::Storage(StorageError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
                UndeployError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::Secret(e) => match e {
                SecretError::InvalidInput(_) => StatusCode::BAD_REQUEST,
                SecretError::NotFound { .. } => StatusCode::NOT_FOUND,
                SecretError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                SecretError::KeyMismatch(_) => StatusCode::CONFLICT,
                SecretError::Storage(StorageError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
                SecretError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::Run(e) => match e {
                RunError::NotFound(_) => StatusCode::NOT_FOUND,
                RunError::Invalid(_) => StatusCode::BAD_REQUEST,
                RunError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                RunError::Conflict(_) => StatusCode::CONFLICT,
                RunError::Storage(StorageError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
                RunError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::Storage(StorageError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) | Self::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Internal details go to the log, not to the caller.
            tracing::error!("admin API: {self}");
            "the host failed; its log has the details".to_owned()
        } else {
            self.to_string()
        };
        let mut body = json!({ "error": message });
        if let Self::Batch(BatchError { index, .. }) = &self {
            body["index"] = json!(index);
        }
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Gives every failure of the admin API the shape `{"error": …}`. axum's own
/// refusals (a query or path it can't parse, a method the route lacks)
/// answer text or nothing; this keeps their status and headers (`Allow`)
/// and puts their text, or what the status means, in JSON.
pub(super) async fn json_errors(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().to_string(), request.uri().path().to_owned());
    let response = next.run(request).await;
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if is_json || !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    if parts.status == StatusCode::METHOD_NOT_ALLOWED {
        let allow = parts.headers.get(header::ALLOW).and_then(|a| a.to_str().ok()).unwrap_or_default();
        let allowed = allow.split(',').map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()).collect();
        return WebhookError::WrongMethod { method, path: format!("/api{path}"), allowed }.into_response();
    }
    let text = match Limited::new(body, MAX_REFUSAL_BYTES).collect().await {
        Ok(bytes) => String::from_utf8_lossy(&bytes.to_bytes()).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message =
        if text.is_empty() { parts.status.canonical_reason().unwrap_or("failed").to_lowercase() } else { text };
    if parts.status.is_server_error() {
        tracing::error!("admin API: {method} /api{path}: {message}");
    }
    let mut response = (parts.status, Json(json!({ "error": message }))).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

/// The most of a refusal's text that is passed on.
const MAX_REFUSAL_BYTES: usize = 16 * 1024;

/// Reads at most `limit` bytes of a request's body for its handler,
/// refusing a larger one with 413 naming the limit: at once when its
/// `Content-Length` says so, else as soon as the stream passes the limit.
pub(super) async fn body_limit(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|n| n.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return WebhookError::BodyTooLarge { limit }.into_response();
    }
    let (parts, body) = request.into_parts();
    match Limited::new(body, limit).collect().await {
        Ok(body) => next.run(Request::from_parts(parts, Body::from(body.to_bytes()))).await,
        Err(e) if e.is::<LengthLimitError>() => WebhookError::BodyTooLarge { limit }.into_response(),
        Err(_) => WebhookError::BadBody.into_response(),
    }
}
