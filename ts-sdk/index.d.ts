/**
 * Write Floww workflows in TypeScript.
 *
 * A workflow's entry module (`src/index.ts`) default-exports what
 * {@link workflow} returns: its webhooks, crons and manual triggers with their
 * handlers. Every handler gets a {@link Context} first: `ctx.kv` (the
 * key-value store, acting as this workflow), `ctx.log` and `ctx.secret()`.
 *
 * ```ts
 * import { workflow, json, HttpError, KVError } from "floww";
 *
 * type Note = { id: string; text: string };
 *
 * export default workflow({
 *   webhooks: {
 *     "POST /notes": async (ctx, req) => {
 *       const note = req.json<Note>(); // a body that isn't JSON is a 400
 *       if (!note.id) throw HttpError.badRequest("missing field `id`");
 *       await ctx.kv.set("notes", note.id, note); // a KV failure keeps its status
 *       ctx.log.info(`saved note ${note.id}`);
 *       return json(201, note);
 *     },
 *   },
 * });
 * ```
 *
 * @module
 */

// ---------------------------------------------------------------------------
// Declaring a workflow
// ---------------------------------------------------------------------------

/** The HTTP methods a webhook may declare. */
export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS";

/**
 * A webhook's key in {@link WorkflowDefinition.webhooks}: `"METHOD /path"`, or
 * `"/path"` for `POST`. The path is served at `/webhook/<path>`; it uses
 * `A-Z a-z 0-9 / - _ . ~`, and a whole segment `{workflow}` stands for the id
 * the workflow is deployed under (`"/{workflow}/visits"` deployed as `shop-a`
 * answers `/webhook/shop-a/visits`), so one component can serve several ids.
 */
export type WebhookRoute = `/${string}` | `${Method} /${string}`;

/**
 * Handles one request to its webhook and returns the response the caller
 * gets. Throwing answers too: a {@link KVError} or {@link HttpError} with its
 * status and `{"error": message}`; anything else with 500 and its message
 * (and the error is logged with its stack).
 */
export type WebhookHandler = (ctx: Context, req: Request) => Response | Promise<Response>;

/**
 * Handles one tick of its cron schedule. A thrown error's message is what the
 * host logs for the execution; there is no caller to answer.
 */
export type CronHandler = (ctx: Context, event: CronEvent) => void | Promise<void>;

/**
 * Runs a manual trigger: `input` is the JSON the operator invoked it with
 * (already checked against the trigger's schema, if it has one); what it
 * returns is sent back as JSON (`undefined` as `null`). A thrown error reaches
 * the operator as `{"error": message}` with status 500.
 */
export type ManualHandler<Input = any, Output = unknown> = (ctx: Context, input: Input) => Output | Promise<Output>;

/** A manual trigger with a JSON Schema its input must match before the workflow runs. */
export interface ManualTrigger<Input = any, Output = unknown> {
  /** A JSON Schema, as an object or as JSON text. Without one, any JSON is accepted. */
  inputSchema?: object | string;
  handler: ManualHandler<Input, Output>;
}

/** Everything a workflow answers. Each part is optional. */
export interface WorkflowDefinition {
  /**
   * Webhooks by route: `{ "POST /users": handler, "/counter": handler,
   * "GET /health": handler }`. A request that no webhook takes is answered
   * 404 `{"error": "this workflow has no handler for <METHOD> <path>"}`.
   */
  webhooks?: { [route: WebhookRoute]: WebhookHandler };
  /**
   * Cron handlers by schedule, read in UTC: five fields (minute, hour, day of
   * month, month, day of week: `"*\/15 * * * *"` every quarter hour) or six,
   * seconds first (`"*\/5 * * * * *"` every five seconds); `@hourly`, `@daily`,
   * `@weekly`, `@monthly`, `@yearly` too. The host checks the expression at
   * deploy. Each tick runs at most once; ticks missed while the host was down
   * are skipped.
   */
  crons?: { [schedule: string]: CronHandler };
  /**
   * Manual triggers by name (`[a-z0-9][a-z0-9-]*`, at most 63 characters),
   * run with `floww invoke <id> <name> '<json>'` or
   * `POST /api/workflows/<id>/triggers/<name>/invoke`.
   */
  manuals?: { [name: string]: ManualHandler | ManualTrigger };
}

/**
 * Declares a workflow. `export default` what it returns from the entry
 * module; `floww build` makes it the component's `handler` export.
 *
 * The definition is checked when the module is loaded, which is during the
 * build: a bad path or method, two webhooks with the same method and path, a
 * schedule with surrounding spaces or a bad manual name fails the build with a
 * message saying which.
 */
export declare function workflow(definition: WorkflowDefinition): Workflow;

/**
 * What {@link workflow} returns: the WIT export `floww:workflow/handler`, in
 * componentize-js naming. The host calls these; a workflow has no need to.
 */
export interface Workflow {
  /** The triggers, read by the host at deploy: webhooks, crons, manual triggers. */
  triggers(): WitTrigger[];
  /** Answers one webhook request; never throws. */
  handleWebhook(request: WitRequest): Promise<WitResponse>;
  /** Runs one cron tick; rejects with the error message (a string). */
  handleCron(event: WitCronEvent): Promise<void>;
  /** Runs a manual trigger on JSON text; resolves to JSON text or rejects with the error message. */
  handleManual(name: string, input: string): Promise<string>;
}

/** The WIT `trigger` variant. */
export type WitTrigger =
  | { tag: "webhook"; val: { path: string; method: string } }
  | { tag: "cron"; val: { schedule: string } }
  | { tag: "manual"; val: { name: string; inputSchema: string | undefined } };

/** The WIT `request` record. */
export interface WitRequest {
  method: string;
  path: string;
  query: [string, string][];
  headers: [string, string][];
  body: Uint8Array;
}

/** The WIT `response` record. */
export interface WitResponse {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
}

/** The WIT `cron-event` record (u64 times as BigInt). */
export interface WitCronEvent {
  schedule: string;
  scheduledAt: bigint;
  firedAt: bigint;
}

// ---------------------------------------------------------------------------
// What handlers receive
// ---------------------------------------------------------------------------

/** What every handler receives first: its access to the host. */
export declare class Context {
  private constructor();
  /** The key-value store, acting as the running workflow. */
  readonly kv: Kv;
  /** Log lines to the host, which records them with the execution. */
  readonly log: Logger;
  /**
   * This workflow's secret `name`, which the operator sets with
   * `floww secret set <id> <name>`. A workflow reads only its own. An unset
   * secret throws an {@link HttpError} 500 that names it and says how to set it.
   */
  secret(name: string): string;
}

/** One tick of a cron trigger. Times are milliseconds since the Unix epoch (UTC). */
export interface CronEvent {
  /** The schedule as the workflow declared it. */
  schedule: string;
  /** The tick this execution is for: a time the schedule names. */
  scheduledAt: number;
  /** When the host started the execution: at or a little after `scheduledAt`. */
  firedAt: number;
}

/** Name/value pairs, in the order they came, looked up by name. */
export interface RequestPairs extends Iterable<[string, string]> {
  /** The first value called `name`, or `undefined`. */
  get(name: string): string | undefined;
  /** Every value called `name`, in order. */
  getAll(name: string): string[];
  /** Whether any value is called `name`. */
  has(name: string): boolean;
  /** Every pair, in order. */
  entries(): [string, string][];
}

/** An HTTP request that reached `/webhook/<path>`. */
export declare class Request {
  private constructor();
  /** Upper-case method, e.g. `"POST"`. */
  readonly method: string;
  /** The path without the `/webhook` prefix, e.g. `"/users"`. */
  readonly path: string;
  /** Decoded query parameters; names are compared exactly (`req.query.get("page")`). */
  readonly query: RequestPairs;
  /** Headers; names arrive in lower case and are looked up without regard to case. */
  readonly headers: RequestPairs;
  /** The body bytes. */
  readonly body: Uint8Array;
  /** The body as UTF-8 text (bytes that aren't UTF-8 become U+FFFD). */
  text(): string;
  /**
   * The body parsed as JSON, typed as `T` (a cast: nothing checks the shape,
   * so check the fields you need). An empty body, or one that is not JSON,
   * throws an {@link HttpError} 400 with the message the Rust SDK gives
   * (`the request body is empty; send a JSON body`, `the request body is not
   * valid JSON: key must be a string at line 1 column 2`), so letting it
   * propagate answers the caller. Synchronous; `await req.json()` works too.
   */
  json<T = unknown>(): T;
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

/** Headers as `[name, value]` pairs (a name may repeat), an object, or a Map. */
export type HeadersInit =
  | ReadonlyArray<readonly [string, string]>
  | Record<string, string>
  | ReadonlyMap<string, string>;

/**
 * The response a webhook handler returns: sent to the caller as it is. Build
 * one with {@link json} or {@link text}, or write the object yourself.
 */
export interface Response {
  /** The HTTP status, 100–999. */
  status: number;
  /** Sent in order. */
  headers?: HeadersInit;
  /** Bytes, or a string sent as UTF-8; none is an empty body. */
  body?: Uint8Array | ArrayBuffer | string;
}

/**
 * A response whose body is `value` as JSON, with `content-type:
 * application/json`; `headers` are added after it. A value that JSON can't
 * hold (a BigInt, a cycle, `undefined`) throws an {@link HttpError} 500.
 *
 * ```ts
 * return json(201, { created: true, user });
 * ```
 */
export declare function json(status: number, value: unknown, headers?: HeadersInit): Response;

/**
 * A response whose body is `text`, with `content-type: text/plain;
 * charset=utf-8`; `headers` are added after it.
 */
export declare function text(status: number, text: string, headers?: HeadersInit): Response;

// ---------------------------------------------------------------------------
// Answering as a Rust workflow does
// ---------------------------------------------------------------------------

/**
 * The error the Rust SDK's `req.json::<T>()` throws for a JSON body serde
 * could not read as `T`: an {@link HttpError} 400 "the request body has the
 * wrong shape: " followed by `detail`. {@link Request.json} only casts, so a
 * handler that checks the body itself can answer with the same message.
 *
 * ```ts
 * const userId = req.json<{ userId?: unknown } | null>()?.userId;
 * if (userId === undefined) throw wrongShape("missing field `userId`");
 * if (typeof userId !== "string") {
 *   throw wrongShape(`invalid type: ${describeJson(userId)}, expected a string`);
 * }
 * ```
 */
export declare function wrongShape(detail: string): HttpError;

/**
 * What a JSON value is, in serde's words, as its "invalid type: …, expected
 * …" messages name it: `null`, ``boolean `true` ``, ``integer `5` ``,
 * ``floating point `1.5` ``, `string "hi"`, `sequence` (an array) or `map`
 * (any other object).
 *
 * ```ts
 * describeJson(5); // "integer `5`"
 * `invalid type: ${describeJson(value)}, expected a string`;
 * ```
 */
export declare function describeJson(value: unknown): string;

/**
 * `value` with the keys of every object in it sorted (by `<`), at any depth,
 * as serde_json's `Value` and `json!` keep them: `json(200,
 * withSortedKeys(answer))` sends the same bytes as a Rust workflow. Arrays
 * keep their order; members whose value is `undefined` are left out, as JSON
 * leaves them out. One difference JavaScript can't avoid: keys that are array
 * indexes (`"9"`, `"10"`) stay first, in numeric order. Objects and arrays
 * are copied (the argument is not changed), objects as plain objects of their
 * own enumerable members; anything else is returned as it is.
 *
 * ```ts
 * withSortedKeys({ b: 1, a: { d: 2, c: 3 } }); // { a: { c: 3, d: 2 }, b: 1 }
 * ```
 */
export declare function withSortedKeys<T>(value: T): T;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/**
 * Why a KV call failed, as the WIT `kv-error` names it (`"decode"` is the
 * SDK's: a stored value that would not parse).
 */
export type KVErrorKind =
  | "not-found"
  | "permission-denied"
  | "invalid-input"
  | "value-too-large"
  | "conflict"
  | "internal"
  | "unavailable"
  | "decode";

/**
 * Why a KV call failed. `statusCode` is the matching HTTP status: 404 not
 * found (table or key), 403 permission denied, 400 invalid input (a bad name,
 * key, option or value), 413 value too large (over 1 MiB), 409 conflict (a
 * version that doesn't match, an increment of a non-integer), 500 internal,
 * 503 unavailable (retrying later may succeed).
 *
 * Thrown out of a webhook handler, it answers with that status and
 * `{"error": message}`.
 *
 * ```ts
 * try {
 *   const user = await ctx.kv.get<User>("users", id);
 * } catch (error) {
 *   if (error instanceof KVError && error.statusCode === 404) {
 *     // no such user
 *   } else {
 *     throw error;
 *   }
 * }
 * ```
 */
export declare class KVError extends Error {
  constructor(kind: KVErrorKind, message: string);
  readonly name: "KVError" | "BatchError";
  /** The WIT case, e.g. `"not-found"`. */
  readonly kind: KVErrorKind;
  /** 404, 403, 400, 413, 409, 500 or 503. */
  readonly statusCode: number;
}

/**
 * Why a {@link Kv.batch} changed nothing: the write at `index` (from 0)
 * failed with `error`. `kind` and `statusCode` are that error's; the message
 * names the write: `write #2 failed: …`.
 */
export declare class BatchError extends KVError {
  constructor(index: number, error: KVError);
  readonly name: "BatchError";
  /** The position of the write that failed, from 0. */
  readonly index: number;
  /** Why it failed. */
  readonly error: KVError;
}

/**
 * A handler's own failure: thrown out of a webhook handler, the caller gets
 * `statusCode` and `{"error": message}`. (The Rust SDK's `floww::Error`.)
 *
 * ```ts
 * throw new HttpError(422, "the email is not an email address");
 * throw HttpError.notFound(`user \`${id}\` not found`);
 * ```
 */
export declare class HttpError extends Error {
  constructor(statusCode: number, message: string);
  readonly name: "HttpError";
  /** The HTTP status the caller gets. */
  readonly statusCode: number;
  /** A 400: the request is wrong. */
  static badRequest(message: string): HttpError;
  /** A 404: what was asked for does not exist. */
  static notFound(message: string): HttpError;
  /** A 409: the request conflicts with what is stored. */
  static conflict(message: string): HttpError;
}

// ---------------------------------------------------------------------------
// Logging and secrets
// ---------------------------------------------------------------------------

/**
 * Sends lines to the host's log, which writes each with the workflow id and
 * the execution id and keeps it in the execution's record. Arguments are
 * joined with spaces; objects are shown as JSON, Errors with their stack.
 */
export interface Logger {
  trace(...message: unknown[]): void;
  debug(...message: unknown[]): void;
  info(...message: unknown[]): void;
  warn(...message: unknown[]): void;
  error(...message: unknown[]): void;
}

/** The same logger as `ctx.log`, for code that has no context at hand. */
export declare const log: Logger;

/** The same as `ctx.secret(name)`. */
export declare function secret(name: string): string;

// ---------------------------------------------------------------------------
// The key-value store
// ---------------------------------------------------------------------------

/** A stored value with its metadata, as {@link Kv.getItem} and {@link Kv.listItems} give it. */
export interface Item<T = unknown> {
  /** The key the value is stored under. */
  key: string;
  /** The stored value, parsed from JSON. */
  value: T;
  /** When the key was first set, in milliseconds since the Unix epoch. */
  createdAt: number;
  /** When it was last set, in milliseconds since the Unix epoch. */
  updatedAt: number;
  /**
   * Changes on every write of the item and is never reused, even after a
   * delete: give it to {@link Kv.setIf} to write only if nothing else has.
   */
  version: number;
  /** When the item disappears (ms since the Unix epoch) if it was written with a TTL; else `null`. */
  expiresAt: number | null;
}

/** A workflow's rights on a table, as {@link Kv.listPermissions} gives them. */
export interface Permission {
  workflowId: string;
  /** May it get, list keys, list items and list permissions? */
  canRead: boolean;
  /** May it set, increment and delete? */
  canWrite: boolean;
  /** Did it create the table? The owner always reads and writes, and only it grants, revokes and drops. */
  isOwner: boolean;
}

/** The rights {@link Kv.grantPermission} gives; a right left out is not given. */
export interface Access {
  read?: boolean;
  write?: boolean;
}

/** Options of a write. */
export interface SetOptions {
  /**
   * Time-to-live in milliseconds (rounded down; the host takes 1 ms to ten
   * years): the item disappears then. Without it the item stays until
   * deleted, and any earlier expiry is cleared.
   */
  ttlMs?: number;
}

/** Which keys a whole-table listing returns. */
export interface PrefixOptions {
  /** Only keys that start with this. */
  prefix?: string;
}

/** Which page of a table {@link Kv.listKeysPage} and {@link Kv.listItemsPage} return, sorted by key. */
export interface PageOptions {
  /** Only keys that start with this. */
  prefix?: string;
  /** At most this many (1 to 10000; the host's default is 1000). */
  limit?: number;
  /** Where the previous page ended: its `cursor`. None (or null) starts at the first key. */
  cursor?: string | null;
}

/** One page of keys; `cursor` is set when more follow. */
export interface KeyPage {
  keys: string[];
  /** Pass it back as `cursor` for the next page; `null` on the last page. */
  cursor: string | null;
}

/** One page of items; `cursor` is set when more follow. */
export interface ItemPage<T = unknown> {
  items: Item<T>[];
  /** Pass it back as `cursor` for the next page; `null` on the last page. */
  cursor: string | null;
}

/**
 * The version an item must have for {@link Kv.setIf} to write: a version from
 * {@link Item.version}, or `null` (or `undefined`) for "the item must not exist".
 */
export type ExpectedVersion = number | null | undefined;

/** Stores a value (as JSON) or, with `json`, JSON text as it is. */
export type SetWrite =
  | { op: "set"; table: string; key: string; value: unknown; ttlMs?: number }
  | { op: "set"; table: string; key: string; json: string; ttlMs?: number };

/** Stores only if the item has `expectedVersion` (null: only if absent). */
export type SetIfWrite =
  | { op: "set-if"; table: string; key: string; value: unknown; expectedVersion: ExpectedVersion; ttlMs?: number }
  | { op: "set-if"; table: string; key: string; json: string; expectedVersion: ExpectedVersion; ttlMs?: number };

/** Removes a key; a missing key fails. */
export interface DeleteWrite {
  op: "delete";
  table: string;
  key: string;
}

/** Adds `delta` (default 1) to the integer under the key. */
export interface IncrementWrite {
  op: "increment";
  table: string;
  key: string;
  delta?: number | bigint;
}

/** One write, for {@link Kv.batch} or {@link Kv.apply}. The {@link Write} builders make them. */
export type Write = SetWrite | SetIfWrite | DeleteWrite | IncrementWrite;

/** What one write did, in the order of the writes. */
export type Written =
  | { op: "set"; version: number }
  | { op: "set-if"; version: number }
  | { op: "delete" }
  | { op: "increment"; value: number };

/**
 * Builders for {@link Write}s; plain objects of the same shape work as well.
 *
 * ```ts
 * await ctx.kv.batch([
 *   Write.delete("sessions-by-user", "user-123"),
 *   Write.set("sessions-by-user", "user-456", "sess-abc123"),
 *   Write.increment("counters", "moves"),
 * ]);
 * ```
 */
export declare const Write: {
  set<T = unknown>(table: string, key: string, value: T, options?: SetOptions): SetWrite;
  setJson(table: string, key: string, json: string, options?: SetOptions): SetWrite;
  setIf<T = unknown>(table: string, key: string, value: T, expectedVersion: ExpectedVersion, options?: SetOptions): SetIfWrite;
  setIfJson(table: string, key: string, json: string, expectedVersion: ExpectedVersion, options?: SetOptions): SetIfWrite;
  delete(table: string, key: string): DeleteWrite;
  increment(table: string, key: string, delta?: number | bigint): IncrementWrite;
};

/**
 * The key-value store, acting as the running workflow: `ctx.kv`.
 *
 * Data lives in **tables** of **keys**, each holding one JSON value (at most
 * 1 MiB). Tables are named `[A-Za-z0-9_-]{1,255}`, keys
 * `[A-Za-z0-9_.:@-]{1,255}`. The first write to a table creates it, owned by
 * this workflow; other workflows use it only if the owner grants them rights.
 *
 * Every method returns a Promise and throws (rejects with) a {@link KVError}.
 * Values go in with `JSON.stringify` and come out with `JSON.parse`; versions,
 * times and counters are numbers (exact up to 2^53).
 *
 * Each call is atomic; two calls in a row are not, and executions run side by
 * side. To change a value without losing a concurrent update, use
 * {@link Kv.increment}, {@link Kv.setIf} with the version you read, or
 * {@link Kv.batch}.
 */
export declare class Kv {
  private constructor();

  /**
   * The value under `key`, parsed from JSON and typed as `T` (a cast). A
   * missing table or key throws a {@link KVError} 404.
   */
  get<T = unknown>(table: string, key: string): Promise<T>;

  /** Like {@link Kv.get}, but a missing table or key gives `undefined`. Other errors still throw. */
  getOptional<T = unknown>(table: string, key: string): Promise<T | undefined>;

  /** The JSON text under `key`, exactly as stored. */
  getJson(table: string, key: string): Promise<string>;

  /** The item under `key`: its value with its version, times and expiry. Errors as for {@link Kv.get}. */
  getItem<T = unknown>(table: string, key: string): Promise<Item<T>>;

  /** Like {@link Kv.getItem}, but a missing table or key gives `undefined`. */
  getItemOptional<T = unknown>(table: string, key: string): Promise<Item<T> | undefined>;

  /**
   * Stores `value` (as JSON) under `key`, replacing what was there, and
   * returns the item's new version. The first write to a table creates it.
   * A value JSON can't hold (`undefined`, a BigInt, a cycle) throws a
   * {@link KVError} `invalid-input` before anything is sent.
   */
  set<T = unknown>(table: string, key: string, value: T, options?: SetOptions): Promise<number>;

  /** Stores JSON text under `key` as it is (the host checks it is JSON); returns the new version. */
  setJson(table: string, key: string, json: string, options?: SetOptions): Promise<number>;

  /**
   * Stores `value` only if the item has `expectedVersion` — or, with `null`,
   * only if it does not exist — and returns the new version. Otherwise
   * nothing changes and it throws a {@link KVError} 409 `conflict`: read
   * again and retry.
   *
   * ```ts
   * const item = await ctx.kv.getItemOptional<string[]>("posts", "post-1:tags");
   * const tags = [...(item?.value ?? []), "typescript"];
   * await ctx.kv.setIf("posts", "post-1:tags", tags, item?.version ?? null);
   * ```
   */
  setIf<T = unknown>(
    table: string,
    key: string,
    value: T,
    expectedVersion: ExpectedVersion,
    options?: SetOptions,
  ): Promise<number>;

  /**
   * Adds `delta` (default 1, may be negative; a bigint beyond 2^53) to the
   * integer under `key` and returns the sum, in one atomic step: concurrent
   * increments never lose a count. A missing key counts as 0. A value that
   * isn't an integer, or a sum beyond 64 bits, throws a {@link KVError} 409.
   */
  increment(table: string, key: string, delta?: number | bigint): Promise<number>;

  /** Removes `key`. A missing table or key throws a {@link KVError} 404. */
  delete(table: string, key: string): Promise<void>;

  /**
   * Runs one write alone, through the single-write call that matches it:
   * the way to combine what the methods don't, e.g. JSON text with a
   * condition and a TTL.
   */
  apply(write: Write): Promise<Written>;

  /**
   * Applies `writes` in order, all or none, and says what each did. A write
   * sees the writes before it. If one fails nothing changed, and it throws a
   * {@link BatchError} with that write's `index` and error. At most 1000
   * writes.
   */
  batch(writes: readonly Write[]): Promise<Written[]>;

  /** The tables this workflow owns or holds a grant on, sorted by name. */
  listTables(): Promise<string[]>;

  /**
   * Every key of `table` (only those starting with `prefix`, if given),
   * sorted, fetched a page at a time. For one page, see {@link Kv.listKeysPage};
   * to walk a big table without holding it, {@link Kv.keys}.
   */
  listKeys(table: string, options?: PrefixOptions): Promise<string[]>;

  /**
   * One page of `table`'s keys, sorted: those after `cursor` that start with
   * `prefix`, at most `limit`. A limit outside 1–10000 throws a 400.
   *
   * ```ts
   * const page = await ctx.kv.listKeysPage("users", { limit: 10, cursor });
   * return json(200, { keys: page.keys, nextCursor: page.cursor });
   * ```
   */
  listKeysPage(table: string, options?: PageOptions): Promise<KeyPage>;

  /** Walks the keys of `table` that start with `prefix`, fetching the next page as one runs out. */
  keys(table: string, prefix?: string): AsyncGenerator<string, void, undefined>;

  /** Every item of `table` (only keys starting with `prefix`, if given), sorted by key, fetched page by page. */
  listItems<T = unknown>(table: string, options?: PrefixOptions): Promise<Item<T>[]>;

  /** One page of `table`'s items, sorted by key, chosen as for {@link Kv.listKeysPage}. */
  listItemsPage<T = unknown>(table: string, options?: PageOptions): Promise<ItemPage<T>>;

  /** Walks the items of `table` whose keys start with `prefix`, fetching the next page as one runs out. */
  items<T = unknown>(table: string, prefix?: string): AsyncGenerator<Item<T>, void, undefined>;

  /** Who may use `table`: its owner first, then every grant. */
  listPermissions(table: string): Promise<Permission[]>;

  /**
   * Gives the deployed workflow `workflowId` exactly `access` on `table`,
   * replacing any earlier grant. Only the table's owner may; an unknown
   * workflow id throws a 404.
   */
  grantPermission(table: string, workflowId: string, access: Access): Promise<void>;

  /** Removes the grant of `workflowId` on `table`. Only the owner may. */
  revokePermission(table: string, workflowId: string): Promise<void>;

  /**
   * Removes a table this workflow owns, with every item and grant in it; the
   * name is free again afterwards. Others get a 403, a missing table a 404.
   */
  dropTable(table: string): Promise<void>;
}
