//! A test handler that runs one KV operation, described by the request body, and
//! reports what the host answered. The `probe-*` guests serve it under different
//! workflow ids so integration tests can act as an owner, a reader, and so on.
//!
//! Body: `{"op": …, "table": …, "key": …, "value": <JSON>, "raw": "<JSON text>",
//! "workflowId": …, "read": bool, "write": bool, "ttlMs": u64, "expectedVersion":
//! u64 | null, "delta": i64, "prefix": …, "limit": u32, "cursor": …, "writes": […]}`;
//! only the fields the op uses matter, and a missing name is sent as `""` (a
//! missing `delta` as 0) so the host's checks are exercised.
//!
//! | op                 | call                                                  | `ok`                        |
//! |--------------------|-------------------------------------------------------|-----------------------------|
//! | `get`              | `get::<Value>(table, key)`                            | the value                   |
//! | `get-item`         | `get_item::<Value>(table, key)`                       | the item (below)            |
//! | `set`              | `set_json(raw)` if `raw`, else `set(value)`           | `null`                      |
//! | `set` + `ttlMs`    | `set_with_ttl(value)`; with `raw`: `apply(Write::set_json(raw).with_ttl(…))` | the version |
//! | `set-if`           | `set_if(value, expected)`; with `raw` or `ttlMs`: `apply(Write::set_if…)` | the version |
//! | `increment`        | `increment(table, key, delta)`                        | the new integer             |
//! | `delete`           | `delete(table, key)`                                  | `null`                      |
//! | `batch`            | `batch(writes)`                                       | one outcome per write       |
//! | `list-tables`      | `list_tables()`                                       | names                       |
//! | `list-keys`        | `list_keys(table)`                                    | every key                   |
//! | `list-items`       | `list_items::<Value>(table)`                          | every item                  |
//! | `list-keys` + page | with `prefix`, `limit` or `cursor`: `list_keys_page`  | `{"keys": […], "cursor"}`   |
//! | `list-items` + page| with `prefix`, `limit` or `cursor`: `list_items_page` | `{"items": […], "cursor"}`  |
//! | `list-permissions` | `list_permissions(table)`                             | permissions                 |
//! | `grant`            | `grant_permission(table, workflowId, {read, write})`  | `null`                      |
//! | `revoke`           | `revoke_permission(table, workflowId)`                | `null`                      |
//! | `drop-table`       | `drop_table(table)`                                   | `null`                      |
//! | `cas-add`          | `get_item`, then `set_if` its version (`Absent` if missing); retried on conflict | the sum |
//! | `unsafe-add`       | `get_optional`, then `set`: the racy read-modify-write | the sum written            |
//!
//! `expectedVersion` null or absent means [`Expected::Absent`]. An item is
//! `{"key", "value", "createdAt", "updatedAt", "version", "expiresAt"}`.
//!
//! `writes` of a batch: `[{"op": "set" | "set-if" | "delete" | "increment",
//! "table", "key", "value", "raw", "expectedVersion", "delta", "ttlMs"}]`; the
//! outcomes are `{"set": version}`, `{"setIf": version}`, `{"deleted": true}` and
//! `{"incremented": value}`.
//!
//! Success is 200 `{"ok": <result>}`. A `KvError` is its status code with
//! `{"error": <message>, "kind": <kind>}`; a `BatchError` adds `"index"`, the
//! failed write's position from 0. A body the probe can't read (unknown op, bad
//! field type) is a 400 `{"error": …}` without `kind`.

use std::time::Duration;

use floww::{
    Access, BatchError, Context, Error, Expected, KvError, ListOptions, Page, Request, Response, Write, Written,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// How often `cas-add` retries after a conflict before it gives up with that conflict.
const CAS_RETRIES: u32 = 1000;

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
    ttl_ms: Option<u64>,
    expected_version: Option<u64>,
    #[serde(default)]
    delta: i64,
    prefix: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
    #[serde(default)]
    writes: Vec<ProbeWrite>,
    /// Lines for the `log` op.
    #[serde(default)]
    lines: Vec<String>,
}

/// One write of a `batch` op.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProbeWrite {
    op: String,
    #[serde(default)]
    table: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: Value,
    raw: Option<String>,
    expected_version: Option<u64>,
    #[serde(default)]
    delta: i64,
    ttl_ms: Option<u64>,
}

/// Runs the operation the body describes.
pub fn handle(ctx: &Context, req: Request) -> floww::Result<Response> {
    let probe: Probe = req.json()?;
    if probe.op == "batch" {
        return batch(ctx, &probe);
    }
    if probe.op == "log" {
        // Each line to the host's log, in order, at info; ok = how many.
        for line in &probe.lines {
            floww::info!("{line}");
        }
        return Ok(ok(json!(probe.lines.len())));
    }
    let outcome = run(ctx, &probe).ok_or_else(|| {
        Error::bad_request(format!(
            "unknown op `{}`: use get, get-item, set, set-if, increment, delete, batch, list-tables, list-keys, \
             list-items, list-permissions, grant, revoke, drop-table, cas-add, unsafe-add or log",
            probe.op
        ))
    })?;
    Ok(match outcome {
        Ok(result) => ok(result),
        Err(err) => Response::json(err.status_code(), &json!({ "error": err.to_string(), "kind": err.kind() })),
    })
}

/// The KV call's result as JSON, or `None` for an unknown op.
fn run(ctx: &Context, p: &Probe) -> Option<Result<Value, KvError>> {
    let kv = &ctx.kv;
    let (table, key) = (p.table.as_str(), p.key.as_str());
    let ttl = p.ttl_ms.map(Duration::from_millis);
    let result = match p.op.as_str() {
        "get" => kv.get::<Value>(table, key),
        "get-item" => kv.get_item::<Value>(table, key).map(to_json),
        "set" => set(ctx, p, ttl),
        "set-if" => set_if(ctx, p, ttl),
        "increment" => kv.increment(table, key, p.delta).map(to_json),
        "delete" => kv.delete(table, key).map(unit),
        "list-tables" => kv.list_tables().map(to_json),
        "list-keys" => match page_options(p) {
            Some(options) => kv.list_keys_page(table, &options).map(|page| page_json("keys", page)),
            None => kv.list_keys(table).map(to_json),
        },
        "list-items" => match page_options(p) {
            Some(options) => kv.list_items_page::<Value>(table, &options).map(|page| page_json("items", page)),
            None => kv.list_items::<Value>(table).map(to_json),
        },
        "list-permissions" => kv.list_permissions(table).map(to_json),
        "grant" => {
            let access = Access { read: p.read, write: p.write };
            kv.grant_permission(table, &p.workflow_id, access).map(unit)
        }
        "revoke" => kv.revoke_permission(table, &p.workflow_id).map(unit),
        "drop-table" => kv.drop_table(table).map(unit),
        "cas-add" => cas_add(ctx, table, key, p.delta),
        "unsafe-add" => unsafe_add(ctx, table, key, p.delta),
        _ => return None,
    };
    Some(result)
}

/// `batch`: the outcome of every write, or the `BatchError` with its `index`.
fn batch(ctx: &Context, p: &Probe) -> floww::Result<Response> {
    let writes = p.writes.iter().map(to_write).collect::<floww::Result<Vec<Write>>>()?;
    Ok(match ctx.kv.batch(&writes) {
        Ok(done) => ok(done.into_iter().map(outcome).collect()),
        Err(BatchError { index, error }) => Response::json(
            error.status_code(),
            &json!({ "error": error.to_string(), "kind": error.kind(), "index": index }),
        ),
    })
}

fn ok(result: Value) -> Response {
    Response::json(200, &json!({ "ok": result }))
}

/// `set`: `null` without a TTL (the plain `set` returns nothing), the version with one.
fn set(ctx: &Context, p: &Probe, ttl: Option<Duration>) -> Result<Value, KvError> {
    let (kv, table, key) = (&ctx.kv, p.table.as_str(), p.key.as_str());
    match (&p.raw, ttl) {
        (Some(raw), None) => kv.set_json(table, key, raw).map(unit),
        (None, None) => kv.set(table, key, &p.value).map(unit),
        (None, Some(ttl)) => kv.set_with_ttl(table, key, &p.value, ttl).map(to_json),
        (Some(raw), Some(ttl)) => kv.apply(&Write::set_json(table, key, raw.as_str()).with_ttl(ttl)).map(version),
    }
}

/// `set-if`: the new version.
fn set_if(ctx: &Context, p: &Probe, ttl: Option<Duration>) -> Result<Value, KvError> {
    let (kv, table, key) = (&ctx.kv, p.table.as_str(), p.key.as_str());
    let expected = Expected::from(p.expected_version);
    if p.raw.is_none() && ttl.is_none() {
        return kv.set_if(table, key, &p.value, expected).map(to_json);
    }
    let write = match &p.raw {
        Some(raw) => Write::set_if_json(table, key, raw.as_str(), expected),
        None => Write::set_if(table, key, &p.value, expected)?,
    };
    kv.apply(&with_ttl(write, ttl)).map(version)
}

/// The version a set or set-if reports (anything else as its batch outcome,
/// which a test would show).
fn version(written: Written) -> Value {
    match written {
        Written::Set(version) | Written::SetIf(version) => json!(version),
        other => outcome(other),
    }
}

/// Adds `delta` the safe way: read the item and its version, write the sum only
/// if the version is unchanged, and start again when another execution wrote
/// in between. Gives up with the last conflict after [`CAS_RETRIES`] retries.
fn cas_add(ctx: &Context, table: &str, key: &str, delta: i64) -> Result<Value, KvError> {
    let kv = &ctx.kv;
    let mut retries = 0;
    loop {
        let (current, expected) = match kv.get_item::<i64>(table, key) {
            Ok(item) => (item.value, Expected::Version(item.version)),
            Err(KvError::NotFound(_)) => (0, Expected::Absent),
            Err(err) => return Err(err),
        };
        let sum = add(current, delta)?;
        match kv.set_if(table, key, &sum, expected) {
            Ok(_version) => return Ok(json!(sum)),
            Err(KvError::Conflict(_)) if retries < CAS_RETRIES => retries += 1,
            Err(err) => return Err(err),
        }
    }
}

/// Adds `delta` the racy way: read, add, write back. Two executions that read
/// the same value both write their own sum, and one addition is lost.
fn unsafe_add(ctx: &Context, table: &str, key: &str, delta: i64) -> Result<Value, KvError> {
    let current: i64 = ctx.kv.get_optional(table, key)?.unwrap_or(0);
    let sum = add(current, delta)?;
    ctx.kv.set(table, key, &sum)?;
    Ok(json!(sum))
}

/// `current + delta`; an overflow is a conflict, as the host's `increment` has it.
fn add(current: i64, delta: i64) -> Result<i64, KvError> {
    current.checked_add(delta).ok_or_else(|| KvError::Conflict(format!("{current} + {delta} overflows an i64")))
}

/// One write of a batch, or a 400 for an op a batch doesn't have.
fn to_write(w: &ProbeWrite) -> floww::Result<Write> {
    let (table, key) = (w.table.as_str(), w.key.as_str());
    let expected = Expected::from(w.expected_version);
    let write = match (w.op.as_str(), &w.raw) {
        ("set", Some(raw)) => Write::set_json(table, key, raw.as_str()),
        ("set", None) => Write::set(table, key, &w.value)?,
        ("set-if", Some(raw)) => Write::set_if_json(table, key, raw.as_str(), expected),
        ("set-if", None) => Write::set_if(table, key, &w.value, expected)?,
        ("delete", _) => Write::delete(table, key),
        ("increment", _) => Write::increment(table, key, w.delta),
        (other, _) => {
            return Err(Error::bad_request(format!(
                "unknown write op `{other}`: use set, set-if, delete or increment"
            )));
        }
    };
    Ok(with_ttl(write, w.ttl_ms.map(Duration::from_millis)))
}

fn with_ttl(write: Write, ttl: Option<Duration>) -> Write {
    match ttl {
        Some(ttl) => write.with_ttl(ttl),
        None => write,
    }
}

/// A batch outcome: `{"set": v}`, `{"setIf": v}`, `{"deleted": true}` or `{"incremented": n}`.
fn outcome(written: Written) -> Value {
    match written {
        Written::Set(version) => json!({ "set": version }),
        Written::SetIf(version) => json!({ "setIf": version }),
        Written::Deleted => json!({ "deleted": true }),
        Written::Incremented(value) => json!({ "incremented": value }),
    }
}

/// The options of a one-page listing, if the probe gave any; `None` asks for
/// the whole table.
fn page_options(p: &Probe) -> Option<ListOptions> {
    let paged = p.prefix.is_some() || p.limit.is_some() || p.cursor.is_some();
    paged.then(|| ListOptions { prefix: p.prefix.clone(), limit: p.limit, cursor: p.cursor.clone() })
}

/// A page as `{"<entries>": […], "cursor": … | null}`.
fn page_json<T: serde::Serialize>(entries: &str, page: Page<T>) -> Value {
    json!({ entries: to_json(page.entries), "cursor": page.cursor })
}

fn unit(_: ()) -> Value {
    Value::Null
}

fn to_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_else(|err| json!({ "unserializable": err.to_string() }))
}
