//! `POST /counter`: count page views in table `counters`, key `page-views`.

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

    // Read (a counter that was never set is 0), change, write back. Two
    // executions running at the same moment may both read the same value: the
    // store has no atomic increment.
    let previous: i64 = ctx.kv.get_optional(COUNTERS, PAGE_VIEWS)?.unwrap_or(0);
    let value = previous.checked_add(by).ok_or_else(|| Error::bad_request("the counter would overflow"))?;
    ctx.kv.set(COUNTERS, PAGE_VIEWS, &value)?;

    Ok(Response::json(200, &json!({ "counter": PAGE_VIEWS, "previous": previous, "value": value })))
}
