//! Admin API failures and the one mapping from them to HTTP answers.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::kv::{BatchError, KvError};
use crate::registry::{DeployError, UndeployError};
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or wrong admin token: send `Authorization: Bearer <token>` (see <data-dir>/admin-token)")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
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
    #[error("the host failed; its log has the details")]
    Internal,
    /// Storage failed; unless it is merely unavailable, the text goes to the log only.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
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
                | DeployError::InvalidTrigger(_) => StatusCode::BAD_REQUEST,
            },
            Self::Undeploy(e) => match e {
                UndeployError::NotFound(_) => StatusCode::NOT_FOUND,
                UndeployError::Storage(StorageError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
                UndeployError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::Storage(StorageError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal | Self::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Internal details go to the log, not to the caller.
            tracing::error!("admin API: {self}");
            ApiError::Internal.to_string()
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
