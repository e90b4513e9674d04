// Reading a webhook's JSON body the way the Rust SDK does.
//
// `Request.json()` in the Rust SDK answers a body that is not JSON with a 400
// whose message is serde_json's: "the request body is not valid JSON: key must
// be a string at line 1 column 2". The engine's own `JSON.parse` message says
// the same thing in other words, so when it fails we run the small scanner
// below over the body's bytes: it follows serde_json's parser (1.0.x,
// `de.rs` and `read.rs`) closely enough to name the same error at the same
// line and column (columns count bytes, as serde_json's do). The fast path is
// always the engine's `JSON.parse`; the scanner only ever runs on a failure.
//
// Two small helpers for answering as a Rust workflow does, exported for
// workflow authors: `describeJson` names a value as serde's "invalid type"
// messages do, and `withSortedKeys` orders object keys as serde_json's
// `Value` (and so `json!`) keeps them.

/** Whitespace as serde_json skips it (not form feed). */
const isSpace = (b) => b === 0x20 || b === 0x0a || b === 0x09 || b === 0x0d;
const isDigit = (b) => b >= 0x30 && b <= 0x39;
const isHex = (b) => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);

/** serde_json refuses the 128th level of nesting. */
const RECURSION_LIMIT = 128;

/** Thrown inside the scanner; caught by `jsonSyntaxError`. */
class SyntaxFound {
  constructor(message) {
    this.message = message;
  }
}

/**
 * The message serde_json gives for the first syntax error in `bytes`
 * ("expected value at line 1 column 1"), or `undefined` if it finds none.
 * @param {Uint8Array} bytes
 * @returns {string | undefined}
 */
export function jsonSyntaxError(bytes) {
  const scanner = new Scanner(bytes);
  try {
    scanner.value();
    // `Deserializer::end`: only whitespace may follow the value.
    if (scanner.whitespace() !== undefined) scanner.fail("trailing characters", true);
    return undefined;
  } catch (err) {
    if (err instanceof SyntaxFound) return err.message;
    throw err;
  }
}

class Scanner {
  constructor(bytes) {
    this.bytes = bytes;
    this.index = 0;
    this.depth = 0;
  }

  peek() {
    return this.index < this.bytes.length ? this.bytes[this.index] : undefined;
  }

  next() {
    return this.index < this.bytes.length ? this.bytes[this.index++] : undefined;
  }

  /** serde's `position()` (after the last byte read) or, with `peeked`, `peek_position()`. */
  fail(code, peeked = false) {
    const at = peeked ? Math.min(this.bytes.length, this.index + 1) : this.index;
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < at; i++) {
      if (this.bytes[i] === 0x0a) {
        line += 1;
        lineStart = i + 1;
      }
    }
    throw new SyntaxFound(`${code} at line ${line} column ${at - lineStart}`);
  }

  /** Skips whitespace; the next byte, not consumed. */
  whitespace() {
    while (isSpace(this.peek())) this.index++;
    return this.peek();
  }

  value() {
    const b = this.whitespace();
    if (b === undefined) this.fail("EOF while parsing a value", true);
    switch (b) {
      case 0x6e: // n
        this.index++;
        return this.ident("ull");
      case 0x74: // t
        this.index++;
        return this.ident("rue");
      case 0x66: // f
        this.index++;
        return this.ident("alse");
      case 0x2d: // -
        this.index++;
        return this.number();
      case 0x22: // "
        this.index++;
        return this.string();
      case 0x5b: // [
        return this.nested(() => this.list());
      case 0x7b: // {
        return this.nested(() => this.object());
      default:
        if (isDigit(b)) return this.number();
        this.fail("expected value", true);
    }
  }

  nested(scan) {
    // serde counts down from 128 and fails on reaching 0, before eating the bracket.
    if (++this.depth >= RECURSION_LIMIT) this.fail("recursion limit exceeded", true);
    this.index++;
    scan();
    this.depth--;
  }

  ident(rest) {
    for (const expected of rest) {
      const b = this.next();
      if (b === undefined) this.fail("EOF while parsing a value");
      if (b !== expected.charCodeAt(0)) this.fail("expected ident");
    }
  }

  number() {
    const first = this.next();
    if (first === undefined) this.fail("EOF while parsing a value");
    if (first === 0x30) {
      if (isDigit(this.peek())) this.fail("invalid number", true);
    } else if (isDigit(first)) {
      while (isDigit(this.peek())) this.index++;
    } else {
      this.fail("invalid number");
    }
    if (this.peek() === 0x2e) {
      this.index++;
      if (!isDigit(this.peek())) {
        this.fail(this.peek() === undefined ? "EOF while parsing a value" : "invalid number", true);
      }
      while (isDigit(this.peek())) this.index++;
    }
    if (this.peek() === 0x65 || this.peek() === 0x45) {
      this.index++;
      if (this.peek() === 0x2b || this.peek() === 0x2d) this.index++;
      const digit = this.next();
      if (digit === undefined) this.fail("EOF while parsing a value");
      if (!isDigit(digit)) this.fail("invalid number");
      while (isDigit(this.peek())) this.index++;
    }
  }

  string() {
    const start = this.index;
    for (;;) {
      const b = this.next();
      if (b === undefined) this.fail("EOF while parsing a string");
      if (b === 0x22) break;
      if (b === 0x5c) {
        this.escape();
      } else if (b < 0x20) {
        this.fail("control character (\\u0000-\\u001F) found while parsing a string");
      }
    }
    // serde checks the UTF-8 once the string is read, and points at the first bad byte.
    const bad = firstInvalidUtf8(this.bytes, start, this.index - 1);
    if (bad !== undefined) {
      // serde's column: the closing quote's, less the bytes from the bad one to it.
      this.index = bad + 1;
      this.fail("invalid unicode code point");
    }
  }

  escape() {
    const b = this.next();
    if (b === undefined) this.fail("EOF while parsing a string");
    if ('"\\/bfnrt'.includes(String.fromCharCode(b))) return;
    if (b !== 0x75) this.fail("invalid escape");
    const unit = this.hex4();
    if (unit >= 0xdc00 && unit <= 0xdfff) this.fail("lone leading surrogate in hex escape");
    if (unit < 0xd800 || unit > 0xdbff) return;
    // A leading surrogate must be followed by `\u` and a trailing one.
    for (const expected of [0x5c, 0x75]) {
      const next = this.peek();
      if (next === undefined) this.fail("EOF while parsing a string");
      this.index++;
      if (next !== expected) this.fail("unexpected end of hex escape");
    }
    const trailing = this.hex4();
    if (trailing < 0xdc00 || trailing > 0xdfff) this.fail("lone leading surrogate in hex escape");
  }

  hex4() {
    if (this.index + 4 > this.bytes.length) {
      this.index = this.bytes.length;
      this.fail("EOF while parsing a string");
    }
    const digits = this.bytes.subarray(this.index, this.index + 4);
    this.index += 4;
    if (!digits.every(isHex)) this.fail("invalid escape");
    return parseInt(String.fromCharCode(...digits), 16);
  }

  list() {
    let first = true;
    for (;;) {
      const b = this.whitespace();
      if (b === undefined) this.fail("EOF while parsing a list", true);
      if (b === 0x5d) break;
      if (first) {
        first = false;
      } else if (b === 0x2c) {
        this.index++;
        const after = this.whitespace();
        if (after === 0x5d) this.fail("trailing comma", true);
        if (after === undefined) this.fail("EOF while parsing a value", true);
      } else {
        this.fail("expected `,` or `]`", true);
      }
      this.value();
    }
    this.index++; // the `]`, as `end_seq` eats it
  }

  object() {
    let first = true;
    for (;;) {
      const b = this.whitespace();
      if (b === undefined) this.fail("EOF while parsing an object", true);
      if (b === 0x7d) break;
      if (first) {
        first = false;
        if (b !== 0x22) this.fail("key must be a string", true);
      } else if (b === 0x2c) {
        this.index++;
        const after = this.whitespace();
        if (after === 0x7d) this.fail("trailing comma", true);
        if (after === undefined) this.fail("EOF while parsing a value", true);
        if (after !== 0x22) this.fail("key must be a string", true);
      } else {
        this.fail("expected `,` or `}`", true);
      }
      this.index++; // the key's opening quote
      this.string();
      const colon = this.whitespace();
      if (colon === undefined) this.fail("EOF while parsing an object", true);
      if (colon !== 0x3a) this.fail("expected `:`", true);
      this.index++;
      this.value();
    }
    this.index++; // the `}`, as `end_map` eats it
  }
}

/** The index of the first byte in `bytes[start, end)` that breaks UTF-8, if any. */
function firstInvalidUtf8(bytes, start, end) {
  let i = start;
  while (i < end) {
    const b = bytes[i];
    if (b < 0x80) {
      i += 1;
      continue;
    }
    let need;
    let min;
    if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (i + k >= end || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return undefined;
}

/**
 * What a JSON value is, in serde's words (its `Unexpected`), for messages
 * like "invalid type: integer `5`, expected a string": `null`,
 * ``boolean `true` ``, ``integer `5` ``, ``floating point `1.5` ``,
 * `string "hi"`, `sequence` (an array) or `map` (any other object).
 * @param {unknown} value a value from `JSON.parse`
 * @returns {string}
 */
export function describeJson(value) {
  if (value === null) return "null";
  if (typeof value === "boolean") return `boolean \`${value}\``;
  if (typeof value === "number") return Number.isInteger(value) ? `integer \`${value}\`` : `floating point \`${value}\``;
  if (typeof value === "string") return `string ${JSON.stringify(value)}`;
  return Array.isArray(value) ? "sequence" : "map";
}

/**
 * `value` with the keys of every object in it sorted (by `<`), at any depth,
 * as serde_json's `Value` and `json!` keep them: sent as JSON, it has the
 * same bytes as a Rust workflow's answer. Arrays keep their order; object
 * members whose value is `undefined` are left out, as JSON leaves them out.
 * Keys that are array indexes ("9", "10") stay first, in numeric order: a
 * JavaScript object always keeps them so.
 * Objects and arrays are copied (the argument is not changed), objects as
 * plain objects of their own enumerable members; anything else is returned
 * as it is.
 * @template T
 * @param {T} value
 * @returns {T}
 */
export function withSortedKeys(value) {
  if (Array.isArray(value)) return value.map(withSortedKeys);
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, withSortedKeys(v)]));
}
