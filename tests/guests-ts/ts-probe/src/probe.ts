// The KV probe: runs one KV operation, described by the request body, and
// reports what the host answered. The twin of tests/guests/kv-probe (read its
// lib.rs for the table of ops): same body, same answers, so one integration
// test can drive a Rust and a TypeScript workflow through every KV operation
// and the permission matrix.
//
// Body: {"op", "table", "key", "value", "raw", "workflowId", "read", "write",
// "ttlMs", "expectedVersion", "delta", "prefix", "limit", "cursor", "writes",
// "lines"}; only the fields the op uses matter, and a missing name is sent as
// "" (a missing delta as 0) so the host's checks are exercised.
//
// Success is 200 {"ok": <result>}. A KVError is its status code with
// {"error": <message>, "kind": <kind>}; a BatchError adds "index", the failed
// write's position from 0. A body the probe can't read (unknown op, bad field
// type) is a 400 {"error": …} without "kind". Like the Rust probe's (serde's),
// every object in an answer has its keys sorted.

import { BatchError, HttpError, KVError, describeJson, json, withSortedKeys, wrongShape, type Context, type Item, type Kv, type Request, type Response, type Write, type Written } from "floww";

/** How often cas-add retries after a conflict before it gives up with that conflict. */
const CAS_RETRIES = 1000;

const OPS = [
  "get", "get-item", "set", "set-if", "increment", "delete", "batch", "list-tables", "list-keys",
  "list-items", "list-permissions", "grant", "revoke", "drop-table", "cas-add", "unsafe-add", "log",
];

type Probe = {
  op: string;
  table: string;
  key: string;
  value: unknown;
  raw?: string;
  workflowId: string;
  read: boolean;
  write: boolean;
  ttlMs?: number;
  expectedVersion?: number;
  delta: number;
  prefix?: string;
  limit?: number;
  cursor?: string;
  writes: ProbeWrite[];
  lines: string[];
};

type ProbeWrite = Pick<Probe, "op" | "table" | "key" | "value" | "raw" | "expectedVersion" | "delta" | "ttlMs">;

/** Runs the operation the body describes. */
export async function handle(ctx: Context, req: Request): Promise<Response> {
  const p = readProbe(req.json());
  if (p.op === "batch") return batch(ctx.kv, p);
  if (p.op === "log") {
    // Each line to the host's log, in order, at info; ok = how many.
    for (const line of p.lines) ctx.log.info(line);
    return ok(p.lines.length);
  }
  if (!OPS.includes(p.op)) {
    throw HttpError.badRequest(`unknown op \`${p.op}\`: use ${OPS.slice(0, -1).join(", ")} or log`);
  }
  try {
    return ok(await run(ctx.kv, p));
  } catch (error) {
    if (!(error instanceof KVError)) throw error;
    return answer(error.statusCode, { error: error.message, kind: error.kind });
  }
}

/** The KV call's result, as JSON. */
async function run(kv: Kv, p: Probe): Promise<unknown> {
  const { table, key } = p;
  switch (p.op) {
    case "get":
      return kv.get(table, key);
    case "get-item":
      return kv.getItem(table, key);
    case "set":
      // null without a TTL (the Rust probe's plain set returns nothing), the version with one.
      if (p.ttlMs === undefined) {
        await (p.raw === undefined ? kv.set(table, key, p.value) : kv.setJson(table, key, p.raw));
        return null;
      }
      return p.raw === undefined
        ? kv.set(table, key, p.value, { ttlMs: p.ttlMs })
        : version(await kv.apply({ op: "set", table, key, json: p.raw, ttlMs: p.ttlMs }));
    case "set-if":
      if (p.raw === undefined && p.ttlMs === undefined) return kv.setIf(table, key, p.value, p.expectedVersion ?? null);
      return version(await kv.apply(toWrite({ ...p, op: "set-if" })));
    case "increment":
      return kv.increment(table, key, p.delta);
    case "delete":
      await kv.delete(table, key);
      return null;
    case "list-tables":
      return kv.listTables();
    case "list-keys":
      return paged(p) ? kv.listKeysPage(table, p) : kv.listKeys(table);
    case "list-items":
      return paged(p) ? kv.listItemsPage(table, p) : kv.listItems(table);
    case "list-permissions":
      return kv.listPermissions(table);
    case "grant":
      await kv.grantPermission(table, p.workflowId, { read: p.read, write: p.write });
      return null;
    case "revoke":
      await kv.revokePermission(table, p.workflowId);
      return null;
    case "drop-table":
      await kv.dropTable(table);
      return null;
    case "cas-add":
      return casAdd(kv, table, key, p.delta);
    default: // "unsafe-add"
      return unsafeAdd(kv, table, key, p.delta);
  }
}

/** batch: the outcome of every write, or the BatchError with its index. */
async function batch(kv: Kv, p: Probe): Promise<Response> {
  const writes = p.writes.map(toWrite);
  try {
    return ok((await kv.batch(writes)).map(outcome));
  } catch (error) {
    if (!(error instanceof BatchError)) throw error;
    return answer(error.statusCode, { error: error.error.message, kind: error.kind, index: error.index });
  }
}

/** Adds `delta` the safe way: read the item and its version, write the sum only if
 * the version is unchanged, and start again when another execution wrote in between. */
async function casAdd(kv: Kv, table: string, key: string, delta: number): Promise<number> {
  for (let retries = 0; ; retries++) {
    const item = await kv.getItemOptional(table, key);
    const current = item === undefined ? 0 : asI64(table, key, item);
    const sum = add(current, delta);
    try {
      await kv.setIf(table, key, sum, item?.version ?? null);
      return sum;
    } catch (error) {
      if (!(error instanceof KVError && error.kind === "conflict" && retries < CAS_RETRIES)) throw error;
    }
  }
}

/** Adds `delta` the racy way: read, add, write back. Two executions that read
 * the same value both write their own sum, and one addition is lost. */
async function unsafeAdd(kv: Kv, table: string, key: string, delta: number): Promise<number> {
  const stored = await kv.getOptional(table, key);
  const current = stored === undefined ? 0 : asI64(table, key, { value: stored });
  const sum = add(current, delta);
  await kv.set(table, key, sum);
  return sum;
}

/** A stored value read as an integer, as the Rust probe's `get_item::<i64>` reads it. */
function asI64(table: string, key: string, item: Pick<Item, "value">): number {
  if (typeof item.value === "number" && Number.isSafeInteger(item.value)) return item.value;
  const reason = `invalid type: ${describeJson(item.value)}, expected i64`;
  throw new KVError("decode", `the value of key \`${key}\` in table \`${table}\` is not a \`i64\`: ${reason}`);
}

/** `current + delta`; beyond an i64 is a conflict, as the host's increment has it. */
function add(current: number, delta: number): number {
  const sum = BigInt(current) + BigInt(delta);
  if (sum > 2n ** 63n - 1n || sum < -(2n ** 63n)) {
    throw new KVError("conflict", `${current} + ${delta} overflows an i64`);
  }
  return Number(sum);
}

/** One write of a batch, or a 400 for an op a batch doesn't have. */
function toWrite(w: ProbeWrite): Write {
  const { table, key, raw, ttlMs } = w;
  const expectedVersion = w.expectedVersion ?? null;
  switch (w.op) {
    case "set":
      return raw === undefined ? { op: "set", table, key, value: w.value, ttlMs } : { op: "set", table, key, json: raw, ttlMs };
    case "set-if":
      return raw === undefined
        ? { op: "set-if", table, key, value: w.value, expectedVersion, ttlMs }
        : { op: "set-if", table, key, json: raw, expectedVersion, ttlMs };
    case "delete":
      return { op: "delete", table, key };
    case "increment":
      return { op: "increment", table, key, delta: w.delta };
    default:
      throw HttpError.badRequest(`unknown write op \`${w.op}\`: use set, set-if, delete or increment`);
  }
}

/** A batch outcome: {"set": v}, {"setIf": v}, {"deleted": true} or {"incremented": n}. */
function outcome(written: Written): unknown {
  switch (written.op) {
    case "set":
      return { set: written.version };
    case "set-if":
      return { setIf: written.version };
    case "delete":
      return { deleted: true };
    case "increment":
      return { incremented: written.value };
  }
}

/** The version a set or set-if reports (anything else as its batch outcome, which a test would show). */
function version(written: Written): unknown {
  return written.op === "set" || written.op === "set-if" ? written.version : outcome(written);
}

/** Whether the probe asks for one page (it gave a prefix, a limit or a cursor) rather than the whole table. */
function paged(p: Probe): boolean {
  return p.prefix !== undefined || p.limit !== undefined || p.cursor !== undefined;
}

function ok(result: unknown): Response {
  return answer(200, { ok: result });
}

/** A JSON answer with every object's keys sorted, as serde_json's `Value` has them. */
function answer(status: number, value: unknown): Response {
  return json(status, withSortedKeys(value));
}

// ---------------------------------------------------------------------------
// Reading the body: the fields of the Rust probe's `Probe`, with its defaults.
// ---------------------------------------------------------------------------

function readProbe(body: unknown): Probe {
  const f = fields(body, "struct Probe");
  return {
    ...readTarget(f),
    workflowId: f.string("workflowId") ?? "",
    read: f.boolean("read"),
    write: f.boolean("write"),
    ttlMs: f.u64("ttlMs"),
    expectedVersion: f.u64("expectedVersion"),
    delta: f.integer("delta"),
    prefix: f.optional("prefix", "a string", isString),
    limit: f.unsigned("limit", "u32", 0xffff_ffff),
    cursor: f.optional("cursor", "a string", isString),
    writes: f.list("writes", readWrite),
    lines: f.list("lines", (line) => {
      if (!isString(line)) throw wrongShape(`invalid type: ${describeJson(line)}, expected a string`);
      return line;
    }),
  };
}

function readWrite(body: unknown): ProbeWrite {
  const f = fields(body, "struct ProbeWrite");
  return {
    ...readTarget(f),
    expectedVersion: f.u64("expectedVersion"),
    delta: f.integer("delta"),
    ttlMs: f.u64("ttlMs"),
  };
}

/**
 * What a probe and each of its writes begin with: the op (which must be
 * there) and what it acts on. Both read these first, in this order: of
 * several wrong fields, the first one read is the one the 400 names.
 */
function readTarget(f: Fields): Pick<Probe, "op" | "table" | "key" | "value" | "raw"> {
  const op = f.string("op");
  if (op === undefined) throw wrongShape("missing field `op`");
  return {
    op,
    table: f.string("table") ?? "",
    key: f.string("key") ?? "",
    value: f.has("value") ? f.raw("value") : null,
    raw: f.optional("raw", "a string", isString),
  };
}

const isString = (v: unknown): v is string => typeof v === "string";

type Fields = ReturnType<typeof fields>;

/** Typed reads of an object's fields; a field of the wrong type is a 400 in serde's words. */
function fields(body: unknown, struct: string) {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw wrongShape(`invalid type: ${describeJson(body)}, expected ${struct}`);
  }
  const o = body as Record<string, unknown>;
  /** A field with a default: missing is the default, null is the wrong type. */
  const required = <T>(name: string, expected: string, is: (v: unknown) => v is T): T | undefined => {
    if (!(name in o)) return undefined;
    if (!is(o[name])) throw wrongShape(`invalid type: ${describeJson(o[name])}, expected ${expected}`);
    return o[name];
  };
  return {
    has: (name: string) => name in o,
    raw: (name: string) => o[name],
    string: (name: string) => required(name, "a string", isString),
    boolean: (name: string) => required(name, "a boolean", (v): v is boolean => typeof v === "boolean") ?? false,
    integer: (name: string) => required(name, "i64", (v): v is number => typeof v === "number" && Number.isSafeInteger(v)) ?? 0,
    /** An optional field: missing or null is none. */
    optional<T>(name: string, expected: string, is: (v: unknown) => v is T): T | undefined {
      return o[name] === null ? undefined : required(name, expected, is);
    },
    /** An optional unsigned integer: an integer out of range is an invalid value, anything else the wrong type. */
    unsigned(name: string, type: string, max: number): number | undefined {
      const value = this.optional(name, type, (v): v is number => typeof v === "number" && Number.isInteger(v));
      if (value !== undefined && (value < 0 || value > max)) {
        throw wrongShape(`invalid value: integer \`${value}\`, expected ${type}`);
      }
      return value;
    },
    /** An optional u64, up to 2^53 - 1: what JavaScript numbers hold exactly. */
    u64(name: string): number | undefined {
      return this.unsigned(name, "u64", Number.MAX_SAFE_INTEGER);
    },
    list<T>(name: string, read: (item: unknown) => T): T[] {
      const list = required(name, "a sequence", Array.isArray);
      return list === undefined ? [] : list.map(read);
    },
  };
}
