//! Watching the host: `/metrics` (Prometheus text), `/healthz`, `/readyz`,
//! and the admin API's execution records (listed, one by one, and live as
//! they are kept) and the last hour of metrics.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::admin::blocking;
use super::api_error::ApiError;
use crate::executions::{self, Status};

/// `GET /metrics`
pub(super) async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let gauges = [
        ("floww_executions_running", "Executions running now (instance slots in use).", app.executor.running() as f64),
        ("floww_queue_depth", "Requests waiting for an execution slot.", app.executor.waiting() as f64),
        ("floww_workflows_deployed", "Workflows deployed.", app.registry.list().len() as f64),
    ];
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::metrics::global().render(&gauges))
}

/// `GET /api/metrics/history`: the last hour in samples, for the dashboard's charts.
pub(super) async fn history(State(app): State<AppState>) -> Json<Value> {
    let samples = crate::metrics::global().samples(app.executor.waiting(), app.executor.running());
    Json(json!({ "intervalSeconds": crate::metrics::SAMPLE_EVERY.as_secs(), "samples": samples }))
}

/// `GET /api/executions/live`: each execution's record as it is kept, as
/// server-sent events (`event: execution`, the record as JSON). A reader too
/// slow to keep up misses records, not the stream.
pub(super) async fn live(State(app): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let records = futures_util::stream::unfold(app.executions.subscribe(), |mut kept| async move {
        loop {
            match kept.recv().await {
                Ok(record) => {
                    let event = Event::default().event("execution").json_data(&*record).unwrap_or_default();
                    return Some((Ok(event), kept));
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(records).keep_alive(KeepAlive::default())
}

/// `GET /healthz`: the process answers.
pub(super) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the store is open and deployed workflows are loaded,
/// which is true once the host listens.
pub(super) async fn readyz(State(app): State<AppState>) -> Json<Value> {
    Json(json!({ "status": "ready", "workflows": app.registry.list().len() }))
}

#[derive(Deserialize)]
pub(super) struct ExecutionsQuery {
    workflow: Option<String>,
    status: Option<Status>,
    limit: Option<usize>,
    cursor: Option<String>,
    /// `desc` (newest first, the default) or `asc` (to follow new ones).
    order: Option<String>,
}

/// `GET /api/executions?workflow=&status=&limit=&cursor=&order=`
pub(super) async fn executions(
    State(app): State<AppState>,
    query: Result<Query<ExecutionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::BadRequest(format!("{e}; status is one of completed, failed, timeout, rejected, invalid"))
    })?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit {limit} is not between 1 and 1000")));
    }
    let newest_first = match q.order.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => return Err(ApiError::BadRequest(format!("order {other:?} is not asc or desc"))),
    };
    let query = executions::Query { workflow: q.workflow, status: q.status, limit, cursor: q.cursor, newest_first };
    let (records, cursor) = blocking(move || app.executions.list(&query).map_err(ApiError::Storage)).await?;
    Ok(Json(json!({ "executions": records, "cursor": cursor })))
}

/// `GET /api/executions/{id}`
pub(super) async fn execution(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let wanted = id.clone();
    let record = blocking(move || app.executions.get(&wanted).map_err(ApiError::Storage)).await?;
    let record = record.ok_or_else(|| ApiError::NotFound(format!("no execution {id:?} is on record")))?;
    Ok(Json(json!(record)))
}
