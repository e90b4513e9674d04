//! A test handler that runs one KV operation, described by the request body, and
//! reports what the host answered. The `probe-*` guests serve it under different
//! workflow ids so integration tests can act as an owner, a reader, and so on.
//!
//! Body: `{"op": …, "table": …, "key": …, "value": <JSON>, "raw": "<JSON text>",
//! "workflowId": …, "read": bool, "write": bool}`; only the fields the op uses
//! matter, and a missing name is sent as `""` so the host's checks are exercised.
//!
//! | op                 | call                                                    |
//! |--------------------|---------------------------------------------------------|
//! | `get`              | `get::<Value>(table, key)`                              |
//! | `set`              | `set_json(table, key, raw)` if `raw`, else `set(value)` |
//! | `delete`           | `delete(table, key)`                                    |
//! | `list-tables`      | `list_tables()`                                         |
//! | `list-keys`        | `list_keys(table)`                                      |
//! | `list-items`       | `list_items::<Value>(table)`                            |
//! | `list-permissions` | `list_permissions(table)`                               |
//! | `grant`            | `grant_permission(table, workflowId, {read, write})`    |
//! | `revoke`           | `revoke_permission(table, workflowId)`                  |
//!
//! Success is 200 `{"ok": <result>}` (`null` for calls that return nothing). A
//! `KvError` is its status code with `{"error": <message>, "kind": <kind>}`.

use floww::{Access, Context, Error, KvError, Request, Response};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    op: String,
    #[serde(default)]
    table: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: Value,
    raw: Option<String>,
    #[serde(default)]
    workflow_id: String,
    #[serde(default)]
    read: bool,
    #[serde(default)]
    write: bool,
}

/// Runs the operation the body describes.
pub fn handle(ctx: &Context, req: Request) -> floww::Result<Response> {
    let probe: Probe = req.json()?;
    let outcome = run(ctx, &probe).ok_or_else(|| {
        Error::bad_request(format!(
            "unknown op `{}`: use get, set, delete, list-tables, list-keys, list-items, \
             list-permissions, grant or revoke",
            probe.op
        ))
    })?;
    Ok(match outcome {
        Ok(result) => Response::json(200, &json!({ "ok": result })),
        Err(err) => Response::json(err.status_code(), &json!({ "error": err.to_string(), "kind": err.kind() })),
    })
}

/// The KV call's result as JSON, or `None` for an unknown op.
fn run(ctx: &Context, p: &Probe) -> Option<Result<Value, KvError>> {
    let kv = &ctx.kv;
    let (table, key) = (p.table.as_str(), p.key.as_str());
    let result = match p.op.as_str() {
        "get" => kv.get::<Value>(table, key),
        "set" => match &p.raw {
            Some(raw) => kv.set_json(table, key, raw).map(unit),
            None => kv.set(table, key, &p.value).map(unit),
        },
        "delete" => kv.delete(table, key).map(unit),
        "list-tables" => kv.list_tables().map(to_json),
        "list-keys" => kv.list_keys(table).map(to_json),
        "list-items" => kv.list_items::<Value>(table).map(to_json),
        "list-permissions" => kv.list_permissions(table).map(to_json),
        "grant" => {
            let access = Access { read: p.read, write: p.write };
            kv.grant_permission(table, &p.workflow_id, access).map(unit)
        }
        "revoke" => kv.revoke_permission(table, &p.workflow_id).map(unit),
        _ => return None,
    };
    Some(result)
}

fn unit(_: ()) -> Value {
    Value::Null
}

fn to_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_else(|err| json!({ "unserializable": err.to_string() }))
}
