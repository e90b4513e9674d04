// Module resolution hooks: `floww:workflow/<name>@0.1.0` → `./<name>.js`.
const FAKES = new Set(["kv", "log", "secrets"]);

export async function resolve(specifier, context, next) {
  const match = /^floww:workflow\/([a-z]+)@0\.1\.0$/.exec(specifier);
  if (match && FAKES.has(match[1])) {
    return { url: new URL(`./${match[1]}.js`, import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
