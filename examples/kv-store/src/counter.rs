//! `POST /counter`: count page views in table `counters`, key `page-views`.
//!
//! The count changes with one [`Kv::increment`](floww::Kv::increment) call: the
//! host adds to the stored integer atomically, so requests that arrive together
//! each add their own amount. Reading the value, adding to it and writing it
//! back (`get` then `set`) would not: two executions can read the same value,
//! and the second write erases the first one's addition.

use floww::{Context, Error, Request, Response, Result};
use serde::Deserialize;
use serde_json::{Value, json};

const COUNTERS: &str = "counters";
const PAGE_VIEWS: &str = "page-views";

/// `{}` or `{"increment": 5}`; an empty body counts as `{}`.
#[derive(Debug, Default, Deserialize)]
struct Body {
    /// Kept as raw JSON so a non-integer gets a clear message.
    increment: Option<Value>,
}

pub fn increment(ctx: &Context, req: Request) -> Result<Response> {
    let body: Body = if req.body.is_empty() { Body::default() } else { req.json()? };
    let by = match body.increment {
        None => 1,
        Some(value) => value.as_i64().ok_or_else(|| Error::bad_request("`increment` must be an integer"))?,
    };

    // One atomic step: a counter that was never set counts from 0. A sum beyond
    // i64 (or a stored value that isn't an integer) is a 409 Conflict.
    let value = ctx.kv.increment(COUNTERS, PAGE_VIEWS, by)?;
    // `value` is exactly what this call made, so the value before it is
    // `value - by`, even if other requests counted just before or after.
    let previous = value - by;

    Ok(Response::json(200, &json!({ "counter": PAGE_VIEWS, "previous": previous, "value": value })))
}
