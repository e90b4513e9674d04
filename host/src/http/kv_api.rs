//! The operator's KV API: inspect and repair the store without writing a
//! guest. Every route acts as the workflow named in the path, under the same
//! rules a guest meets, so the operator sees what that workflow sees.
//!
//! Routes follow the seed platform's KV API: `/api/kv/{workflow}/{table}/{key}`
//! and `/api/kv/{workflow}/permissions/{table}`. That second route shadows
//! single keys of a table named `permissions` (its listing still works).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::admin::blocking;
use super::api_error::ApiError;
use crate::kv::{Access, Item, ListOptions, Write, Written};
use crate::storage::WorkflowId;

fn item_json(item: Item) -> Result<Value, ApiError> {
    // Stored values are checked JSON; failing to parse one is a host bug.
    let value: Value = serde_json::from_str(&item.value)
        .map_err(|e| ApiError::Internal(format!("stored value {:?} does not read back: {e}", item.key)))?;
    Ok(json!({
        "key": item.key,
        "value": value,
        "createdAt": item.created_at,
        "updatedAt": item.updated_at,
        "version": item.version,
        "expiresAt": item.expires_at,
    }))
}

/// The caller the operator acts as, checked before anything runs.
fn acting_as(workflow: &str) -> Result<(), ApiError> {
    WorkflowId::parse(workflow).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(())
}

/// `GET /api/kv/{workflow}`: tables it owns or holds a grant on, with owners.
pub(super) async fn tables(State(app): State<AppState>, Path(workflow): Path<String>) -> Result<Json<Value>, ApiError> {
    acting_as(&workflow)?;
    let tables = blocking(move || Ok(app.kv.list_tables(&workflow)?)).await?;
    let tables: Vec<Value> = tables.into_iter().map(|t| json!({ "name": t.name, "owner": t.owner })).collect();
    Ok(Json(json!({ "tables": tables })))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    /// With values (`true`) or keys only.
    #[serde(default)]
    values: bool,
    prefix: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /api/kv/{workflow}/{table}[?values=true&prefix=&limit=&cursor=]`
pub(super) async fn keys(
    State(app): State<AppState>,
    Path((workflow, table)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    acting_as(&workflow)?;
    let options = ListOptions { prefix: query.prefix, limit: query.limit, cursor: query.cursor };
    if query.values {
        let page = blocking(move || Ok(app.kv.list_items(&workflow, &table, &options)?)).await?;
        let items = page.entries.into_iter().map(item_json).collect::<Result<Vec<_>, _>>()?;
        Ok(Json(json!({ "items": items, "cursor": page.cursor })))
    } else {
        let page = blocking(move || Ok(app.kv.list_keys(&workflow, &table, &options)?)).await?;
        Ok(Json(json!({ "keys": page.entries, "cursor": page.cursor })))
    }
}

/// `DELETE /api/kv/{workflow}/{table}`: drops a table the workflow owns,
/// with every item and grant.
pub(super) async fn drop_table(
    State(app): State<AppState>,
    Path((workflow, table)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    acting_as(&workflow)?;
    let t = table.clone();
    blocking(move || Ok(app.kv.drop_table(&workflow, &t)?)).await?;
    Ok(Json(json!({ "table": table, "dropped": true })))
}

/// `GET /api/kv/{workflow}/{table}/{key}`
pub(super) async fn get(
    State(app): State<AppState>,
    Path((workflow, table, key)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    acting_as(&workflow)?;
    let item = blocking(move || Ok(app.kv.get(&workflow, &table, &key)?)).await?;
    Ok(Json(item_json(item)?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SetBody {
    value: Value,
    /// Time-to-live in milliseconds.
    ttl_ms: Option<u64>,
    /// Write only if the item is at this version.
    if_version: Option<u64>,
    /// Write only if there is no item.
    #[serde(default)]
    if_absent: bool,
}

/// `PUT /api/kv/{workflow}/{table}/{key}` with `{"value": …, "ttlMs"?, "ifVersion"?, "ifAbsent"?}`
pub(super) async fn set(
    State(app): State<AppState>,
    Path((workflow, table, key)): Path<(String, String, String)>,
    body: Result<Json<SetBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    acting_as(&workflow)?;
    let Json(body) = body.map_err(|e| {
        ApiError::BadRequest(format!("expected {{\"value\": …, \"ttlMs\"?, \"ifVersion\"?, \"ifAbsent\"?}}: {e}"))
    })?;
    if body.if_absent && body.if_version.is_some() {
        return Err(ApiError::BadRequest("give ifVersion or ifAbsent, not both".into()));
    }
    let json = body.value.to_string();
    let (t, k) = (table.clone(), key.clone());
    let written = blocking(move || {
        let (table, key, value, ttl_ms) = (t.as_str(), k.as_str(), json.as_str(), body.ttl_ms);
        let write = if body.if_absent || body.if_version.is_some() {
            Write::SetIf { table, key, value, expected: body.if_version, ttl_ms }
        } else {
            Write::Set { table, key, value, ttl_ms }
        };
        Ok(app.kv.write_one(&workflow, write)?)
    })
    .await?;
    let (Written::Set(version) | Written::SetIf(version)) = written else {
        return Err(ApiError::Internal(format!("a set was answered {written:?}")));
    };
    Ok(Json(json!({ "table": table, "key": key, "stored": true, "version": version })))
}

#[derive(Deserialize)]
pub(super) struct IncrementBody {
    increment: i64,
}

/// `PATCH /api/kv/{workflow}/{table}/{key}` with `{"increment": n}`: atomic add.
pub(super) async fn increment(
    State(app): State<AppState>,
    Path((workflow, table, key)): Path<(String, String, String)>,
    body: Result<Json<IncrementBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    acting_as(&workflow)?;
    let Json(IncrementBody { increment: delta }) =
        body.map_err(|e| ApiError::BadRequest(format!("expected {{\"increment\": integer}}: {e}")))?;
    let (t, k) = (table.clone(), key.clone());
    let written =
        blocking(move || Ok(app.kv.write_one(&workflow, Write::Increment { table: &t, key: &k, delta })?)).await?;
    let Written::Incremented(value) = written else {
        return Err(ApiError::Internal(format!("an increment was answered {written:?}")));
    };
    Ok(Json(json!({ "table": table, "key": key, "value": value })))
}

/// One write of an operator's batch, as JSON.
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub(super) enum BatchWrite {
    Set { table: String, key: String, value: Value, ttl_ms: Option<u64> },
    SetIf { table: String, key: String, value: Value, expected_version: Option<u64>, ttl_ms: Option<u64> },
    Delete { table: String, key: String },
    Increment { table: String, key: String, delta: i64 },
}

#[derive(Deserialize)]
pub(super) struct BatchBody {
    writes: Vec<BatchWrite>,
}

/// `POST /api/kv/{workflow}` with `{"writes": [{"op": "set"|"set-if"|"delete"|"increment", …}]}`:
/// all or nothing.
pub(super) async fn batch(
    State(app): State<AppState>,
    Path(workflow): Path<String>,
    body: Result<Json<BatchBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    acting_as(&workflow)?;
    let Json(BatchBody { writes }) = body.map_err(|e| {
        ApiError::BadRequest(format!("expected {{\"writes\": [{{\"op\": \"set\", \"table\", \"key\", …}}]}}: {e}"))
    })?;
    let written = blocking(move || {
        let values: Vec<String> = writes
            .iter()
            .map(|w| match w {
                BatchWrite::Set { value, .. } | BatchWrite::SetIf { value, .. } => value.to_string(),
                BatchWrite::Delete { .. } | BatchWrite::Increment { .. } => String::new(),
            })
            .collect();
        let writes: Vec<Write<'_>> = writes
            .iter()
            .zip(&values)
            .map(|(w, value)| match w {
                BatchWrite::Set { table, key, ttl_ms, .. } => Write::Set { table, key, value, ttl_ms: *ttl_ms },
                BatchWrite::SetIf { table, key, expected_version, ttl_ms, .. } => {
                    Write::SetIf { table, key, value, expected: *expected_version, ttl_ms: *ttl_ms }
                }
                BatchWrite::Delete { table, key } => Write::Delete { table, key },
                BatchWrite::Increment { table, key, delta } => Write::Increment { table, key, delta: *delta },
            })
            .collect();
        Ok(app.kv.write(&workflow, &writes)?)
    })
    .await?;
    let written: Vec<Value> = written
        .into_iter()
        .map(|w| match w {
            Written::Set(version) => json!({ "set": version }),
            Written::SetIf(version) => json!({ "setIf": version }),
            Written::Deleted => json!({ "deleted": true }),
            Written::Incremented(value) => json!({ "incremented": value }),
        })
        .collect();
    Ok(Json(json!({ "written": written })))
}

/// `DELETE /api/kv/{workflow}/{table}/{key}`
pub(super) async fn delete(
    State(app): State<AppState>,
    Path((workflow, table, key)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    acting_as(&workflow)?;
    let (t, k) = (table.clone(), key.clone());
    blocking(move || Ok(app.kv.delete(&workflow, &t, &k)?)).await?;
    Ok(Json(json!({ "table": table, "key": key, "deleted": true })))
}

/// `GET /api/kv/{workflow}/permissions/{table}`
pub(super) async fn permissions(
    State(app): State<AppState>,
    Path((workflow, table)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    acting_as(&workflow)?;
    let list = blocking(move || Ok(app.kv.list_permissions(&workflow, &table)?)).await?;
    let list: Vec<Value> = list
        .into_iter()
        .map(|p| {
            json!({
                "workflowId": p.workflow_id,
                "canRead": p.access.read,
                "canWrite": p.access.write,
                "isOwner": p.is_owner,
            })
        })
        .collect();
    Ok(Json(json!({ "permissions": list })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GrantBody {
    workflow_id: String,
    #[serde(default)]
    can_read: bool,
    #[serde(default)]
    can_write: bool,
}

/// `PUT /api/kv/{workflow}/permissions/{table}` with `{"workflowId", "canRead", "canWrite"}`
pub(super) async fn grant(
    State(app): State<AppState>,
    Path((workflow, table)): Path<(String, String)>,
    body: Result<Json<GrantBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    acting_as(&workflow)?;
    let Json(grant) = body.map_err(|e| {
        ApiError::BadRequest(format!("expected {{\"workflowId\": …, \"canRead\": bool, \"canWrite\": bool}}: {e}"))
    })?;
    let access = Access { read: grant.can_read, write: grant.can_write };
    let (t, grantee) = (table.clone(), grant.workflow_id.clone());
    blocking(move || Ok(app.kv.grant(&workflow, &t, &grantee, access)?)).await?;
    Ok(Json(json!({
        "table": table,
        "workflowId": grant.workflow_id,
        "canRead": access.read,
        "canWrite": access.write,
    })))
}

/// `DELETE /api/kv/{workflow}/permissions/{table}/{grantee}`
pub(super) async fn revoke(
    State(app): State<AppState>,
    Path((workflow, table, grantee)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    acting_as(&workflow)?;
    let (t, g) = (table.clone(), grantee.clone());
    blocking(move || Ok(app.kv.revoke(&workflow, &t, &g)?)).await?;
    Ok(Json(json!({ "table": table, "workflowId": grantee, "revoked": true })))
}
