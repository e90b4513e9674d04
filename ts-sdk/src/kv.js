// The key-value store, as the running workflow sees it: `ctx.kv`.
//
// Every method calls one function of the WIT `floww:workflow/kv` import. The
// host knows which workflow is running, so none takes an identity. Values
// cross as JSON text: `set` stringifies, `get` parses. WIT u64/s64 numbers
// (versions, times, counters) arrive as BigInt and are given to the workflow
// as numbers (exact up to 2^53); numbers going out are sent as BigInt.
//
// The import functions are synchronous; the methods are `async` so that a
// workflow reads like the seed's (`await ctx.kv.get(…)`) and stays source-
// compatible if the host's calls become asynchronous.
//
// Errors: the import throws (componentize-js) an Error whose `payload` is the
// WIT `kv-error` `{ tag, val }`; every method rethrows it as a `KVError`.

import * as wit from "floww:workflow/kv@0.1.0";
import { BatchError, KVError, batchErrorFrom, describe, kvErrorFrom } from "./errors.js";

/** Calls a kv import, turning its thrown error into a KVError. */
function call(fn, ...args) {
  try {
    return fn(...args);
  } catch (err) {
    throw kvErrorFrom(err);
  }
}

/** The JSON text of `value`, or an `invalid-input` KVError naming the key and table. */
function encode(table, key, value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw cannotSerialize(table, key, describe(err));
  }
  if (text === undefined) throw cannotSerialize(table, key, `${typeof value} has no JSON form`);
  return text;
}

function cannotSerialize(table, key, reason) {
  return new KVError("invalid-input", `the value for key \`${key}\` in table \`${table}\` cannot be serialized to JSON: ${reason}`);
}

/** Parses the JSON text stored under `table`/`key`. */
function decode(table, key, text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new KVError("decode", `the value of key \`${key}\` in table \`${table}\` is not JSON: ${describe(err)}`);
  }
}

/** A WIT u64/s64 (BigInt) as a number. */
const num = (big) => (big === undefined || big === null ? null : Number(big));

/** A time-to-live in milliseconds as the WIT `option<u64>`: rounded down; none when not given. */
function ttl(ttlMs) {
  if (ttlMs === undefined || ttlMs === null) return undefined;
  const ms = Math.floor(Number(ttlMs));
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new KVError("invalid-input", `ttlMs must be a whole number of milliseconds, not ${String(ttlMs)}`);
  }
  return BigInt(ms);
}

/** An expected version as the WIT `option<u64>`: null or undefined mean "must be absent". */
function expected(version) {
  if (version === undefined || version === null) return undefined;
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new KVError("invalid-input", `expectedVersion must be a version number or null, not ${String(version)}`);
  }
  return BigInt(version);
}

/** A delta as the WIT s64: an integer number (exact up to 2^53) or a BigInt. */
function delta(by) {
  if (typeof by === "bigint") return by;
  if (!Number.isSafeInteger(by)) {
    throw new KVError("invalid-input", `the increment must be an integer (a bigint beyond 2^53), not ${String(by)}`);
  }
  return BigInt(by);
}

/**
 * Adds `by` (a BigInt) to the counter and returns the sum (a BigInt).
 *
 * componentize-js 0.23 traps when a negative s64 is passed straight to an
 * import (bytecodealliance/ComponentizeJS#343), but lowers one inside a
 * record correctly. So a negative delta goes as a batch of one increment,
 * which the host applies the same way (atomically, with the same rights).
 */
function incrementBy(table, key, by) {
  if (by >= 0n) return call(wit.increment, table, key, by);
  let done;
  try {
    done = wit.batch([{ tag: "increment", val: { table, key, delta: by } }]);
  } catch (err) {
    throw batchErrorFrom(err).error;
  }
  return done[0].val;
}

/** A WIT item with its value parsed and its numbers as numbers. */
function item(table, raw) {
  return {
    key: raw.key,
    value: decode(table, raw.key, raw.value),
    createdAt: Number(raw.createdAt),
    updatedAt: Number(raw.updatedAt),
    version: Number(raw.version),
    expiresAt: num(raw.expiresAt),
  };
}

/** The WIT `list-options` record for `{ prefix, limit, cursor }`. */
function listOptions(options = {}) {
  const { prefix, limit, cursor } = options ?? {};
  if (limit !== undefined && limit !== null && (!Number.isInteger(limit) || limit < 0 || limit > 0xffffffff)) {
    throw new KVError("invalid-input", `limit must be a whole number, not ${String(limit)}`);
  }
  return { prefix: prefix ?? undefined, limit: limit ?? undefined, cursor: cursor ?? undefined };
}

/** A write of a batch (or of `apply`) as the WIT `write` variant. */
function toWitWrite(write) {
  const { table, key } = write;
  switch (write.op) {
    case "set":
    case "set-if": {
      const value = "json" in write && write.json !== undefined ? String(write.json) : encode(table, key, write.value);
      if (write.op === "set") return { tag: "set", val: { table, key, value, ttlMs: ttl(write.ttlMs) } };
      const expectedVersion = expected(write.expectedVersion);
      return { tag: "set-if", val: { table, key, value, expectedVersion, ttlMs: ttl(write.ttlMs) } };
    }
    case "delete":
      return { tag: "delete", val: { table, key } };
    case "increment":
      return { tag: "increment", val: { table, key, delta: delta(write.delta ?? 1) } };
    default:
      throw new KVError("invalid-input", `unknown write op ${JSON.stringify(write?.op)}: use set, set-if, delete or increment`);
  }
}

/** What one write did, from the WIT `written` variant. */
function fromWitWritten(written) {
  switch (written.tag) {
    case "set":
      return { op: "set", version: Number(written.val) };
    case "set-if":
      return { op: "set-if", version: Number(written.val) };
    case "deleted":
      return { op: "delete" };
    default:
      return { op: "increment", value: Number(written.val) };
  }
}

/** Builders for the writes of `kv.batch` and `kv.apply`; plain objects work as well. */
export const Write = Object.freeze({
  set: (table, key, value, options = {}) => ({ op: "set", table, key, value, ttlMs: options?.ttlMs }),
  setJson: (table, key, json, options = {}) => ({ op: "set", table, key, json, ttlMs: options?.ttlMs }),
  setIf: (table, key, value, expectedVersion, options = {}) => ({
    op: "set-if",
    table,
    key,
    value,
    expectedVersion,
    ttlMs: options?.ttlMs,
  }),
  setIfJson: (table, key, json, expectedVersion, options = {}) => ({
    op: "set-if",
    table,
    key,
    json,
    expectedVersion,
    ttlMs: options?.ttlMs,
  }),
  delete: (table, key) => ({ op: "delete", table, key }),
  increment: (table, key, by = 1) => ({ op: "increment", table, key, delta: by }),
});

/** The key-value store, acting as the running workflow. Reached as `ctx.kv`. */
export class Kv {
  /** The value under `key`, parsed from JSON. A missing table or key throws KVError 404. */
  async get(table, key) {
    return decode(table, key, call(wit.get, table, key));
  }

  /** Like `get`, but a missing table or key gives `undefined`. */
  async getOptional(table, key) {
    try {
      return await this.get(table, key);
    } catch (err) {
      if (err instanceof KVError && err.kind === "not-found") return undefined;
      throw err;
    }
  }

  /** The JSON text under `key`, exactly as stored. */
  async getJson(table, key) {
    return call(wit.get, table, key);
  }

  /** The item under `key`: value, version, times and expiry. */
  async getItem(table, key) {
    return item(table, call(wit.getItem, table, key));
  }

  /** Like `getItem`, but a missing table or key gives `undefined`. */
  async getItemOptional(table, key) {
    try {
      return await this.getItem(table, key);
    } catch (err) {
      if (err instanceof KVError && err.kind === "not-found") return undefined;
      throw err;
    }
  }

  /** Stores `value` as JSON under `key`; returns the item's new version. */
  async set(table, key, value, options = {}) {
    return Number(call(wit.set, table, key, encode(table, key, value), ttl(options?.ttlMs)));
  }

  /** Stores JSON text under `key` as it is (the host checks it); returns the new version. */
  async setJson(table, key, json, options = {}) {
    return Number(call(wit.set, table, key, String(json), ttl(options?.ttlMs)));
  }

  /** Stores `value` only if the item has `expectedVersion` (null: only if absent); returns the new version. */
  async setIf(table, key, value, expectedVersion, options = {}) {
    const text = encode(table, key, value);
    return Number(call(wit.setIf, table, key, text, expected(expectedVersion), ttl(options?.ttlMs)));
  }

  /** Adds `by` (default 1) to the integer under `key`, atomically; returns the sum. */
  async increment(table, key, by = 1) {
    return Number(incrementBy(table, key, delta(by)));
  }

  /** Removes `key`; a missing key throws KVError 404. */
  async delete(table, key) {
    call(wit.delete, table, key);
  }

  /** Runs one write alone, through the single-write call that matches it. */
  async apply(write) {
    const { tag, val } = toWitWrite(write);
    switch (tag) {
      case "set":
        return { op: "set", version: Number(call(wit.set, val.table, val.key, val.value, val.ttlMs)) };
      case "set-if": {
        const version = call(wit.setIf, val.table, val.key, val.value, val.expectedVersion, val.ttlMs);
        return { op: "set-if", version: Number(version) };
      }
      case "delete":
        call(wit.delete, val.table, val.key);
        return { op: "delete" };
      default:
        return { op: "increment", value: Number(incrementBy(val.table, val.key, val.delta)) };
    }
  }

  /** Applies `writes` in order, all or none; a failure throws a BatchError naming the write. */
  async batch(writes) {
    const witWrites = writes.map((write, index) => {
      try {
        return toWitWrite(write);
      } catch (err) {
        // Nothing was sent: the batch fails at this write, as the host would fail it.
        throw new BatchError(index, err instanceof KVError ? err : kvErrorFrom(err));
      }
    });
    let done;
    try {
      done = wit.batch(witWrites);
    } catch (err) {
      throw batchErrorFrom(err);
    }
    return done.map(fromWitWritten);
  }

  /** The tables this workflow owns or holds a grant on, sorted. */
  async listTables() {
    return call(wit.listTables);
  }

  /** Every key of `table` (only those starting with `prefix`, if given), sorted; fetched page by page. */
  async listKeys(table, options = {}) {
    const keys = [];
    for await (const key of this.keys(table, options?.prefix)) keys.push(key);
    return keys;
  }

  /** One page of `table`'s keys: `{ keys, cursor }`; `cursor` is null on the last page. */
  async listKeysPage(table, options = {}) {
    const page = call(wit.listKeys, table, listOptions(options));
    return { keys: page.keys, cursor: page.cursor ?? null };
  }

  /** Walks the keys of `table` that start with `prefix`, fetching pages as it goes. */
  async *keys(table, prefix) {
    let cursor;
    do {
      const page = await this.listKeysPage(table, { prefix: prefix || undefined, cursor });
      yield* page.keys;
      cursor = page.cursor;
    } while (cursor !== null);
  }

  /** Every item of `table` (only keys starting with `prefix`, if given), sorted by key. */
  async listItems(table, options = {}) {
    const items = [];
    for await (const entry of this.items(table, options?.prefix)) items.push(entry);
    return items;
  }

  /** One page of `table`'s items: `{ items, cursor }`; `cursor` is null on the last page. */
  async listItemsPage(table, options = {}) {
    const page = call(wit.listItems, table, listOptions(options));
    return { items: page.items.map((raw) => item(table, raw)), cursor: page.cursor ?? null };
  }

  /** Walks the items of `table` whose keys start with `prefix`, fetching pages as it goes. */
  async *items(table, prefix) {
    let cursor;
    do {
      const page = await this.listItemsPage(table, { prefix: prefix || undefined, cursor });
      yield* page.items;
      cursor = page.cursor;
    } while (cursor !== null);
  }

  /** Who may use `table`: the owner first, then every grant. */
  async listPermissions(table) {
    return call(wit.listPermissions, table).map((p) => ({
      workflowId: p.workflowId,
      canRead: p.canRead,
      canWrite: p.canWrite,
      isOwner: p.isOwner,
    }));
  }

  /** Gives workflow `workflowId` exactly `{ read, write }` on `table`, replacing any earlier grant. */
  async grantPermission(table, workflowId, access = {}) {
    call(wit.grantPermission, table, workflowId, Boolean(access?.read), Boolean(access?.write));
  }

  /** Removes the grant of `workflowId` on `table`. */
  async revokePermission(table, workflowId) {
    call(wit.revokePermission, table, workflowId);
  }

  /** Removes a table this workflow owns, with every item and grant in it. */
  async dropTable(table) {
    call(wit.dropTable, table);
  }
}
