// Type tests of index.d.ts: `npx tsc -p ts-sdk/test` must pass. Each
// `@ts-expect-error` line must be an error, so the types refuse what they should.

import {
  BatchError,
  HttpError,
  KVError,
  Write,
  describeJson,
  json,
  log,
  text,
  withSortedKeys,
  workflow,
  wrongShape,
  type Context,
  type CronEvent,
  type Item,
  type KeyPage,
  type Permission,
  type Request,
  type Response,
  type Written,
} from "floww";

type User = { id: string; name: string };

async function users(ctx: Context, req: Request): Promise<Response> {
  const body = req.json<{ userId?: string }>();
  const id: string | undefined = body.userId;
  const agent: string | undefined = req.headers.get("user-agent");
  const page: string[] = req.query.getAll("page");
  for (const [name, value] of req.query) log.debug(name, value);
  try {
    const user = await ctx.kv.get<User>("users", id ?? "");
    const name: string = user.name;
    return json(200, { name, agent, page });
  } catch (error) {
    if (error instanceof KVError) {
      const status: number = error.statusCode;
      const kind: "not-found" | "permission-denied" | "invalid-input" | "value-too-large" | "conflict" | "internal" | "unavailable" | "decode" = error.kind;
      return json(status, { error: error.message, kind });
    }
    throw error;
  }
}

async function kvCalls(ctx: Context): Promise<void> {
  const version: number = await ctx.kv.set("t", "k", { a: 1 }, { ttlMs: 1000 });
  const maybe: User | undefined = await ctx.kv.getOptional<User>("t", "k");
  const item: Item<User> = await ctx.kv.getItem<User>("t", "k");
  const expires: number | null = item.expiresAt;
  await ctx.kv.setIf("t", "k", 2, item.version);
  await ctx.kv.setIf("t", "k", 2, null);
  const sum: number = await ctx.kv.increment("t", "n");
  await ctx.kv.increment("t", "n", -3n);
  const keys: string[] = await ctx.kv.listKeys("t", { prefix: "a" });
  const page: KeyPage = await ctx.kv.listKeysPage("t", { limit: 10, cursor: null });
  const next: string | null = page.cursor;
  const items = await ctx.kv.listItemsPage<User>("t", { cursor: next });
  const firstName: string | undefined = items.items[0]?.value.name;
  for await (const key of ctx.kv.keys("t")) log.info(key);
  const done: Written[] = await ctx.kv.batch([
    Write.set("t", "a", 1),
    Write.setIf("t", "b", 2, null, { ttlMs: 5 }),
    { op: "delete", table: "t", key: "c" },
    { op: "increment", table: "t", key: "d" },
    Write.setJson("t", "e", "[]"),
  ]);
  if (done[0]?.op === "set") {
    const v: number = done[0].version;
  }
  const permissions: Permission[] = await ctx.kv.listPermissions("t");
  await ctx.kv.grantPermission("t", "reader", { read: true });
  await ctx.kv.revokePermission("t", "reader");
  await ctx.kv.dropTable("t");
  const secret: string = ctx.secret("TOKEN");
  ctx.log.warn("version", version, maybe, expires, sum, keys, firstName, permissions, secret);

  try {
    await ctx.kv.batch([]);
  } catch (error) {
    if (error instanceof BatchError) {
      const index: number = error.index;
      const inner: KVError = error.error;
    }
  }

  // @ts-expect-error: a TTL is a number of milliseconds
  await ctx.kv.set("t", "k", 1, { ttlMs: "5m" });
  // @ts-expect-error: setIf needs the expected version (or null)
  await ctx.kv.setIf("t", "k", 1);
  // @ts-expect-error: not a write op
  await ctx.kv.batch([{ op: "upsert", table: "t", key: "k", value: 1 }]);
  // @ts-expect-error: kv calls are async
  const notAwaited: User = ctx.kv.get<User>("t", "k");
}

function bodyChecks(req: Request): Response {
  const userId = req.json<{ userId?: unknown } | null>()?.userId;
  if (typeof userId !== "string") {
    const error: HttpError = wrongShape(`invalid type: ${describeJson(userId ?? null)}, expected a string`);
    throw error;
  }
  const sorted: { b: number; a: { c: string } } = withSortedKeys({ b: 1, a: { c: userId } });
  const list: number[] = withSortedKeys([1, 2]);
  // @ts-expect-error: the value keeps its type
  const wrong: string = withSortedKeys(5);
  return json(200, { sorted, list, wrong });
}

export default workflow({
  webhooks: {
    "/users": users,
    "GET /health": () => text(200, "ok"),
    "DELETE /{workflow}/items": async (ctx) => ({ status: 204 }),
    "/teapot": () => {
      throw new HttpError(418, "I'm a teapot");
    },
    "/bytes": () => ({ status: 200, headers: [["content-type", "application/octet-stream"]], body: new Uint8Array([1]) }),
    "/headers": () => json(200, {}, { "cache-control": "no-store" }),
  },
  crons: {
    "*/5 * * * * *": async (ctx, event: CronEvent) => {
      await ctx.kv.set("ticks", String(event.scheduledAt), event.firedAt - event.scheduledAt);
    },
  },
  manuals: {
    reindex: async (ctx) => ({ users: (await ctx.kv.listKeys("users")).length }),
    greet: {
      inputSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
      handler: (ctx, input: { name: string }) => ({ greeting: `hello ${input.name}` }),
    },
  },
});

workflow({
  webhooks: {
    // @ts-expect-error: a route is "/path" or "METHOD /path"
    users: users,
  },
});

workflow({
  webhooks: {
    // @ts-expect-error: FETCH is not a method
    "FETCH /users": users,
  },
});

workflow({
  webhooks: {
    // @ts-expect-error: a webhook handler returns a response
    "/nothing": () => 42,
  },
});

workflow({
  // @ts-expect-error: no such part
  webhook: {},
});
