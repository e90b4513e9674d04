//! `POST /users`: create, read, update, delete and list users in table `users`.
//!
//! The body names an `action` and carries the fields that action needs:
//!
//! ```json
//! {"action": "create-user", "userId": "user-123", "name": "John Doe", "email": "john@example.com"}
//! ```

use floww::{Context, Error, KvError, Request, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::now_ms;

/// The table every user lives in, keyed by user id.
const USERS: &str = "users";

const ACTIONS: [&str; 6] = ["create-user", "get-user", "update-user", "delete-user", "list-users", "list-tables"];

/// A user, as stored under its id in table `users`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    id: String,
    name: String,
    email: String,
    created_at: u64,
    /// Set by the first update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_at: Option<u64>,
}

/// The request body. Which fields are needed depends on the action, so all of
/// them are optional here and [`required`] checks the ones an action uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    action: Option<String>,
    user_id: Option<String>,
    name: Option<String>,
    email: Option<String>,
}

pub fn handle(ctx: &Context, req: Request) -> Result<Response> {
    let body: Body = req.json()?;
    match body.action.as_deref() {
        Some("create-user") => create(ctx, body),
        Some("get-user") => get(ctx, body),
        Some("update-user") => update(ctx, body),
        Some("delete-user") => delete(ctx, body),
        Some("list-users") => list(ctx),
        Some("list-tables") => list_tables(ctx),
        other => {
            let error = match other {
                Some(action) => format!("unknown action `{action}`"),
                None => "missing field `action`".to_string(),
            };
            let body = json!({ "error": error, "validActions": ACTIONS });
            Ok(Response::json(400, &body))
        }
    }
}

fn create(ctx: &Context, body: Body) -> Result<Response> {
    let id = required(body.user_id, "userId")?;
    let name = required(body.name, "name")?;
    let email = required(body.email, "email")?;

    // `get_optional` is `get` with "no such key" (or no such table yet) as `None`.
    // Note: the check and the `set` below are two calls, not one transaction.
    if ctx.kv.get_optional::<User>(USERS, &id)?.is_some() {
        return Err(Error::conflict(format!("user `{id}` already exists")));
    }
    let user = User { id, name, email, created_at: now_ms(), updated_at: None };
    // `set` serializes the struct to JSON. The first set creates table `users`.
    ctx.kv.set(USERS, &user.id, &user)?;
    floww::info!("created user {}", user.id);
    Ok(Response::json(201, &json!({ "created": true, "user": user })))
}

fn get(ctx: &Context, body: Body) -> Result<Response> {
    let id = required(body.user_id, "userId")?;
    let user = load(ctx, &id)?;
    Ok(Response::json(200, &json!({ "user": user })))
}

fn update(ctx: &Context, body: Body) -> Result<Response> {
    let id = required(body.user_id, "userId")?;
    if body.name.is_none() && body.email.is_none() {
        return Err(Error::bad_request("update-user needs `name`, `email` or both"));
    }
    // Read, change, write back: `set` replaces the whole value.
    let mut user = load(ctx, &id)?;
    if let Some(name) = body.name {
        user.name = name;
    }
    if let Some(email) = body.email {
        user.email = email;
    }
    user.updated_at = Some(now_ms());
    ctx.kv.set(USERS, &id, &user)?;
    Ok(Response::json(200, &json!({ "updated": true, "user": user })))
}

fn delete(ctx: &Context, body: Body) -> Result<Response> {
    let id = required(body.user_id, "userId")?;
    // Deleting a missing key is `KvError::NotFound`; here it gets a message of
    // our own. Any other KV error passes through with its own status.
    match ctx.kv.delete(USERS, &id) {
        Ok(()) => Ok(Response::json(200, &json!({ "deleted": true, "userId": id }))),
        Err(KvError::NotFound(_)) => Err(Error::not_found(format!("user `{id}` not found"))),
        Err(err) => Err(err.into()),
    }
}

fn list(ctx: &Context) -> Result<Response> {
    // Items come sorted by key, each with its value and timestamps.
    let users: Vec<User> = match ctx.kv.list_items::<User>(USERS) {
        Ok(items) => items.into_iter().map(|item| item.value).collect(),
        // No user was ever created, so the table does not exist yet.
        Err(KvError::NotFound(_)) => Vec::new(),
        Err(err) => return Err(err.into()),
    };
    Ok(Response::json(200, &json!({ "count": users.len(), "users": users })))
}

fn list_tables(ctx: &Context) -> Result<Response> {
    // The tables this workflow owns or was granted, sorted by name.
    let tables = ctx.kv.list_tables()?;
    Ok(Response::json(200, &json!({ "count": tables.len(), "tables": tables })))
}

/// Reads a user; a missing one is a 404 that says which.
fn load(ctx: &Context, id: &str) -> Result<User> {
    ctx.kv.get_optional(USERS, id)?.ok_or_else(|| Error::not_found(format!("user `{id}` not found")))
}

/// The value of a field the action needs, or a 400 naming it.
fn required(value: Option<String>, field: &str) -> Result<String> {
    value.ok_or_else(|| Error::bad_request(format!("missing field `{field}`")))
}
