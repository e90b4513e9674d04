// Reading a request body of a known shape, with the same 400 messages as the
// Rust example (whose bodies are serde structs).
//
// TypeScript types vanish at run time, so `req.json<T>()` only casts. Here
// each webhook lists its fields and their kinds; `readBody` checks them and
// answers a body of another shape with a 400 that says what is wrong, in
// serde's words and pointing where serde points:
//
//     the request body has the wrong shape: missing field `userId` at line 1 column 17
//     the request body has the wrong shape: invalid type: integer `5`, expected a string at line 1 column 11
//
// (One serde habit is not copied: it also reads a struct from a JSON array,
// field by field; here an array is only ever the wrong shape.)

import { describeJson, wrongShape, type Request } from "floww";

/** What a field may hold; `?` marks one that may be left out (or null). */
type Kind = "string" | "string?" | "u32?" | "boolean" | "json?";

/** The TypeScript type a field of `K` reads as. */
type Read<K extends Kind> = K extends "string"
  ? string
  : K extends "string?"
    ? string | undefined
    : K extends "u32?"
      ? number | undefined
      : K extends "boolean"
        ? boolean
        : unknown;

export type Body<Spec extends Record<string, Kind>> = { [F in keyof Spec]: Read<Spec[F]> };

/**
 * The body as an object with the fields of `spec`, checked. Fields the spec
 * doesn't name are ignored. A `"boolean"` field left out is `false`.
 *
 * @param struct what the Rust example calls the shape, for messages ("struct Body")
 */
export function readBody<Spec extends Record<string, Kind>>(req: Request, struct: string, spec: Spec): Body<Spec> {
  const value = req.json(); // a body that is not JSON: 400, from the SDK
  const where = new Positions(req.body);
  if (Array.isArray(value) && value.length < Object.keys(spec).length) {
    const count = Object.keys(spec).length;
    const elements = `${count} element${count === 1 ? "" : "s"}`;
    throw wrongShapeAt(`invalid length ${value.length}, expected ${struct} with ${elements}`, where.end());
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw wrongShapeAt(`invalid type: ${describeJson(value)}, expected ${struct}`, where.afterTopLevel(value));
  }
  const fields = value as Record<string, unknown>;
  const body: Record<string, unknown> = {};
  // serde checks the fields in the order the body has them, then looks for missing ones.
  for (const [field, got] of Object.entries(fields)) {
    const kind = spec[field];
    if (kind === undefined) continue;
    const problem = check(kind, got);
    if (problem !== undefined) throw wrongShapeAt(problem, where.afterField(field, got));
    body[field] = kind === "boolean" ? got : (got ?? undefined);
  }
  for (const [field, kind] of Object.entries(spec)) {
    if (field in body) continue;
    if (kind === "string") throw wrongShapeAt(`missing field \`${field}\``, where.end());
    body[field] = kind === "boolean" ? false : undefined;
  }
  return body as Body<Spec>;
}

/** What is wrong with `got` for a field of `kind`, if anything. */
function check(kind: Kind, got: unknown): string | undefined {
  switch (kind) {
    case "json?":
      return undefined;
    case "string":
    case "string?":
      if (typeof got === "string" || (kind === "string?" && got === null)) return undefined;
      return `invalid type: ${describeJson(got)}, expected a string`;
    case "boolean":
      return typeof got === "boolean" ? undefined : `invalid type: ${describeJson(got)}, expected a boolean`;
    case "u32?":
      if (got === null) return undefined;
      if (typeof got === "number" && Number.isInteger(got)) {
        return got >= 0 && got <= 0xffff_ffff ? undefined : `invalid value: integer \`${got}\`, expected u32`;
      }
      return `invalid type: ${describeJson(got)}, expected u32`;
  }
}

/** The SDK's wrong-shape 400, pointing `at` a place in the body as serde does. */
function wrongShapeAt(detail: string, at: string) {
  return wrongShape(`${detail} at ${at}`);
}

const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * Places in a body that is valid JSON, as serde names them ("line 1 column
 * 11": the line, and the bytes before the place on it). serde points after a
 * wrong scalar, at the bracket of a wrong array or object, and after the end
 * of an object that lacks a field.
 */
class Positions {
  constructor(private readonly bytes: Uint8Array) {}

  /** After the body's last value. */
  end(): string {
    let end = this.bytes.length;
    while (end > 0 && SPACE.has(this.bytes[end - 1]!)) end--;
    return this.at(end);
  }

  /** Where serde reports a top-level value of the wrong type. */
  afterTopLevel(value: unknown): string {
    const start = this.skipSpace(0);
    return this.at(typeof value === "object" && value !== null ? start : this.skipValue(start));
  }

  /** Where serde reports the value of top-level member `field` (the last one, as JSON.parse keeps it). */
  afterField(field: string, value: unknown): string {
    let found: [number, number] | undefined;
    let i = this.skipSpace(0) + 1; // past the `{`
    for (;;) {
      i = this.skipSpace(i);
      if (this.bytes[i] === 0x2c) i = this.skipSpace(i + 1);
      if (this.bytes[i] !== 0x22) break; // the closing `}`
      const keyEnd = this.skipValue(i);
      const key = this.asciiString(i, keyEnd); // every field name we look for is ASCII
      const start = this.skipSpace(this.skipSpace(keyEnd) + 1); // past the `:`
      i = this.skipValue(start);
      if (key === field) found = [start, i];
    }
    if (found === undefined) return this.end();
    return this.at(typeof value === "object" && value !== null ? found[0] : found[1]);
  }

  /** The JSON string literal in `[start, end)`, decoded, if it is all ASCII. */
  private asciiString(start: number, end: number): string | undefined {
    const raw = this.bytes.subarray(start, end);
    return raw.every((b) => b < 0x80) ? (JSON.parse(String.fromCharCode(...raw)) as string) : undefined;
  }

  private skipSpace(i: number): number {
    while (i < this.bytes.length && SPACE.has(this.bytes[i]!)) i++;
    return i;
  }

  /** The index just after the value that starts at `i`. */
  private skipValue(i: number): number {
    let depth = 0;
    do {
      const b = this.bytes[i]!;
      if (b === 0x22) {
        for (i++; this.bytes[i] !== 0x22; i++) if (this.bytes[i] === 0x5c) i++;
        i++;
      } else if (b === 0x5b || b === 0x7b) {
        depth++;
        i++;
      } else if (b === 0x5d || b === 0x7d) {
        depth--;
        i++;
      } else if (depth > 0) {
        i++;
      } else {
        while (i < this.bytes.length && !SPACE.has(this.bytes[i]!) && !",]}".includes(String.fromCharCode(this.bytes[i]!))) i++;
      }
    } while (depth > 0);
    return i;
  }

  private at(index: number): string {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < index; i++) {
      if (this.bytes[i] === 0x0a) {
        line++;
        lineStart = i + 1;
      }
    }
    return `line ${line} column ${index - lineStart}`;
  }
}
