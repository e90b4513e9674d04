//! The operator's KV API: inspect and repair the store without writing a
//! guest. Every route acts as the workflow named in the path, under the same
//! rules a guest meets, so the operator sees what that workflow sees.
//!
//! Routes follow the seed platform's KV API: `/api/kv/{workflow}/{table}/{key}`
//! and `/api/kv/{workflow}/permissions/{table}`. That second route shadows
//! single keys of a table named `permissions` (its listing still works).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::admin::blocking;
use super::api_error::ApiError;
use crate::kv::{Access, Item, check_workflow_id};

fn item_json(item: Item) -> Result<Value, ApiError> {
    // Stored values are checked JSON; failing to parse one is a host bug.
    let value: Value = serde_json::from_str(&item.value).map_err(|_| ApiError::Internal)?;
    Ok(json!({ "key": item.key, "value": value, "createdAt": item.created_at, "updatedAt": item.updated_at }))
}

/// The caller the operator acts as, checked before anything runs.
fn acting_as(workflow: &str) -> Result<(), ApiError> {
    Ok(check_workflow_id(workflow)?)
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
}

/// `GET /api/kv/{workflow}/{table}[?values=true]`
pub(super) async fn keys(
    State(app): State<AppState>,
    Path((workflow, table)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    acting_as(&workflow)?;
    if query.values {
        let items = blocking(move || Ok(app.kv.list_items(&workflow, &table)?)).await?;
        let items = items.into_iter().map(item_json).collect::<Result<Vec<_>, _>>()?;
        Ok(Json(json!({ "items": items })))
    } else {
        let keys = blocking(move || Ok(app.kv.list_keys(&workflow, &table)?)).await?;
        Ok(Json(json!({ "keys": keys })))
    }
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
pub(super) struct SetBody {
    value: Value,
}

/// `PUT /api/kv/{workflow}/{table}/{key}` with `{"value": …}`
pub(super) async fn set(
    State(app): State<AppState>,
    Path((workflow, table, key)): Path<(String, String, String)>,
    body: Result<Json<SetBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    acting_as(&workflow)?;
    let Json(SetBody { value }) = body.map_err(|e| ApiError::BadRequest(format!("expected {{\"value\": …}}: {e}")))?;
    let json = value.to_string();
    let (t, k) = (table.clone(), key.clone());
    blocking(move || Ok(app.kv.set(&workflow, &t, &k, &json)?)).await?;
    Ok(Json(json!({ "table": table, "key": key, "stored": true })))
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
    body: Result<Json<GrantBody>, axum::extract::rejection::JsonRejection>,
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
