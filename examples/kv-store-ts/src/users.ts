// `POST /users`: create, read, update, delete and list users in table `users`.
//
// The body names an `action` and carries the fields that action needs:
//
//     {"action": "create-user", "userId": "user-123", "name": "John Doe", "email": "john@example.com"}
//
// Requests run side by side, so the writes here are conditional: create-user
// writes only if the id is free, and update-user only if the user is still
// the version it read (`ctx.kv.setIf`). A plain get then set would let two
// requests both see "no such user", or both change the same old copy, and one
// would silently overwrite the other.

import { HttpError, KVError, json, withSortedKeys, type Context, type Item, type Request, type Response } from "floww";

import { readBody, type Body } from "./body";

/** The table every user lives in, keyed by user id. */
const USERS = "users";

const ACTIONS = ["create-user", "get-user", "update-user", "delete-user", "list-users", "page-users", "list-tables"];

/** Users per page of page-users when the body gives no `limit`. */
const DEFAULT_PAGE_SIZE = 10;

/** How often update-user reads and tries again when another request changed the user in between. */
const UPDATE_ATTEMPTS = 5;

/** A user, as stored under its id in table `users`. */
export type User = {
  id: string;
  name: string;
  email: string;
  createdAt: number;
  /** Set by the first update. */
  updatedAt?: number;
};

/** Every field any action reads; each action checks the ones it needs. */
const FIELDS = {
  action: "string?",
  userId: "string?",
  name: "string?",
  email: "string?",
  /** page-users: users per page (1 to 10000). */
  limit: "u32?",
  /** page-users: the `nextCursor` of the previous page. */
  cursor: "string?",
} as const;

type UsersBody = Body<typeof FIELDS>;

export async function handle(ctx: Context, req: Request): Promise<Response> {
  const body = readBody(req, "struct Body", FIELDS);
  switch (body.action) {
    case "create-user":
      return create(ctx, body);
    case "get-user":
      return get(ctx, body);
    case "update-user":
      return update(ctx, body);
    case "delete-user":
      return remove(ctx, body);
    case "list-users":
      return list(ctx);
    case "page-users":
      return page(ctx, body);
    case "list-tables":
      return listTables(ctx);
    default: {
      const error = body.action === undefined ? "missing field `action`" : `unknown action \`${body.action}\``;
      return answer(400, { error, validActions: ACTIONS });
    }
  }
}

async function create(ctx: Context, body: UsersBody): Promise<Response> {
  const user: User = {
    id: required(body.userId, "userId"),
    name: required(body.name, "name"),
    email: required(body.email, "email"),
    createdAt: Date.now(),
  };
  // `setIf` with `null` (the item must not exist) checks that the id is free
  // and stores the user in one step: of two requests creating the same id,
  // exactly one succeeds. The first write creates table `users`.
  try {
    await ctx.kv.setIf(USERS, user.id, user, null);
  } catch (error) {
    if (error instanceof KVError && error.statusCode === 409) {
      throw HttpError.conflict(`user \`${user.id}\` already exists`);
    }
    throw error; // e.g. a bad key: 400 with the store's message
  }
  ctx.log.info(`created user ${user.id}`);
  return answer(201, { created: true, user });
}

async function get(ctx: Context, body: UsersBody): Promise<Response> {
  const id = required(body.userId, "userId");
  const { value: user } = await load(ctx, id);
  return answer(200, { user });
}

async function update(ctx: Context, body: UsersBody): Promise<Response> {
  const id = required(body.userId, "userId");
  if (body.name === undefined && body.email === undefined) {
    throw HttpError.badRequest("update-user needs `name`, `email` or both");
  }
  // Read, change, write back, but write only if the user is still the
  // version we read; if another request changed it in between, start over
  // from its version instead of overwriting its change.
  for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
    const { value: user, version } = await load(ctx, id);
    if (body.name !== undefined) user.name = body.name;
    if (body.email !== undefined) user.email = body.email;
    user.updatedAt = Date.now();
    try {
      await ctx.kv.setIf(USERS, id, user, version);
      return answer(200, { updated: true, user });
    } catch (error) {
      // Changed (or deleted: the next read says so) since we read it.
      if (error instanceof KVError && error.statusCode === 409) continue;
      throw error;
    }
  }
  throw HttpError.conflict(`user \`${id}\` kept changing while we updated it; try again`);
}

async function remove(ctx: Context, body: UsersBody): Promise<Response> {
  const id = required(body.userId, "userId");
  // Deleting a missing key is a KVError 404; here it gets a message of our
  // own. Any other KV error passes through with its own status.
  try {
    await ctx.kv.delete(USERS, id);
  } catch (error) {
    if (error instanceof KVError && error.statusCode === 404) throw HttpError.notFound(`user \`${id}\` not found`);
    throw error;
  }
  return answer(200, { deleted: true, userId: id });
}

async function list(ctx: Context): Promise<Response> {
  // Items come sorted by key, each with its value and metadata. `listItems`
  // fetches page after page until it has them all; page-users returns one.
  let users: User[];
  try {
    users = (await ctx.kv.listItems<User>(USERS)).map((item) => toUser(item.value));
  } catch (error) {
    // No user was ever created, so the table does not exist yet.
    if (!(error instanceof KVError && error.statusCode === 404)) throw error;
    users = [];
  }
  return answer(200, { count: users.length, users });
}

async function page(ctx: Context, body: UsersBody): Promise<Response> {
  // One page, sorted by key. The store's `cursor` says where the next page
  // starts; the caller sends it back as `cursor` and gets null at the end.
  let users: User[] = [];
  let nextCursor: string | null = null;
  try {
    const page = await ctx.kv.listItemsPage<User>(USERS, {
      limit: body.limit ?? DEFAULT_PAGE_SIZE,
      cursor: body.cursor,
    });
    users = page.items.map((item) => toUser(item.value));
    nextCursor = page.cursor;
  } catch (error) {
    // A limit of 0 or over 10000 is a 400 from the store, passed on.
    if (!(error instanceof KVError && error.statusCode === 404)) throw error;
  }
  return answer(200, { users, count: users.length, nextCursor });
}

async function listTables(ctx: Context): Promise<Response> {
  // The tables this workflow owns or was granted, sorted by name.
  const tables = await ctx.kv.listTables();
  return answer(200, { count: tables.length, tables });
}

/** Reads a user with its version; a missing one is a 404 that says which. */
async function load(ctx: Context, id: string): Promise<Item<User>> {
  try {
    const item = await ctx.kv.getItem<User>(USERS, id);
    return { ...item, value: toUser(item.value) };
  } catch (error) {
    if (error instanceof KVError && error.statusCode === 404) throw HttpError.notFound(`user \`${id}\` not found`);
    throw error;
  }
}

/** A stored user with just the fields a User has. */
function toUser(stored: User): User {
  const { id, name, email, createdAt, updatedAt } = stored;
  return updatedAt === undefined ? { id, name, email, createdAt } : { id, name, email, createdAt, updatedAt };
}

/** The value of a field the action needs, or a 400 naming it. */
function required(value: string | undefined, field: string): string {
  if (value === undefined) throw HttpError.badRequest(`missing field \`${field}\``);
  return value;
}

/** A JSON answer with its keys sorted, as the Rust example's `json!` answers are. */
function answer(status: number, value: object): Response {
  return json(status, withSortedKeys(value));
}
