// `POST /cache`: keep the result of an expensive computation for five minutes.
//
// `{"key": "api-response"}` answers from the cache while the stored entry
// exists, and computes (and stores) a new value otherwise.
// `{"key": "api-response", "invalidate": true}` drops the entry.
//
// The entry is stored with a time-to-live: five minutes after it was written
// the store drops it by itself, and a read finds nothing. So there is no
// expiry time to keep or compare here; the item's metadata says when it was
// cached (`updatedAt`) and when it goes (`expiresAt`).

import { KVError, json, withSortedKeys, type Context, type Request, type Response } from "floww";

import { readBody } from "./body";

const CACHE = "cache";
const TIME_TO_LIVE_MS = 5 * 60 * 1000;

/** What the expensive computation returns. */
type Computed = { computedAt: number; nonce: number };

/** The answer: the cached value, whether it came from the cache, and its times (ms since the Unix epoch). */
type Answer = { key: string; cached: boolean; value: unknown; cachedAt: number; expiresAt: number };

export async function handle(ctx: Context, req: Request): Promise<Response> {
  const { key, invalidate } = readBody(req, "struct Body", { key: "string", invalidate: "boolean" });
  if (invalidate) {
    // Deleting a key that is not there is a KVError 404: for a cache that
    // just means there was nothing to drop.
    let invalidated = true;
    try {
      await ctx.kv.delete(CACHE, key);
    } catch (error) {
      if (!(error instanceof KVError && error.statusCode === 404)) throw error;
      invalidated = false;
    }
    return json(200, withSortedKeys({ key, invalidated }));
  }

  // An expired entry is already gone: the store answers 404, as it does
  // before the first call. (An entry without an expiry was written by an
  // older version of this workflow; it is recomputed and replaced.)
  const item = await ctx.kv.getItemOptional(CACHE, key);
  if (item !== undefined && item.expiresAt !== null) {
    const hit: Answer = { key, cached: true, value: item.value, cachedAt: item.updatedAt, expiresAt: item.expiresAt };
    return json(200, hit);
  }

  const value = expensiveComputation();
  const cachedAt = Date.now();
  await ctx.kv.set(CACHE, key, value, { ttlMs: TIME_TO_LIVE_MS });
  // The store starts the TTL when it stores the entry, a moment after
  // `cachedAt`; the next hit reports the store's own times.
  const miss: Answer = { key, cached: false, value, cachedAt, expiresAt: cachedAt + TIME_TO_LIVE_MS };
  return json(200, miss);
}

/**
 * Stands in for a slow API call. The nonce (nanoseconds since the epoch, as
 * the Rust example's; JavaScript has milliseconds, so the rest is random)
 * makes every result different, so a cache hit is easy to tell from a
 * recomputation.
 */
function expensiveComputation(): Computed {
  const computedAt = Date.now();
  return { computedAt, nonce: computedAt * 1_000_000 + Math.floor(Math.random() * 1_000_000) };
}
