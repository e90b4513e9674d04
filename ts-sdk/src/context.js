// What a handler gets besides its input: `ctx.kv`, `ctx.log` and `ctx.secret`.
//
// Log lines go to the host through the WIT `log` import; the host writes each
// with the workflow id and the execution id and keeps it in the execution's
// record, so a line only needs to say what happened.

import { log as witLog } from "floww:workflow/log@0.1.0";
import { get as witSecret } from "floww:workflow/secrets@0.1.0";
import { HttpError } from "./errors.js";
import { Kv } from "./kv.js";

/** Sends one line at `level` ("trace" … "error"); values that aren't strings are shown as text. */
function send(level, parts) {
  witLog(level, parts.map(show).join(" "));
}

/** A log argument as text: strings as they are, Errors with their stack, the rest as JSON if it can be. */
function show(part) {
  if (typeof part === "string") return part;
  if (part instanceof Error) return part.stack ? `${part.name}: ${part.message}\n${part.stack}` : `${part.name}: ${part.message}`;
  if (typeof part === "object" && part !== null) {
    try {
      return JSON.stringify(part);
    } catch {
      // A cycle or a BigInt: fall back to String.
    }
  }
  return String(part);
}

/** Log lines to the host, by level. Also `ctx.log`. */
export const log = Object.freeze({
  trace: (...parts) => send("trace", parts),
  debug: (...parts) => send("debug", parts),
  info: (...parts) => send("info", parts),
  warn: (...parts) => send("warn", parts),
  error: (...parts) => send("error", parts),
});

// `console` has nowhere to write in a component: the host keeps no guest
// stdout. Route it to the host's log instead, so `console.log` in a workflow
// (or a library it uses) shows up with the execution like `ctx.log` does.
if (typeof globalThis.console === "object" && globalThis.console !== null) {
  const levels = { trace: "trace", debug: "debug", log: "info", info: "info", warn: "warn", error: "error" };
  for (const [method, level] of Object.entries(levels)) {
    globalThis.console[method] = (...parts) => send(level, parts);
  }
}

/**
 * This workflow's secret `name`, set by the operator with
 * `floww secret set <id> <name>`; an unset one throws an HttpError 500 that
 * says how to set it.
 */
export function secret(name) {
  const value = witSecret(name);
  if (value === undefined || value === null) {
    throw new HttpError(500, `secret ${name} is not set for this workflow (floww secret set <id> ${name})`);
  }
  return value;
}

/** What every handler receives first. */
export class Context {
  constructor() {
    /** The key-value store, acting as the running workflow. */
    this.kv = new Kv();
    /** Log lines to the host. */
    this.log = log;
  }

  /** This workflow's secret `name`; throws an HttpError 500 if it is not set. */
  secret(name) {
    return secret(name);
  }
}
