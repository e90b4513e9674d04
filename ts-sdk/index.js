// floww: write Floww workflows in TypeScript (or JavaScript).
//
// A workflow module does `export default workflow({ webhooks, crons, manuals })`;
// `floww build` bundles it with esbuild (leaving the `floww:*` host imports
// external) and makes it a WebAssembly component with componentize-js
// against the WIT world `workflow` (wit/workflow.wit).
//
// The code is plain ESM JavaScript with no build step; index.d.ts holds the
// types and the API documentation. One module per concern:
//
//   src/workflow.js  workflow(): trigger list and dispatch (the WIT export)
//   src/http.js      Request, json(), text(), wrongShape(), checking a handler's response
//   src/json.js      serde_json-compatible messages for bodies that aren't JSON;
//                    describeJson() and withSortedKeys()
//   src/kv.js        ctx.kv over the `kv` import, and the Write builders
//   src/context.js   Context, log, secret (the `log` and `secrets` imports)
//   src/errors.js    KVError, BatchError, HttpError and their statuses

export { workflow } from "./src/workflow.js";
export { Context, log, secret } from "./src/context.js";
export { Kv, Write } from "./src/kv.js";
export { Request, json, text, wrongShape } from "./src/http.js";
export { describeJson, withSortedKeys } from "./src/json.js";
export { BatchError, HttpError, KVError } from "./src/errors.js";
