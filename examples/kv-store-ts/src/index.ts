// The KV store walkthrough, as a Floww workflow in TypeScript.
//
// Four webhooks, each showing one way to use the key-value store:
//
// | webhook                  | table      | pattern                                       |
// |--------------------------|------------|-----------------------------------------------|
// | `POST /users`            | `users`    | create, read, update, delete, list, page      |
// | `POST /sessions/create`  | `sessions` | a record that expires after a day (TTL)       |
// | `POST /counter`          | `counters` | an atomic increment                           |
// | `POST /cache`            | `cache`    | keep a computed value for five minutes (TTL)  |
//
// It is the twin of the Rust example in examples/kv-store and answers every
// request with the same status and the same JSON, so either can be served
// behind the same curls.
//
// Tables, keys and values:
//
//     await ctx.kv.set("users", "user-123", user);
//                       ^^^^^    ^^^^^^^^    ^^^^
//                       table    key         value (anything JSON can hold)
//
// The first write to a table creates it, and this workflow owns it: no other
// workflow reads or writes it unless granted.
//
// Errors: every `ctx.kv` call rejects with a `KVError` whose `statusCode` is
// 404, 403, 400, 413, 409, 500 or 503. Let it propagate and the caller gets
// that status with `{"error": message}`; or catch it (`error instanceof
// KVError`) to handle a case yourself, as delete-user and /cache do with 404.

import { workflow } from "floww";

import * as cache from "./cache";
import * as counter from "./counter";
import * as sessions from "./sessions";
import * as users from "./users";

export default workflow({
  webhooks: {
    "POST /users": users.handle,
    "POST /sessions/create": sessions.create,
    "POST /counter": counter.increment,
    "POST /cache": cache.handle,
  },
});
