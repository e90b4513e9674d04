// Builds a TypeScript workflow into a wasm component, for `floww build` and
// `floww dev`. floww runs it with `node --input-type=module -` and this
// script on standard input, so it needs nothing on disk besides the
// project's own node_modules, where its tools are found (walking up, so the
// repository's npm workspace serves its members):
//
//   1. tsc --noEmit, when the project has a tsconfig.json: type errors stop the build;
//   2. esbuild bundles the entry into one ES module; `floww:*` imports stay
//      for the component's imports;
//   3. componentize-js embeds the bundle in SpiderMonkey against the WIT
//      world `workflow`; the result is cached under a key of the bundle, the
//      WIT and the tools' versions, so a rebuild with no change to the code
//      that ships takes no time.
//
// Arguments: PROJECT_DIR ENTRY OUT_WASM WIT_DIR. Progress and errors go to
// standard error; the exit code says whether the component was written.

import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [project, entry, outWasm, witDir] = process.argv.slice(2).map((p) => resolve(p));
const started = Date.now();
const say = (line) => process.stderr.write(`${line}\n`);

/** The folder of npm package `name` as the project resolves it, or null. */
function packageDir(name) {
  for (let dir = project; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (dirname(dir) === dir) return null;
  }
}

function tool(name) {
  const dir = packageDir(name);
  if (!dir) {
    say(`error: ${name} is not installed for ${project}: run \`npm install\` there`);
    process.exit(2);
  }
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  return { dir, version: manifest.version, manifest };
}

// 1. Types. tsc prints its errors itself, as file(line,col): message.
if (existsSync(join(project, "tsconfig.json"))) {
  const typescript = packageDir("typescript");
  if (typescript) {
    say("Checking types with tsc…");
    const tsc = spawnSync(process.execPath, [join(typescript, "bin", "tsc"), "--noEmit", "-p", project], {
      // Standard error, both: standard output is for the component's path.
      stdio: ["ignore", 2, 2],
    });
    if (tsc.status !== 0) {
      say("error: TypeScript found errors (above); nothing was built");
      process.exit(1);
    }
  } else {
    say("warning: typescript is not installed, so types are not checked (npm install --save-dev typescript)");
  }
}

// Runs once while componentize-js snapshots the engine (Wizer), so every
// fresh instance starts with what a request needs already made: SpiderMonkey
// creates built-ins (constructors, Promise and async machinery, typed
// arrays, JSON) lazily, per global, and a request would otherwise pay for
// them each time. The bindings that call the handler live in a global of
// their own, reached through an imported function's `Function`; should that
// change, the second line does nothing. (BENCHMARKS.md: CPU per fresh
// execution about halved.)
const WARM_UP = `
import { log as __flowwLog } from "floww:workflow/log@0.1.0";
const __flowwWarm = \`
  const bytes = new Uint8Array(new ArrayBuffer(8).slice(0, 4));
  new DataView(bytes.buffer).setUint32(0, 1, true);
  new Uint8Array(8).set(bytes);
  JSON.stringify(JSON.parse('{"a":[1,"b",null,true]}'));
  Array.isArray([]); Object.keys({ a: 1 }); Number(1n); BigInt(1); String(1);
  [1].push(2); [].map((x) => x); "a".charCodeAt(0); new Map().set(1, 2);
  (async () => { await null; })();
  Promise.resolve(1).then((x) => x);
\`;
new Function(__flowwWarm)();
new (__flowwLog.constructor)(__flowwWarm)();
new TextDecoder().decode(new TextEncoder().encode("warm"));
new TextEncoder().encodeInto("warm", new Uint8Array(8));
`;

// 2. One ES module. The entry's default export is the workflow; the
// component exports it as the WIT interface `handler`.
const esbuild = tool("esbuild");
const { build, formatMessages } = await import(pathToFileURL(join(esbuild.dir, "lib", "main.js")).href);
say(`Bundling ${relative(project, entry)} with esbuild…`);
let bundle;
try {
  const result = await build({
    stdin: {
      contents: `import workflow from ${JSON.stringify(entry)};\n${WARM_UP}\nexport const handler = workflow;\n`,
      resolveDir: project,
      sourcefile: "floww-entry.js",
      loader: "js",
    },
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    mainFields: ["module", "main"],
    external: ["floww:*"],
    write: false,
    logLevel: "silent",
    color: false,
  });
  bundle = result.outputFiles[0].text;
} catch (e) {
  // esbuild's messages carry file, line and column; print them as it would.
  const lines = await formatMessages(e.errors ?? [], { kind: "error", color: false });
  say(lines.length ? lines.join("") : String(e));
  say("error: bundling failed; nothing was built");
  process.exit(1);
}

// 3. The component, unless the cache already has it for this bundle.
const componentize = tool("@bytecodealliance/componentize-js");
const options = { worldName: "workflow", disableFeatures: ["http", "fetch-event"] };
const key = createHash("sha256")
  .update(JSON.stringify({ componentize: componentize.version, options }))
  .update(readFileSync(join(witDir, "workflow.wit")))
  .update(bundle)
  .digest("hex");
const keyFile = `${outWasm}.key`;
if (existsSync(outWasm) && existsSync(keyFile) && readFileSync(keyFile, "utf8") === key) {
  say(`Unchanged since the last build: ${relative(process.cwd(), outWasm)}`);
  process.exit(0);
}

mkdirSync(dirname(outWasm), { recursive: true });
const bundleFile = outWasm.replace(/\.wasm$/, ".js");
writeFileSync(bundleFile, bundle);
say(`Componentizing with componentize-js ${componentize.version} (about 10 s)…`);
const { exports } = componentize.manifest;
const exported = exports["."]?.import ?? exports.import;
const { componentize: make } = await import(pathToFileURL(join(componentize.dir, exported)).href);
let component;
try {
  ({ component } = await make({ sourcePath: bundleFile, witPath: witDir, ...options }));
} catch (e) {
  say(String(e?.message ?? e));
  say("error: componentize-js could not make a component of the bundle; nothing was built");
  process.exit(1);
}
// Written aside and renamed, so a build stopped midway never leaves half a
// component under the name a deploy reads.
writeFileSync(`${outWasm}.tmp`, component);
renameSync(`${outWasm}.tmp`, outWasm);
writeFileSync(keyFile, key);
const mib = (component.length / (1 << 20)).toFixed(1);
say(`Built ${relative(process.cwd(), outWasm)} (${mib} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
