//! The admin API for workflows: deploy, list, inspect and undeploy on a
//! running host. Guarded by the admin token (see `auth`).

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::api_error::ApiError;
use crate::registry::{DeployOptions, Deployment};
use crate::storage::now_ms;

/// Runs blocking work (compiling, storage) off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::Internal(format!("blocking work failed: {e}")))?
}

/// A workflow as the API shows it: its triggers with full URLs for this host
/// (webhooks, then crons with their next tick, then manual triggers).
fn describe(app: &AppState, d: &Deployment, headers: &HeaderMap) -> Value {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let m = &d.manifest;
    let webhooks = m.routes.iter().map(|r| {
        json!({
            "type": "webhook",
            "method": r.method,
            "path": r.path,
            "url": format!("http://{host}/webhook{}", r.path),
        })
    });
    let now = now_ms();
    let crons = m
        .crons
        .iter()
        .map(|c| json!({ "type": "cron", "schedule": c.schedule.as_str(), "nextAt": c.schedule.next_after(now) }));
    let manuals = m.manuals.iter().map(|t| {
        let schema = t
            .input_schema
            .as_ref()
            .map(|s| serde_json::from_str(s.as_str()).unwrap_or(Value::String(s.as_str().into())));
        json!({
            "type": "manual",
            "name": t.name,
            "inputSchema": schema,
            "url": format!("http://{host}/api/workflows/{}/triggers/{}/invoke", m.id, t.name),
        })
    });
    let runs = m.runs.iter().map(|name| {
        json!({
            "type": "run",
            "name": name,
            "url": format!("http://{host}/api/workflows/{}/runs/{name}", m.id),
        })
    });
    json!({
        "id": m.id,
        "triggers": webhooks.chain(crons).chain(manuals).chain(runs).collect::<Vec<_>>(),
        "sha256": m.sha256,
        "size": m.size,
        "deployedAt": m.deployed_at_ms,
        "timeoutMs": m.timeout_ms,
        "allowHttp": m.allow_http,
        "deniedHttp": m.denied_http,
        "instanceReuse": app.executor.instance_reuse(m),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeployQuery {
    /// Seconds; overrides the host's execution deadline for this workflow.
    timeout: Option<f64>,
    /// `allow_http` entries to remove, separated by commas.
    deny_http: Option<String>,
    /// Executions one instance serves, instead of the host's default.
    instance_reuse: Option<u32>,
}

/// `PUT /api/workflows/{id}` with the component as the body.
pub(super) async fn deploy(
    State(app): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<DeployQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let timeout = match query.timeout {
        None => None,
        Some(s) if s > 0.0 && s <= 3600.0 => Some(Duration::from_secs_f64(s)),
        Some(_) => return Err(ApiError::BadRequest("timeout must be between 0 and 3600 seconds".into())),
    };
    if query.instance_reuse == Some(0) {
        return Err(ApiError::BadRequest(
            "instanceReuse must be 1 (a fresh instance per execution) or more (executions one instance serves)".into(),
        ));
    }
    let existed = app.registry.get(&id).is_some();
    let deny_http = query.deny_http.iter().flat_map(|d| d.split(',')).map(|e| e.trim().to_owned()).collect();
    let options = DeployOptions { timeout, deny_http, instance_reuse: query.instance_reuse };
    let registry = app.registry.clone();
    let deployment = blocking(move || Ok(registry.deploy(&id, &body, options)?)).await?;
    tracing::info!(workflow = %deployment.manifest.id, sha256 = %deployment.manifest.sha256, "deployed via the admin API");
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(describe(&app, &deployment, &headers))))
}

/// `GET /api/workflows`
pub(super) async fn list(State(app): State<AppState>, headers: HeaderMap) -> Json<Value> {
    let workflows: Vec<Value> = app.registry.list().iter().map(|d| describe(&app, d, &headers)).collect();
    Json(json!({ "workflows": workflows }))
}

/// `GET /api/workflows/{id}`
pub(super) async fn get(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let deployment =
        app.registry.get(&id).ok_or_else(|| ApiError::NotFound(format!("no workflow {id:?} is deployed")))?;
    Ok(Json(describe(&app, &deployment, &headers)))
}

/// `DELETE /api/workflows/{id}`: its webhooks stop; its tables stay.
pub(super) async fn undeploy(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let registry = app.registry.clone();
    let undeployed = id.clone();
    blocking(move || Ok(registry.undeploy(&undeployed)?)).await?;
    tracing::info!(workflow = %id, "undeployed via the admin API");
    Ok(Json(json!({ "id": id, "undeployed": true })))
}
