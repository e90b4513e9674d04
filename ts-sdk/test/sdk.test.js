// Unit tests of the SDK in Node, with the host's imports faked in memory
// (test/fake-host). Run: npm test -w floww   (or: node --import ./test/fake-host/register.js --test test/)

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { beforeEach, describe, test } from "node:test";

import { BatchError, HttpError, KVError, Write, describeJson, json, text, withSortedKeys, workflow, wrongShape } from "../index.js";
import * as fakeKv from "./fake-host/kv.js";
import { lines } from "./fake-host/log.js";
import { values as secrets } from "./fake-host/secrets.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A WIT request record, as componentize-js hands it to `handleWebhook`. */
function request(method, path, body = "", { query = [], headers = [] } = {}) {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  return { method, path, query, headers, body: bytes };
}

/** A WIT response as `{ status, headers, body }` with the body parsed (JSON) or as text. */
function read(response) {
  const raw = decoder.decode(response.body);
  const isJson = response.headers.some(([n, v]) => n === "content-type" && v === "application/json");
  return { status: response.status, headers: response.headers, body: isJson ? JSON.parse(raw) : raw, raw };
}

beforeEach(() => {
  fakeKv.reset();
  lines.length = 0;
  secrets.clear();
});

describe("workflow() declares triggers", () => {
  const noop = async () => json(200, {});

  test("webhooks (POST by default), then crons, then manual triggers, in order", () => {
    const w = workflow({
      webhooks: { "/users": noop, "GET /health": noop, "delete /users": noop, "/{workflow}/visits": noop },
      crons: { "*/5 * * * * *": async () => {} },
      manuals: {
        reindex: async () => null,
        greet: { inputSchema: { type: "object", required: ["name"] }, handler: async () => null },
        raw: { inputSchema: '{"type":"object"}', handler: async () => null },
      },
    });
    assert.deepEqual(Object.keys(w).sort(), ["handleCron", "handleManual", "handleWebhook", "triggers"]);
    assert.deepEqual(w.triggers(), [
      { tag: "webhook", val: { path: "/users", method: "POST" } },
      { tag: "webhook", val: { path: "/health", method: "GET" } },
      { tag: "webhook", val: { path: "/users", method: "DELETE" } },
      { tag: "webhook", val: { path: "/{workflow}/visits", method: "POST" } },
      { tag: "cron", val: { schedule: "*/5 * * * * *" } },
      { tag: "manual", val: { name: "reindex", inputSchema: undefined } },
      { tag: "manual", val: { name: "greet", inputSchema: '{"type":"object","required":["name"]}' } },
      { tag: "manual", val: { name: "raw", inputSchema: '{"type":"object"}' } },
    ]);
  });

  test("bad definitions fail when workflow() runs, naming the problem", () => {
    const cases = [
      [{ webhooks: { "users": noop } }, /a path must start with \//],
      [{ webhooks: { "FETCH /users": noop } }, /unsupported method `FETCH`.*GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS/],
      [{ webhooks: { "/users": noop, "POST /users": noop } }, /same method and path: POST \/users/],
      [{ webhooks: { "/us ers": noop } }, /could not read webhook/],
      [{ webhooks: { "/a/{id}": noop } }, /\{workflow\} as a whole segment/],
      [{ webhooks: { "/users": "nope" } }, /webhook "\/users" needs a handler function/],
      [{ crons: { " * * * * *": noop } }, /without surrounding spaces/],
      [{ manuals: { "Re Index": noop } }, /must match \[a-z0-9\]\[a-z0-9-\]\*/],
      [{ manuals: { ok: { inputSchema: {} } } }, /manual trigger "ok" needs a handler function/],
      [{ webhook: {} }, /does not know "webhook"/],
    ];
    for (const [definition, message] of cases) {
      assert.throws(() => workflow(definition), message, JSON.stringify(definition));
    }
  });
});

describe("webhooks", () => {
  test("the handler gets the request; its response is the answer", async () => {
    const w = workflow({
      webhooks: {
        "GET /echo": async (ctx, req) =>
          json(200, {
            method: req.method,
            path: req.path,
            page: req.query.get("page"),
            pages: req.query.getAll("page"),
            trace: req.headers.get("X-Trace"),
            hasAccept: req.headers.has("accept"),
            text: req.text(),
          }),
        "/text": () => text(201, "made", { "x-extra": "1" }),
        "/plain": () => ({ status: 204 }),
        "/bytes": () => ({ status: 200, headers: [["a", "b"]], body: new Uint8Array([1, 2]) }),
      },
    });
    const echo = read(
      await w.handleWebhook(
        request("GET", "/echo", "hi", { query: [["page", "2"], ["page", "3"]], headers: [["x-trace", "abc"]] }),
      ),
    );
    assert.equal(echo.status, 200);
    assert.deepEqual(echo.body, { method: "GET", path: "/echo", page: "2", pages: ["2", "3"], trace: "abc", hasAccept: false, text: "hi" });

    const made = read(await w.handleWebhook(request("POST", "/text")));
    assert.deepEqual([made.status, made.raw, made.headers], [201, "made", [["content-type", "text/plain; charset=utf-8"], ["x-extra", "1"]]]);
    const plain = await w.handleWebhook(request("POST", "/plain"));
    assert.deepEqual([plain.status, plain.headers, plain.body.length], [204, [], 0]);
    const bytes = await w.handleWebhook(request("POST", "/bytes"));
    assert.deepEqual([...bytes.body], [1, 2]);
  });

  test("a request no webhook takes is the Rust SDK's 404", async () => {
    const w = workflow({ webhooks: { "/users": () => json(200, {}) } });
    for (const [method, path] of [["POST", "/nope"], ["DELETE", "/users"]]) {
      const answer = read(await w.handleWebhook(request(method, path)));
      assert.equal(answer.status, 404);
      assert.deepEqual(answer.body, { error: `this workflow has no handler for ${method} ${path}` });
    }
  });

  test("a {workflow} segment matches any one segment", async () => {
    const w = workflow({ webhooks: { "/{workflow}/visits": (ctx, req) => text(200, req.path) } });
    assert.equal(read(await w.handleWebhook(request("POST", "/shop-a/visits"))).raw, "/shop-a/visits");
    for (const path of ["/visits", "//visits", "/a/b/visits"]) {
      assert.equal((await w.handleWebhook(request("POST", path))).status, 404, path);
    }
  });

  test("thrown errors answer with their status and {error}; bugs are 500s and logged", async () => {
    const w = workflow({
      webhooks: {
        "/http": () => {
          throw new HttpError(422, "the email is not an email address");
        },
        "/kv": async (ctx) => ctx.kv.get("users", "nobody"),
        "/boom": async () => {
          throw new Error("boom from typescript");
        },
        "/string": () => {
          throw "a plain string";
        },
        "/undefined": () => undefined,
        "/body": () => ({ status: 200, body: { not: "bytes" } }),
        "/status": () => ({ status: 42 }),
        "/bigint": () => json(200, { n: 1n }),
        "/secret": (ctx) => text(200, ctx.secret("TOKEN")),
      },
    });
    const answer = async (path) => read(await w.handleWebhook(request("POST", path)));

    assert.deepEqual(await answer("/http"), { status: 422, headers: [["content-type", "application/json"]], body: { error: "the email is not an email address" }, raw: '{"error":"the email is not an email address"}' });
    assert.deepEqual((await answer("/kv")).body, { error: 'table "users" does not exist' });
    assert.equal((await answer("/kv")).status, 404);
    assert.equal(lines.length, 0, "4xx answers are not logged");

    const boom = await answer("/boom");
    assert.deepEqual([boom.status, boom.body], [500, { error: "boom from typescript" }]);
    assert.equal(lines[0].level, "error");
    assert.match(lines[0].message, /^POST \/boom failed with 500: boom from typescript\n.*sdk\.test\.js/s);

    assert.deepEqual((await answer("/string")).body, { error: "a plain string" });
    assert.match((await answer("/undefined")).body.error, /returned undefined, not a response/);
    assert.match((await answer("/body")).body.error, /response body is an object/);
    assert.match((await answer("/status")).body.error, /status 42; use an integer from 100 to 999/);
    assert.match((await answer("/bigint")).body.error, /^the response could not be serialized to JSON: /);

    const unset = await answer("/secret");
    assert.deepEqual([unset.status, unset.body.error], [500, "secret TOKEN is not set for this workflow (floww secret set <id> TOKEN)"]);
    secrets.set("TOKEN", "s3cret");
    assert.equal((await answer("/secret")).raw, "s3cret");
  });

  test("req.json() answers bodies that aren't JSON as the Rust SDK does", async () => {
    const w = workflow({ webhooks: { "/cache": (ctx, req) => json(200, req.json()) } });
    const { cases } = JSON.parse(readFileSync(new URL("./serde-json-errors.json", import.meta.url), "utf8"));
    assert.ok(cases.length > 30);
    for (const { body, text: shown, error } of cases) {
      const answer = read(await w.handleWebhook(request("POST", "/cache", Buffer.from(body, "hex"))));
      assert.deepEqual([answer.status, answer.body.error], [400, error], JSON.stringify(shown));
    }
    const fine = read(await w.handleWebhook(request("POST", "/cache", ' {"a": [1, "é"]} ')));
    assert.deepEqual(fine.body, { a: [1, "é"] });
  });
});

describe("answering as a Rust workflow does", () => {
  test("describeJson names a value as serde's `invalid type` messages do", () => {
    const cases = [
      [null, "null"],
      [true, "boolean `true`"],
      [false, "boolean `false`"],
      [5, "integer `5`"],
      [-3, "integer `-3`"],
      [1.5, "floating point `1.5`"],
      ["hi \"there\"", 'string "hi \\"there\\""'],
      ["", 'string ""'],
      [[1, 2], "sequence"],
      [{ a: 1 }, "map"],
      [{}, "map"],
    ];
    for (const [value, words] of cases) assert.equal(describeJson(value), words, JSON.stringify(value));
  });

  test("withSortedKeys sorts keys at every depth, copies, and drops undefined members", () => {
    const value = { b: 1, a: { d: [{ z: 1, y: 2 }, 3], c: null }, gone: undefined, "": "empty" };
    const sorted = withSortedKeys(value);
    assert.equal(JSON.stringify(sorted), '{"":"empty","a":{"c":null,"d":[{"y":2,"z":1},3]},"b":1}');
    assert.deepEqual(Object.keys(value), ["b", "a", "gone", ""]); // the argument is left as it was
    assert.notEqual(sorted.a, value.a);
    assert.deepEqual(withSortedKeys([{ b: 1, a: 2 }, "x"]), [{ a: 2, b: 1 }, "x"]);
    for (const scalar of [null, 0, "s", true, undefined]) assert.equal(withSortedKeys(scalar), scalar);
    // Keys that look like array indexes: JavaScript puts them first whatever the order.
    assert.equal(JSON.stringify(withSortedKeys({ b: 1, 10: 2, 9: 3 })), '{"9":3,"10":2,"b":1}');
  });

  test("wrongShape is the Rust SDK's 400 for a body of the wrong shape", async () => {
    const error = wrongShape("missing field `userId`");
    assert.ok(error instanceof HttpError);
    assert.equal(error.statusCode, 400);
    assert.equal(error.message, "the request body has the wrong shape: missing field `userId`");
    const w = workflow({ webhooks: { "/users": () => { throw wrongShape(`invalid type: ${describeJson(5)}, expected a string`); } } });
    const answer = read(await w.handleWebhook(request("POST", "/users", "{}")));
    assert.deepEqual([answer.status, answer.body], [400, { error: "the request body has the wrong shape: invalid type: integer `5`, expected a string" }]);
  });
});

describe("ctx.kv", () => {
  /** Runs `body(ctx)` as a webhook handler and returns what it returned (or threw). */
  async function withCtx(body) {
    let out;
    const w = workflow({
      webhooks: {
        "/t": async (ctx) => {
          try {
            out = { ok: await body(ctx) };
          } catch (err) {
            out = { err };
          }
          return json(200, null);
        },
      },
    });
    await w.handleWebhook(request("POST", "/t"));
    return out;
  }

  test("values go in as JSON and come out parsed; numbers, not BigInts", async () => {
    const { ok } = await withCtx(async (ctx) => {
      const v1 = await ctx.kv.set("users", "u1", { name: "John", tags: ["a"] });
      const user = await ctx.kv.get("users", "u1");
      const item = await ctx.kv.getItem("users", "u1");
      const missing = await ctx.kv.getOptional("users", "nobody");
      const missingItem = await ctx.kv.getItemOptional("nope", "nobody");
      const raw = await ctx.kv.getJson("users", "u1");
      const v2 = await ctx.kv.setJson("users", "u2", '{"name":"Ann"}', { ttlMs: 1500.7 });
      const item2 = await ctx.kv.getItem("users", "u2");
      return { v1, user, item, missing, missingItem, raw, v2, item2 };
    });
    assert.equal(ok.v1, 1);
    assert.deepEqual(ok.user, { name: "John", tags: ["a"] });
    assert.deepEqual(ok.item, { key: "u1", value: { name: "John", tags: ["a"] }, createdAt: 1001, updatedAt: 1001, version: 1, expiresAt: null });
    assert.equal(ok.missing, undefined);
    assert.equal(ok.missingItem, undefined);
    assert.equal(ok.raw, '{"name":"John","tags":["a"]}');
    assert.equal(ok.v2, 2);
    assert.equal(ok.item2.expiresAt - ok.item2.updatedAt, 1500, "ttl rounded down to whole ms");
  });

  test("KV failures are KVErrors with the WIT kind and its status", async () => {
    const { err } = await withCtx((ctx) => ctx.kv.get("users", "nobody"));
    assert.ok(err instanceof KVError && err instanceof Error);
    assert.deepEqual([err.kind, err.statusCode, err.message, err.name], ["not-found", 404, 'table "users" does not exist', "KVError"]);
    const bad = await withCtx((ctx) => ctx.kv.set("t", "a/b", 1));
    assert.deepEqual([bad.err.kind, bad.err.statusCode], ["invalid-input", 400]);
    const unserializable = await withCtx((ctx) => ctx.kv.set("t", "k", { n: 1n }));
    assert.equal(unserializable.err.kind, "invalid-input");
    assert.match(unserializable.err.message, /^the value for key `k` in table `t` cannot be serialized to JSON: /);
    const nothing = await withCtx((ctx) => ctx.kv.set("t", "k", undefined));
    assert.match(nothing.err.message, /undefined has no JSON form/);
    const ttl = await withCtx((ctx) => ctx.kv.set("t", "k", 1, { ttlMs: -5 }));
    assert.match(ttl.err.message, /ttlMs must be a whole number of milliseconds, not -5/);
  });

  test("setIf and increment", async () => {
    const { ok } = await withCtx(async (ctx) => {
      const created = await ctx.kv.setIf("stock", "apples", 10, null);
      let conflict;
      try {
        await ctx.kv.setIf("stock", "apples", 11, null);
      } catch (err) {
        conflict = err;
      }
      const updated = await ctx.kv.setIf("stock", "apples", 12, created);
      const one = await ctx.kv.increment("counters", "views");
      const six = await ctx.kv.increment("counters", "views", 5);
      const big = await ctx.kv.increment("counters", "big", 2n ** 60n);
      const down = await ctx.kv.increment("counters", "views", -10);
      const applied = await ctx.kv.apply(Write.increment("counters", "views", -1));
      return { created, conflict, updated, one, six, big, down, applied };
    });
    assert.deepEqual([ok.down, ok.applied], [-4, { op: "increment", value: -5 }], "negative deltas (sent as a batch of one)");
    assert.equal(ok.created, 1);
    assert.deepEqual([ok.conflict.kind, ok.conflict.statusCode], ["conflict", 409]);
    assert.equal(ok.updated, 2);
    assert.deepEqual([ok.one, ok.six], [1, 6]);
    assert.equal(ok.big, 2 ** 60);
    const { err } = await withCtx((ctx) => ctx.kv.increment("c", "k", 1.5));
    assert.match(err.message, /the increment must be an integer/);
  });

  test("batch: outcomes in order, or a BatchError naming the write", async () => {
    const { ok } = await withCtx((ctx) =>
      ctx.kv.batch([
        Write.set("orders", "o-1", { total: 30 }),
        Write.setIf("orders", "o-2", 1, null, { ttlMs: 10 }),
        Write.increment("counters", "orders"),
        { op: "delete", table: "orders", key: "o-1" },
        Write.setJson("raw", "r", "[1]"),
      ]),
    );
    assert.deepEqual(ok, [
      { op: "set", version: 1 },
      { op: "set-if", version: 2 },
      { op: "increment", value: 1 },
      { op: "delete" },
      { op: "set", version: 4 },
    ]);
    const { err } = await withCtx((ctx) =>
      ctx.kv.batch([Write.set("orders", "o-3", 1), Write.delete("orders", "missing")]),
    );
    assert.ok(err instanceof BatchError && err instanceof KVError);
    assert.deepEqual([err.index, err.kind, err.statusCode], [1, "not-found", 404]);
    assert.equal(err.message, 'write #1 failed: key "missing" not found in table "orders"');
    assert.equal(err.error.message, 'key "missing" not found in table "orders"');
    assert.equal(fakeKv.tables.get("orders").has("o-3"), false, "nothing applied");

    const early = await withCtx((ctx) => ctx.kv.batch([Write.set("t", "a", 1), Write.set("t", "b", undefined)]));
    assert.deepEqual([early.err.index, early.err.kind], [1, "invalid-input"]);

    const answer = read(
      await workflow({
        webhooks: { "/b": (ctx) => ctx.kv.batch([Write.delete("nope", "k")]) },
      }).handleWebhook(request("POST", "/b")),
    );
    assert.deepEqual([answer.status, answer.body], [404, { error: 'write #0 failed: table "nope" does not exist' }]);
  });

  test("listings: everything by following cursors, or one page", async () => {
    const { ok } = await withCtx(async (ctx) => {
      for (const key of ["user-3", "user-1", "user-2", "admin", "user-4"]) await ctx.kv.set("t", key, key.length);
      const keys = await ctx.kv.listKeys("t");
      const users = await ctx.kv.listKeys("t", { prefix: "user-" });
      const items = await ctx.kv.listItems("t", { prefix: "user-" });
      const first = await ctx.kv.listKeysPage("t", { limit: 3 });
      const second = await ctx.kv.listKeysPage("t", { limit: 3, cursor: first.cursor });
      const itemPage = await ctx.kv.listItemsPage("t", { prefix: "user-", limit: 10 });
      const walked = [];
      for await (const key of ctx.kv.keys("t", "user-")) walked.push(key);
      const tables = await ctx.kv.listTables();
      const permissions = await ctx.kv.listPermissions("t");
      await ctx.kv.grantPermission("t", "reader", { read: true });
      await ctx.kv.revokePermission("t", "reader");
      await ctx.kv.delete("t", "admin");
      await ctx.kv.dropTable("t");
      return { keys, users, items, first, second, itemPage, walked, tables, permissions };
    });
    assert.deepEqual(ok.keys, ["admin", "user-1", "user-2", "user-3", "user-4"]);
    assert.deepEqual(ok.users, ["user-1", "user-2", "user-3", "user-4"]);
    assert.deepEqual(ok.items.map((i) => [i.key, i.value]), [["user-1", 6], ["user-2", 6], ["user-3", 6], ["user-4", 6]]);
    assert.deepEqual(ok.first, { keys: ["admin", "user-1", "user-2"], cursor: "user-2" });
    assert.deepEqual(ok.second, { keys: ["user-3", "user-4"], cursor: null });
    assert.deepEqual([ok.itemPage.items.length, ok.itemPage.cursor], [4, null]);
    assert.deepEqual(ok.walked, ok.users);
    assert.deepEqual(ok.tables, ["t"]);
    assert.deepEqual(ok.permissions, [{ workflowId: "me", canRead: true, canWrite: true, isOwner: true }]);
    assert.deepEqual(fakeKv.grants, [
      { name: "t", workflowId: "reader", canRead: true, canWrite: false },
      { name: "t", workflowId: "reader", revoked: true },
    ]);
    assert.equal(fakeKv.tables.has("t"), false);
  });
});

test("console.* goes to the host's log", () => {
  console.log("hello", { n: 1 });
  console.warn("careful");
  assert.deepEqual(lines, [
    { level: "info", message: 'hello {"n":1}' },
    { level: "warn", message: "careful" },
  ]);
});

describe("crons and manual triggers", () => {
  test("a tick runs its schedule's handler; failures become the error message", async () => {
    const seen = [];
    const w = workflow({
      crons: {
        "* * * * * *": (ctx, event) => {
          seen.push(event);
        },
        "0 0 * * *": async (ctx, event) => {
          throw new HttpError(500, `tick ${event.scheduledAt} failed`);
        },
        "0 1 * * *": async () => {
          throw new TypeError("oops");
        },
      },
    });
    await w.handleCron({ schedule: "* * * * * *", scheduledAt: 1000n, firedAt: 1003n });
    assert.deepEqual(seen, [{ schedule: "* * * * * *", scheduledAt: 1000, firedAt: 1003 }]);
    await assert.rejects(w.handleCron({ schedule: "0 0 * * *", scheduledAt: 5n, firedAt: 6n }), (e) => e === "tick 5 failed");
    await assert.rejects(
      w.handleCron({ schedule: "1 2 3 4 5", scheduledAt: 0n, firedAt: 0n }),
      (e) => e === 'this workflow has no cron trigger with schedule "1 2 3 4 5"',
    );
    assert.equal(lines.length, 0);
    await assert.rejects(w.handleCron({ schedule: "0 1 * * *", scheduledAt: 0n, firedAt: 0n }), (e) => e === "oops");
    assert.match(lines[0].message, /^cron "0 1 \* \* \*" failed: oops\n/);
  });

  test("manual triggers take and give JSON text", async () => {
    const w = workflow({
      manuals: {
        echo: async (ctx, input) => ({ echo: input }),
        nothing: () => {},
        fail: { inputSchema: { type: "object" }, handler: () => { throw new HttpError(400, "the sum overflows"); } },
        big: () => 1n,
      },
    });
    assert.equal(await w.handleManual("echo", '{"x": [1, 2]}'), '{"echo":{"x":[1,2]}}');
    assert.equal(await w.handleManual("nothing", "null"), "null");
    await assert.rejects(w.handleManual("fail", "{}"), (e) => e === "the sum overflows");
    await assert.rejects(w.handleManual("nope", "{}"), (e) => e === 'this workflow has no manual trigger named "nope"');
    await assert.rejects(w.handleManual("big", "{}"), (e) => typeof e === "string" && e.startsWith("the output could not be made JSON: "));
  });
});
