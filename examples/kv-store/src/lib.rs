//! The KV store walkthrough, as a Floww workflow.
//!
//! Four webhooks, each showing one way to use the key-value store:
//!
//! | webhook                  | table      | pattern                                            |
//! |--------------------------|------------|----------------------------------------------------|
//! | `POST /users`            | `users`    | create, read, update, delete, list, page           |
//! | `POST /sessions/create`  | `sessions` | a record that expires after a day (TTL)            |
//! | `POST /counter`          | `counters` | an atomic increment                                |
//! | `POST /cache`            | `cache`    | keep a computed value for five minutes (TTL)       |
//!
//! # Tables, keys and values
//!
//! The store holds **tables**; a table holds **keys**; a key holds one JSON
//! **value** (at most 1 MiB):
//!
//! ```text
//! ctx.kv.set("users", "user-123", &user)?;
//!             ^^^^^    ^^^^^^^^    ^^^^
//!             table    key         value (anything serde can serialize)
//! ```
//!
//! The first write to a table creates it, and the workflow that made it owns it:
//! no other workflow can read or write it unless the owner grants that (see the
//! `shared-table-*` examples).
//!
//! # Types
//!
//! `get::<T>` and `set` go through serde, so a Rust struct is the schema of a
//! value, like a TypeScript type would be.
//!
//! # Errors
//!
//! Every KV call returns `Result<_, KvError>`. A handler can `?` it: the caller
//! then gets the error's status (404 not found, 403 permission denied, 400
//! invalid input, 413 value too large, 409 conflict, 500 internal) and message as
//! JSON. Or it can `match` the error to handle a case itself, as `delete-user`
//! and `/cache` do with `KvError::NotFound`.
//!
//! # Concurrent requests
//!
//! Each KV call is atomic; a sequence of calls is not. Requests run side by
//! side, so reading a value and writing back a changed copy can lose an update
//! made in between. The handlers avoid that: `/counter` uses `increment` (one
//! atomic step), `create-user` and `update-user` use `set_if`, which writes
//! only if the item is still absent, or still the version that was read.
//!
//! # Expiry and paging
//!
//! `/sessions/create` and `/cache` write with a time-to-live (`set_with_ttl`):
//! the store drops the item when it runs out. `page-users` lists users a page at
//! a time with `list_items_page` and a cursor.

mod cache;
mod counter;
mod sessions;
mod users;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

floww::workflow! {
    "/users" => users::handle,
    "/sessions/create" => sessions::create,
    "/counter" => counter::increment,
    "/cache" => cache::handle,
}

/// Time since the Unix epoch, from the clock the host gives the workflow.
fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Milliseconds since the Unix epoch: the unit of every timestamp we store.
fn now_ms() -> u64 {
    u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX)
}
