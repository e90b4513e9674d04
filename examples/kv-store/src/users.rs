//! `POST /users`: create, read, update, delete and list users in table `users`.
//!
//! The body names an `action` and carries the fields that action needs:
//!
//! ```json
//! {"action": "create-user", "userId": "user-123", "name": "John Doe", "email": "john@example.com"}
//! ```
//!
//! Requests run side by side, so the writes here are conditional: `create-user`
//! writes only if the id is free, and `update-user` only if the user is still the
//! version it read (see [`Kv::set_if`](floww::Kv::set_if)). Plain `get` then
//! `set` would let two requests both see "no such user", or both change the
//! same old copy, and one of them would silently overwrite the other.

use floww::{Context, Error, Expected, Item, KvError, ListOptions, Request, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::now_ms;

/// The table every user lives in, keyed by user id.
const USERS: &str = "users";

const ACTIONS: [&str; 7] =
    ["create-user", "get-user", "update-user", "delete-user", "list-users", "page-users", "list-tables"];

/// Users per page of `page-users` when the body gives no `limit`.
const DEFAULT_PAGE_SIZE: u32 = 10;

/// How often `update-user` reads and tries again when another request changed
/// the user between its read and its write.
const UPDATE_ATTEMPTS: usize = 5;

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
    /// `page-users`: users per page (1 to 10000).
    limit: Option<u32>,
    /// `page-users`: the `nextCursor` of the previous page.
    cursor: Option<String>,
}

pub fn handle(ctx: &Context, req: Request) -> Result<Response> {
    let body: Body = req.json()?;
    match body.action.as_deref() {
        Some("create-user") => create(ctx, body),
        Some("get-user") => get(ctx, body),
        Some("update-user") => update(ctx, body),
        Some("delete-user") => delete(ctx, body),
        Some("list-users") => list(ctx),
        Some("page-users") => page(ctx, body),
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

    let user = User { id, name, email, created_at: now_ms(), updated_at: None };
    // `set_if` with `Expected::Absent` checks that the id is free and stores the
    // user (serialized to JSON) in one step: of two requests creating the same
    // id, exactly one succeeds. The first write creates table `users`.
    match ctx.kv.set_if(USERS, &user.id, &user, Expected::Absent) {
        Ok(_version) => {}
        Err(KvError::Conflict(_)) => return Err(Error::conflict(format!("user `{}` already exists", user.id))),
        Err(err) => return Err(err.into()),
    }
    floww::info!("created user {}", user.id);
    Ok(Response::json(201, &json!({ "created": true, "user": user })))
}

fn get(ctx: &Context, body: Body) -> Result<Response> {
    let id = required(body.user_id, "userId")?;
    let user = load(ctx, &id)?.value;
    Ok(Response::json(200, &json!({ "user": user })))
}

fn update(ctx: &Context, body: Body) -> Result<Response> {
    let id = required(body.user_id, "userId")?;
    if body.name.is_none() && body.email.is_none() {
        return Err(Error::bad_request("update-user needs `name`, `email` or both"));
    }
    // Read, change, write back, but write only if the user is still the
    // version we read; if another request changed it in between, start over
    // from its version instead of overwriting its change.
    for _ in 0..UPDATE_ATTEMPTS {
        let Item { value: mut user, version, .. } = load(ctx, &id)?;
        if let Some(name) = &body.name {
            user.name = name.clone();
        }
        if let Some(email) = &body.email {
            user.email = email.clone();
        }
        user.updated_at = Some(now_ms());
        match ctx.kv.set_if(USERS, &id, &user, Expected::Version(version)) {
            Ok(_version) => return Ok(Response::json(200, &json!({ "updated": true, "user": user }))),
            // Changed (or deleted: the next read says so) since we read it.
            Err(KvError::Conflict(_)) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(Error::conflict(format!("user `{id}` kept changing while we updated it; try again")))
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
    // Items come sorted by key, each with its value and metadata. `list_items`
    // fetches page after page until it has them all; `page-users` returns one.
    let users: Vec<User> = match ctx.kv.list_items::<User>(USERS) {
        Ok(items) => items.into_iter().map(|item| item.value).collect(),
        // No user was ever created, so the table does not exist yet.
        Err(KvError::NotFound(_)) => Vec::new(),
        Err(err) => return Err(err.into()),
    };
    Ok(Response::json(200, &json!({ "count": users.len(), "users": users })))
}

fn page(ctx: &Context, body: Body) -> Result<Response> {
    // One page, sorted by key. The host's `cursor` says where the next page
    // starts; the caller sends it back as `cursor` and gets `null` at the end.
    let options =
        ListOptions { limit: Some(body.limit.unwrap_or(DEFAULT_PAGE_SIZE)), cursor: body.cursor, prefix: None };
    let (users, next_cursor): (Vec<User>, Option<String>) = match ctx.kv.list_items_page::<User>(USERS, &options) {
        Ok(page) => (page.entries.into_iter().map(|item| item.value).collect(), page.cursor),
        Err(KvError::NotFound(_)) => (Vec::new(), None),
        // A limit of 0 or over 10000 is a 400 from the store, passed on.
        Err(err) => return Err(err.into()),
    };
    Ok(Response::json(200, &json!({ "users": users, "count": users.len(), "nextCursor": next_cursor })))
}

fn list_tables(ctx: &Context) -> Result<Response> {
    // The tables this workflow owns or was granted, sorted by name.
    let tables = ctx.kv.list_tables()?;
    Ok(Response::json(200, &json!({ "count": tables.len(), "tables": tables })))
}

/// Reads a user with its version; a missing one is a 404 that says which.
fn load(ctx: &Context, id: &str) -> Result<Item<User>> {
    match ctx.kv.get_item(USERS, id) {
        Ok(item) => Ok(item),
        Err(KvError::NotFound(_)) => Err(Error::not_found(format!("user `{id}` not found"))),
        Err(err) => Err(err.into()),
    }
}

/// The value of a field the action needs, or a 400 naming it.
fn required(value: Option<String>, field: &str) -> Result<String> {
    value.ok_or_else(|| Error::bad_request(format!("missing field `{field}`")))
}
