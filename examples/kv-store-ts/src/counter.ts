// `POST /counter`: count page views in table `counters`, key `page-views`.
//
// The count changes with one `ctx.kv.increment` call: the store adds to the
// stored integer atomically, so requests that arrive together each add their
// own amount. Reading the value, adding to it and writing it back (get then
// set) would not: two executions can read the same value, and the second
// write erases the first one's addition.

import { HttpError, json, type Context, type Request, type Response } from "floww";

import { readBody } from "./body";

const COUNTERS = "counters";
const PAGE_VIEWS = "page-views";

/** `{}` or `{"increment": 5}`; an empty body counts as `{}`. */
export async function increment(ctx: Context, req: Request): Promise<Response> {
  const { increment } = req.body.length === 0 ? { increment: undefined } : readBody(req, "struct Body", { increment: "json?" });
  let by = 1;
  if (increment !== undefined) {
    if (typeof increment !== "number" || !Number.isSafeInteger(increment)) {
      throw HttpError.badRequest("`increment` must be an integer");
    }
    by = increment;
  }

  // One atomic step: a counter that was never set counts from 0. A stored
  // value that isn't an integer, or a sum beyond 64 bits, is a 409.
  const value = await ctx.kv.increment(COUNTERS, PAGE_VIEWS, by);
  // `value` is exactly what this call made, so the value before it is
  // `value - by`, even if other requests counted just before or after.
  const previous = value - by;

  return json(200, { counter: PAGE_VIEWS, previous, value });
}
