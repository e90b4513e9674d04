// `POST /sessions/create`: store a session that expires after 24 hours.
//
// The session is written with a 24-hour time-to-live, so the store drops it
// by itself: a day later `get` finds nothing and listings skip it. The value
// also carries `expiresAt`, for whoever reads it to show.

import { json, withSortedKeys, type Context, type Request, type Response } from "floww";

import { readBody } from "./body";

const SESSIONS = "sessions";
const SESSION_LIFETIME_MS = 24 * 60 * 60 * 1000;

/** A session, as stored under its id in table `sessions`. */
export type Session = {
  sessionId: string;
  userId: string;
  ipAddress: string;
  createdAt: number;
  /** When the store drops the session (the TTL runs from the write, a moment after `createdAt`). */
  expiresAt: number;
};

export async function create(ctx: Context, req: Request): Promise<Response> {
  // Every field is required: a missing one is a 400 that names it.
  const { sessionId, userId, ipAddress } = readBody(req, "struct NewSession", {
    sessionId: "string",
    userId: "string",
    ipAddress: "string",
  });
  const createdAt = Date.now();
  const session: Session = { sessionId, userId, ipAddress, createdAt, expiresAt: createdAt + SESSION_LIFETIME_MS };
  await ctx.kv.set(SESSIONS, session.sessionId, session, { ttlMs: SESSION_LIFETIME_MS });
  return json(201, withSortedKeys({ created: true, session }));
}
