//! The operator's runs API: start a run, list and show runs (a run with its
//! journal: each step's attempts, timing, errors and log lines), send an
//! event, cancel, rerun.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::admin::blocking;
use super::api_error::ApiError;
use crate::runs::{Filter, Run, Start, Status};

/// The most runs one page lists.
const MAX_PAGE: usize = 1000;

/// JSON text that a run keeps, as a value (kept text is valid JSON).
fn value(text: Option<&str>) -> Value {
    text.map_or(Value::Null, |t| serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_owned())))
}

/// A run as the API shows it, without its journal.
fn summary(run: &Run) -> Value {
    json!({
        "id": run.id,
        "workflow": run.workflow,
        "name": run.name,
        "status": run.status,
        "idempotencyKey": run.idempotency_key,
        "createdAt": run.created_at,
        "updatedAt": run.updated_at,
        "endedAt": run.ended_at,
        "dueAt": run.due_at,
        "invocations": run.invocations,
        "suspendedMs": run.suspended_ms,
        "error": run.error,
    })
}

#[derive(Deserialize)]
pub(super) struct StartQuery {
    key: Option<String>,
}

/// `POST /api/workflows/{id}/runs/{name}?key=` with the input (JSON) as the body.
pub(super) async fn start(
    State(app): State<AppState>,
    Path((workflow, name)): Path<(String, String)>,
    Query(query): Query<StartQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input = String::from_utf8(body.to_vec()).map_err(|_| ApiError::BadRequest("the input is not UTF-8".into()))?;
    let input = if input.trim().is_empty() { "null".to_owned() } else { input };
    let (id, new) = blocking(move || {
        let start = Start { workflow: &workflow, name: &name, input: &input, idempotency_key: query.key.as_deref() };
        Ok(app.runs.start(&start)?)
    })
    .await?;
    let status = if new { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(json!({ "runId": id, "started": new }))))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    workflow: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/runs?workflow=&status=&cursor=&limit=`: newest first.
pub(super) async fn list(State(app): State<AppState>, Query(q): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let status = q
        .status
        .map(|s| {
            Status::parse(&s).ok_or_else(|| {
                let all: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::BadRequest(format!("status {s:?} is none of {}", all.join(", ")))
            })
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit {limit} is not between 1 and {MAX_PAGE}")));
    }
    let filter = Filter { workflow: q.workflow, status, before: q.cursor };
    let runs = blocking(move || Ok(app.runs.store().list(&filter, limit)?)).await?;
    let cursor = (runs.len() == limit).then(|| runs.last().map(|r| r.id.clone())).flatten();
    Ok(Json(json!({ "runs": runs.iter().map(summary).collect::<Vec<_>>(), "cursor": cursor })))
}

/// `GET /api/runs/{id}`: the run with its input, output or error, and its
/// journal, then the entry it is suspended in.
pub(super) async fn show(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let (run, journal) = blocking(move || Ok(app.runs.with_journal(None, &id)?)).await?;
    let mut steps: Vec<Value> = journal
        .iter()
        .map(|e| {
            json!({
                "index": e.index,
                "kind": e.kind,
                "name": e.name,
                "status": if e.error.is_some() { "failed" } else { "completed" },
                "output": value(e.output.as_deref()),
                "error": e.error,
                "startedAt": e.started_at,
                "endedAt": e.ended_at,
                "attempts": e.attempts,
            })
        })
        .collect();
    if let Some(p) = &run.pending {
        steps.push(json!({
            "index": p.index,
            "kind": p.kind,
            "name": p.name,
            "status": run.status,
            "startedAt": p.since,
            "wakeAt": p.wake_at,
            "attempts": p.attempts,
        }));
    }
    let mut shown = summary(&run);
    shown["input"] = value(Some(&run.input));
    shown["output"] = value(run.output.as_deref());
    shown["steps"] = Value::Array(steps);
    Ok(Json(shown))
}

/// `POST /api/runs/{id}/events/{name}` with the payload (JSON) as the body.
pub(super) async fn event(
    State(app): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let payload =
        String::from_utf8(body.to_vec()).map_err(|_| ApiError::BadRequest("the payload is not UTF-8".into()))?;
    let payload = if payload.trim().is_empty() { "null".to_owned() } else { payload };
    let (run, n) = (id.clone(), name.clone());
    blocking(move || Ok(app.runs.send_event(None, &run, &n, &payload)?)).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "runId": id, "event": name, "delivered": true }))))
}

/// `POST /api/runs/{id}/cancel`
pub(super) async fn cancel(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let run = blocking(move || Ok(app.runs.cancel(&id)?)).await?;
    Ok(Json(summary(&run)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RerunQuery {
    from_step: Option<u32>,
}

/// `POST /api/runs/{id}/rerun?fromStep=N`: from the start, or keeping the
/// journal before entry N; on the workflow's current version.
pub(super) async fn rerun(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RerunQuery>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let run = blocking(move || Ok(app.runs.rerun(&id, q.from_step.unwrap_or(0))?)).await?;
    Ok((StatusCode::ACCEPTED, Json(summary(&run))))
}
