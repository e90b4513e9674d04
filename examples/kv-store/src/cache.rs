//! `POST /cache`: keep the result of an expensive computation for five minutes.
//!
//! `{"key": "api-response"}` answers from the cache while the stored entry is
//! fresh, and computes (and stores) a new value otherwise.
//! `{"key": "api-response", "invalidate": true}` drops the entry.

use floww::{Context, KvError, Request, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{now_ms, since_epoch};

const CACHE: &str = "cache";
const TIME_TO_LIVE_MS: u64 = 5 * 60 * 1000;

#[derive(Debug, Deserialize)]
struct Body {
    key: String,
    #[serde(default)]
    invalidate: bool,
}

/// What table `cache` holds under each key: the value and when it goes stale.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    value: Value,
    cached_at: u64,
    expires_at: u64,
}

/// The response: the entry, and whether it came from the cache.
#[derive(Debug, Serialize)]
struct Answer {
    key: String,
    cached: bool,
    #[serde(flatten)]
    entry: Entry,
}

pub fn handle(ctx: &Context, req: Request) -> Result<Response> {
    let Body { key, invalidate } = req.json()?;
    if invalidate {
        // Deleting a key that is not there is `KvError::NotFound`: for a cache
        // that just means there was nothing to drop.
        let invalidated = match ctx.kv.delete(CACHE, &key) {
            Ok(()) => true,
            Err(KvError::NotFound(_)) => false,
            Err(err) => return Err(err.into()),
        };
        return Ok(Response::json(200, &json!({ "key": key, "invalidated": invalidated })));
    }

    // The store keeps values until they are deleted; freshness is ours to check.
    let now = now_ms();
    if let Some(entry) = ctx.kv.get_optional::<Entry>(CACHE, &key)?
        && now < entry.expires_at
    {
        let answer = Answer { key, cached: true, entry };
        return Ok(Response::json(200, &answer));
    }

    let entry = Entry { value: expensive_computation(), cached_at: now, expires_at: now + TIME_TO_LIVE_MS };
    ctx.kv.set(CACHE, &key, &entry)?;
    let answer = Answer { key, cached: false, entry };
    Ok(Response::json(200, &answer))
}

/// Stands in for a slow API call. The nanosecond timestamp makes every result
/// different, so a cache hit is easy to tell from a recomputation.
fn expensive_computation() -> Value {
    let since_epoch = since_epoch();
    json!({
        "computedAt": u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX),
        "nonce": u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX),
    })
}
