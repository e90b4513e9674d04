// The `kv` import as componentize-js presents it, over an in-memory store:
// u64/s64 as BigInt, options as undefined, records in camelCase, and errors
// thrown as an Error whose `payload` is the WIT error value. No permissions:
// every table belongs to the caller. Page size: `limit`, else 2 (small, so
// tests see cursors).

class ComponentError extends Error {
  constructor(payload) {
    super(`${String(payload)} (see error.payload)`);
    this.payload = payload;
  }
}

/** table → Map<key, { value, createdAt, updatedAt, version, expiresAt }> */
export const tables = new Map();
let clock = 1000n;
let versions = 0n;

export function reset() {
  tables.clear();
  versions = 0n;
}

const fail = (tag, val) => {
  throw new ComponentError({ tag, val });
};

function checkU64(name, v) {
  if (v !== undefined && typeof v !== "bigint") throw new TypeError(`${name} must be a BigInt (u64), got ${typeof v}`);
}

function table(name) {
  const t = tables.get(name);
  if (!t) fail("not-found", `table "${name}" does not exist`);
  return t;
}

function entry(t, name, key) {
  const e = table(t).get(key);
  if (!e) fail("not-found", `key "${key}" not found in table "${name}"`);
  return e;
}

function write(name, key, value, ttlMs) {
  checkU64("ttl-ms", ttlMs);
  if (key.includes("/")) fail("invalid-input", `key "${key}" contains '/'`);
  try {
    JSON.parse(value);
  } catch {
    fail("invalid-input", `the value for key "${key}" is not JSON`);
  }
  if (!tables.has(name)) tables.set(name, new Map());
  const t = tables.get(name);
  const old = t.get(key);
  clock += 1n;
  versions += 1n;
  t.set(key, {
    value,
    createdAt: old?.createdAt ?? clock,
    updatedAt: clock,
    version: versions,
    expiresAt: ttlMs === undefined ? undefined : clock + ttlMs,
  });
  return versions;
}

export function get(name, key) {
  return entry(name, name, key).value;
}

export function getItem(name, key) {
  const e = entry(name, name, key);
  return { key, value: e.value, createdAt: e.createdAt, updatedAt: e.updatedAt, version: e.version, expiresAt: e.expiresAt };
}

export function set(name, key, value, ttlMs) {
  return write(name, key, value, ttlMs);
}

export function setIf(name, key, value, expectedVersion, ttlMs) {
  checkU64("expected-version", expectedVersion);
  const current = tables.get(name)?.get(key);
  if (expectedVersion === undefined && current) fail("conflict", `exists (version ${current.version}); expected it absent`);
  if (expectedVersion !== undefined && current?.version !== expectedVersion) fail("conflict", "version mismatch");
  return write(name, key, value, ttlMs);
}

export function increment(name, key, delta) {
  // componentize-js 0.23 traps lowering a negative s64 argument (ComponentizeJS#343).
  if (delta < 0n) throw new Error("trap: a negative s64 argument to an import");
  return add(name, key, delta);
}

function add(name, key, delta) {
  if (typeof delta !== "bigint") throw new TypeError("delta must be a BigInt (s64)");
  const current = tables.get(name)?.get(key);
  const now = current ? BigInt(JSON.parse(current.value)) : 0n;
  write(name, key, String(now + delta), undefined);
  return now + delta;
}

function del(name, key) {
  entry(name, name, key);
  tables.get(name).delete(key);
}
export { del as delete };

export function batch(writes) {
  const saved = new Map([...tables].map(([n, t]) => [n, new Map(t)]));
  const done = [];
  for (const [index, w] of writes.entries()) {
    try {
      const v = w.val;
      if (w.tag === "set") done.push({ tag: "set", val: set(v.table, v.key, v.value, v.ttlMs) });
      else if (w.tag === "set-if") done.push({ tag: "set-if", val: setIf(v.table, v.key, v.value, v.expectedVersion, v.ttlMs) });
      else if (w.tag === "delete") (del(v.table, v.key), done.push({ tag: "deleted" }));
      else done.push({ tag: "incremented", val: add(v.table, v.key, v.delta) });
    } catch (err) {
      tables.clear();
      for (const [n, t] of saved) tables.set(n, t);
      throw new ComponentError({ index, error: err.payload });
    }
  }
  return done;
}

export function listTables() {
  return [...tables.keys()].sort();
}

function page(name, options) {
  for (const field of ["prefix", "limit", "cursor"]) {
    if (!(field in options)) throw new TypeError(`list-options needs ${field}`);
  }
  const keys = [...table(name).keys()]
    .sort()
    .filter((k) => (options.prefix === undefined || k.startsWith(options.prefix)) && (options.cursor === undefined || k > options.cursor));
  const limit = options.limit ?? 2;
  const taken = keys.slice(0, limit);
  return { keys: taken, cursor: keys.length > limit ? taken.at(-1) : undefined };
}

export function listKeys(name, options) {
  return page(name, options);
}

export function listItems(name, options) {
  const { keys, cursor } = page(name, options);
  return { items: keys.map((k) => getItem(name, k)), cursor };
}

export function listPermissions(name) {
  table(name);
  return [{ workflowId: "me", canRead: true, canWrite: true, isOwner: true }];
}

export const grants = [];

export function grantPermission(name, workflowId, canRead, canWrite) {
  table(name);
  grants.push({ name, workflowId, canRead, canWrite });
}

export function revokePermission(name, workflowId) {
  table(name);
  grants.push({ name, workflowId, revoked: true });
}

export function dropTable(name) {
  table(name);
  tables.delete(name);
}
