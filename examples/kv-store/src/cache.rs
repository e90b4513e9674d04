//! `POST /cache`: keep the result of an expensive computation for five minutes.
//!
//! `{"key": "api-response"}` answers from the cache while the stored entry
//! exists, and computes (and stores) a new value otherwise.
//! `{"key": "api-response", "invalidate": true}` drops the entry.
//!
//! The entry is stored with a time-to-live
//! ([`set_with_ttl`](floww::Kv::set_with_ttl)): five minutes after it was
//! written the store drops it by itself, and a read finds nothing. So there is
//! no expiry time to keep or compare here; the item's metadata says when it was
//! cached (`updated_at`) and when it goes (`expires_at`).

use std::time::Duration;

use floww::{Context, Item, KvError, Request, Response, Result};
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

/// The response: the cached value, whether it came from the cache, and its times
/// in milliseconds since the Unix epoch.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    key: String,
    cached: bool,
    value: Value,
    cached_at: u64,
    expires_at: u64,
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

    // An expired entry is already gone: the store answers NotFound, as it does
    // before the first call. (An entry without an expiry was written by an
    // older version of this workflow; it is recomputed and replaced.)
    match ctx.kv.get_item::<Value>(CACHE, &key) {
        Ok(Item { value, updated_at, expires_at: Some(expires_at), .. }) => {
            let answer = Answer { key, cached: true, value, cached_at: updated_at, expires_at };
            return Ok(Response::json(200, &answer));
        }
        Ok(_) | Err(KvError::NotFound(_)) => {}
        Err(err) => return Err(err.into()),
    }

    let value = expensive_computation();
    let cached_at = now_ms();
    ctx.kv.set_with_ttl(CACHE, &key, &value, Duration::from_millis(TIME_TO_LIVE_MS))?;
    // The host starts the TTL when it stores the entry, a moment after `cached_at`;
    // the next hit reports the host's own times.
    let expires_at = cached_at + TIME_TO_LIVE_MS;
    let answer = Answer { key, cached: false, value, cached_at, expires_at };
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
