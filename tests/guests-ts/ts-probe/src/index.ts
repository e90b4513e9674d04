// A TypeScript test guest. Its paths start with the id it is deployed under
// (`{workflow}`), so tests deploy the one component under several ids:
// deployed as `probe-owner` it answers the same requests, at the same paths,
// as the Rust `tests/guests/probe-owner`, and so on for any role.
//
// - `POST /<id>`: the KV probe (probe.ts), the twin of tests/guests/kv-probe;
// - `POST /<id>/throw`: throws `new Error("boom from typescript")`, which the
//   SDK answers 500 `{"error": "boom from typescript"}` and logs;
// - `POST /<id>/loop`: loops for ever; only the host's deadline stops it;
// - manual triggers `double` (with a schema), `echo`, `fail` and `spin`, as
//   tests/guests/manual-probe has them;
// - a daily cron at 03:00 UTC (so it doesn't run during tests), to show in
//   trigger listings.

import { HttpError, withSortedKeys, workflow, type Context } from "floww";

import { handle } from "./probe";

type Double = { n: number; label?: string };

export default workflow({
  webhooks: {
    "POST /{workflow}": handle,
    "POST /{workflow}/throw": async () => {
      throw new Error("boom from typescript");
    },
    "POST /{workflow}/loop": async () => {
      for (;;) {
        // Nothing: spin until the host stops the execution.
      }
    },
  },
  manuals: {
    double: {
      inputSchema: {
        type: "object",
        properties: { n: { type: "integer", minimum: 0 }, label: { type: "string" } },
        required: ["n"],
        additionalProperties: false,
      },
      handler: async (ctx: Context, input: Double) => {
        await ctx.kv.set("doubled", "last", input.n);
        return { doubled: input.n * 2, label: input.label ?? null };
      },
    },
    // Objects with sorted keys, as the Rust probe's serde_json values have them.
    echo: (ctx, input: unknown) => withSortedKeys({ input }),
    fail: (ctx, input: unknown) => {
      throw HttpError.badRequest(`nothing to do: ${JSON.stringify(withSortedKeys(input))}`);
    },
    spin: () => {
      for (;;) {
        // As /loop, for a manual trigger.
      }
    },
  },
  crons: {
    "0 3 * * *": () => {},
  },
});
