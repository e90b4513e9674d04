// `workflow({...})`: a workflow's triggers and handlers, as the WIT export
// `floww:workflow/handler` that the host calls.
//
// The build wraps the user's entry module as
//
//     import w from "<entry>"; export const handler = w;
//
// so the object `workflow()` returns *is* the export: `triggers`,
// `handleWebhook`, `handleCron` and `handleManual`, in componentize-js naming.
// componentize-js awaits a returned promise, so the handlers are async.
//
// Definitions are checked when `workflow()` runs, which is when the build
// initialises the component: a bad path, method, schedule or name fails the
// build with a message, as the Rust `workflow!` macro fails compilation.
//
// Dispatch mirrors the Rust SDK (guest-sdk/src/workflow.rs, cron.rs,
// manual.rs): the same 404 for a request no webhook takes, the same
// `{"error": message}` answers for thrown errors, the same error strings for
// an unknown schedule or manual trigger.

import { Context, log } from "./context.js";
import { describe, errorAnswer, stackOf } from "./errors.js";
import { Request, errorResponse, toWitResponse } from "./http.js";

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/** A path segment the host replaces with the id the workflow is deployed under. */
const WORKFLOW_SEGMENT = "{workflow}";

const MANUAL_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * Declares a workflow: its webhooks, crons and manual triggers with their
 * handlers. `export default` what it returns from the entry module.
 */
export function workflow(definition) {
  if (definition === null || typeof definition !== "object") {
    throw new TypeError("workflow() takes an object: { webhooks, crons, manuals }");
  }
  for (const key of Object.keys(definition)) {
    if (!["webhooks", "crons", "manuals"].includes(key)) {
      throw new TypeError(`workflow() takes webhooks, crons and manuals; it does not know ${JSON.stringify(key)}`);
    }
  }
  const routes = webhookRoutes(definition.webhooks ?? {});
  const crons = cronEntries(definition.crons ?? {});
  const manuals = manualEntries(definition.manuals ?? {});

  return Object.freeze({
    /** The exported `triggers`: webhooks, then crons, then manual triggers, in declaration order. */
    triggers() {
      return [
        ...routes.map(({ method, path }) => ({ tag: "webhook", val: { path, method } })),
        ...crons.map(({ schedule }) => ({ tag: "cron", val: { schedule } })),
        ...manuals.map(({ name, inputSchema }) => ({ tag: "manual", val: { name, inputSchema } })),
      ];
    },

    /** The exported `handle-webhook`: never throws; every failure is an answer. */
    async handleWebhook(witRequest) {
      try {
        return await dispatchWebhook(routes, new Request(witRequest));
      } catch (err) {
        // Only a bug in the SDK itself gets here.
        log.error(`the webhook could not be answered: ${describe(err)}`);
        return errorResponse(500, describe(err));
      }
    },

    /** The exported `handle-cron`: throws the error message (a string), which the host logs. */
    async handleCron(event) {
      const cron = crons.find((entry) => entry.schedule === event.schedule);
      if (!cron) throw `this workflow has no cron trigger with schedule ${JSON.stringify(event.schedule)}`;
      const tick = {
        schedule: event.schedule,
        scheduledAt: Number(event.scheduledAt),
        firedAt: Number(event.firedAt),
      };
      try {
        await cron.handler(new Context(), tick);
      } catch (err) {
        throw failure(`cron ${JSON.stringify(event.schedule)}`, err);
      }
    },

    /** The exported `handle-manual`: the output as JSON text, or throws the error message (a string). */
    async handleManual(name, input) {
      const manual = manuals.find((entry) => entry.name === name);
      if (!manual) throw `this workflow has no manual trigger named ${JSON.stringify(name)}`;
      let value;
      try {
        value = JSON.parse(input);
      } catch (err) {
        throw `the input is not JSON: ${describe(err)}`;
      }
      let output;
      try {
        output = await manual.handler(new Context(), value);
      } catch (err) {
        throw failure(`manual trigger ${JSON.stringify(name)}`, err);
      }
      try {
        return JSON.stringify(output) ?? "null";
      } catch (err) {
        throw `the output could not be made JSON: ${describe(err)}`;
      }
    },
  });
}

/**
 * Runs the handler of the webhook that takes the request. A thrown error
 * becomes its JSON error answer; a request no webhook takes is a 404.
 */
async function dispatchWebhook(routes, request) {
  const route = routes.find(
    (r) => r.method === request.method.toUpperCase() && pathMatches(r.path, request.path),
  );
  if (!route) {
    return errorResponse(404, `this workflow has no handler for ${request.method} ${request.path}`);
  }
  try {
    return toWitResponse(await route.handler(new Context(), request));
  } catch (err) {
    const { status, message, expected } = errorAnswer(err);
    if (status >= 500) {
      const stack = expected ? undefined : stackOf(err);
      log.error(`${route.method} ${route.path} failed with ${status}: ${message}${stack ? `\n${stack}` : ""}`);
    }
    return errorResponse(status, message);
  }
}

/** The message a cron or manual failure reports (logging a bug's stack first). */
function failure(what, err) {
  const { message, expected } = errorAnswer(err);
  const stack = expected ? undefined : stackOf(err);
  if (stack) log.error(`${what} failed: ${message}\n${stack}`);
  return message;
}

/** Whether a request path is the declared one, where `{workflow}` stands for any one segment. */
function pathMatches(declared, path) {
  const want = declared.split("/");
  const got = path.split("/");
  return want.length === got.length && want.every((d, i) => d === got[i] || (d === WORKFLOW_SEGMENT && got[i] !== ""));
}

/** `{ "POST /users": handler, "/counter": handler }` as checked routes, in declaration order. */
function webhookRoutes(webhooks) {
  const routes = [];
  for (const [entry, handler] of Object.entries(webhooks)) {
    const match = /^\s*(?:([A-Za-z]+)\s+)?(\S+)\s*$/.exec(entry);
    if (!match) throw new TypeError(`could not read webhook ${JSON.stringify(entry)}: write "METHOD /path" or "/path"`);
    const method = (match[1] ?? "POST").toUpperCase();
    const path = match[2];
    if (!METHODS.includes(method)) {
      throw new TypeError(
        `unsupported method \`${match[1]}\` in webhook ${JSON.stringify(entry)}: use ${METHODS.join(", ")} (POST if left out)`,
      );
    }
    checkPath(entry, path);
    expectFunction(handler, `webhook ${JSON.stringify(entry)}`);
    if (routes.some((r) => r.method === method && r.path === path)) {
      throw new TypeError(`two webhooks have the same method and path: ${method} ${path}`);
    }
    routes.push({ method, path, handler });
  }
  return routes;
}

/** The host's rule for webhook paths, checked early so the build fails rather than the deploy. */
function checkPath(entry, path) {
  const wellTemplated = path.split("/").every((s) => s === WORKFLOW_SEGMENT || !/[{}]/.test(s));
  const filled = path.replaceAll(WORKFLOW_SEGMENT, "w");
  if (!path.startsWith("/") || !wellTemplated || !/^[A-Za-z0-9/._~-]+$/.test(filled)) {
    throw new TypeError(
      `webhook ${JSON.stringify(entry)}: a path must start with / and use only A-Z a-z 0-9 / - _ . ~ ` +
        `(and ${WORKFLOW_SEGMENT} as a whole segment), e.g. "/users"`,
    );
  }
}

function cronEntries(crons) {
  return Object.entries(crons).map(([schedule, handler]) => {
    if (schedule === "" || schedule.trim() !== schedule) {
      throw new TypeError(
        `a cron schedule must be a cron expression without surrounding spaces, e.g. "*/5 * * * *"; got ${JSON.stringify(schedule)}`,
      );
    }
    expectFunction(handler, `cron ${JSON.stringify(schedule)}`);
    return { schedule, handler };
  });
}

function manualEntries(manuals) {
  return Object.entries(manuals).map(([name, entry]) => {
    if (!MANUAL_NAME.test(name)) {
      throw new TypeError(
        `manual trigger ${JSON.stringify(name)}: a name must match [a-z0-9][a-z0-9-]* and be at most 63 characters, e.g. "reindex"`,
      );
    }
    const { handler, inputSchema } = typeof entry === "function" ? { handler: entry } : (entry ?? {});
    expectFunction(handler, `manual trigger ${JSON.stringify(name)}`);
    const schema = inputSchema === undefined || typeof inputSchema === "string" ? inputSchema : JSON.stringify(inputSchema);
    return { name, inputSchema: schema, handler };
  });
}

function expectFunction(handler, what) {
  if (typeof handler !== "function") throw new TypeError(`${what} needs a handler function, not ${typeof handler}`);
}
