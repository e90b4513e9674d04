//! The operator's secrets API: write a workflow's secret, list names and
//! update times, remove one. A value is never read back.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::AppState;
use super::admin::blocking;
use super::api_error::ApiError;

/// `PUT /api/workflows/{id}/secrets/{name}` with the value (UTF-8 text) as the body.
pub(super) async fn set(
    State(app): State<AppState>,
    Path((workflow, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let value = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::BadRequest("a secret's value is UTF-8 text (the request body)".into()))?;
    let n = name.clone();
    blocking(move || Ok(app.secrets.set(&workflow, &n, &value)?)).await?;
    Ok(Json(json!({ "name": name, "set": true })))
}

/// `GET /api/workflows/{id}/secrets`: names and update times only.
pub(super) async fn list(State(app): State<AppState>, Path(workflow): Path<String>) -> Result<Json<Value>, ApiError> {
    let secrets = blocking(move || Ok(app.secrets.list(&workflow)?)).await?;
    let secrets: Vec<Value> =
        secrets.into_iter().map(|s| json!({ "name": s.name, "updatedAt": s.updated_at })).collect();
    Ok(Json(json!({ "secrets": secrets })))
}

/// `DELETE /api/workflows/{id}/secrets/{name}`
pub(super) async fn remove(
    State(app): State<AppState>,
    Path((workflow, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let n = name.clone();
    blocking(move || Ok(app.secrets.remove(&workflow, &n)?)).await?;
    Ok(Json(json!({ "name": name, "removed": true })))
}
