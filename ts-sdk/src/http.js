// The webhook request a handler receives and the response it returns.
//
// The host hands the guest a WIT `request` record (method, path, query pairs,
// lower-case header pairs, body bytes) and takes back a `response` record
// (status, header pairs, body bytes). `Request` wraps the first; `json()` and
// `text()` build the second; `toWitResponse` checks whatever a handler
// returned and turns it into the record.

import { HttpError, describe } from "./errors.js";
import { jsonSyntaxError } from "./json.js";

const encoder = new TextEncoder();
const lenientDecoder = new TextDecoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** Name/value pairs looked up by name: the query (exact names) or the headers (any case). */
export class Pairs {
  #pairs;
  #foldCase;

  /**
   * @param {[string, string][]} pairs
   * @param {boolean} foldCase compare names without regard to ASCII case
   */
  constructor(pairs, foldCase) {
    this.#pairs = pairs;
    this.#foldCase = foldCase;
  }

  #matches(name) {
    if (!this.#foldCase) return ([n]) => n === name;
    const lower = String(name).toLowerCase();
    return ([n]) => n.toLowerCase() === lower;
  }

  /** The first value called `name`, or `undefined`. */
  get(name) {
    return this.#pairs.find(this.#matches(name))?.[1];
  }

  /** Every value called `name`, in order. */
  getAll(name) {
    return this.#pairs.filter(this.#matches(name)).map(([, value]) => value);
  }

  /** Whether there is a value called `name`. */
  has(name) {
    return this.#pairs.some(this.#matches(name));
  }

  /** Every pair, in the order they came. */
  entries() {
    return this.#pairs.map(([name, value]) => [name, value]);
  }

  [Symbol.iterator]() {
    return this.entries()[Symbol.iterator]();
  }

  /** The pairs as an object (the first value of each name); for logging and JSON. */
  toJSON() {
    const out = {};
    for (const [name, value] of this.#pairs) if (!(name in out)) out[name] = value;
    return out;
  }
}

/** An HTTP request that reached `/webhook/<path>`. */
export class Request {
  /** @param {{ method: string, path: string, query: [string, string][], headers: [string, string][], body: Uint8Array }} wit */
  constructor(wit) {
    /** Upper-case method, e.g. "POST". */
    this.method = wit.method;
    /** The path without the `/webhook` prefix, e.g. "/users". */
    this.path = wit.path;
    /** Decoded query parameters, in order; names compared exactly. */
    this.query = new Pairs(wit.query ?? [], false);
    /** Headers, names in lower case; looked up without regard to case. */
    this.headers = new Pairs(wit.headers ?? [], true);
    /** The body bytes. */
    this.body = wit.body instanceof Uint8Array ? wit.body : new Uint8Array(wit.body ?? []);
  }

  /** The body as text (UTF-8; bytes that aren't become U+FFFD). */
  text() {
    return lenientDecoder.decode(this.body);
  }

  /**
   * The body parsed as JSON. An empty body or one that is not JSON throws an
   * `HttpError` 400 with the Rust SDK's message, so a handler can let it
   * propagate: the caller then gets that 400.
   */
  json() {
    if (this.body.every(isAsciiWhitespace)) {
      throw HttpError.badRequest("the request body is empty; send a JSON body");
    }
    let value;
    try {
      value = JSON.parse(strictDecoder.decode(this.body));
    } catch (err) {
      const reason = jsonSyntaxError(this.body) ?? describe(err);
      throw HttpError.badRequest(`the request body is not valid JSON: ${reason}`);
    }
    // JSON.parse takes two things serde_json refuses: unpaired surrogate
    // escapes ("\udc00") and nesting deeper than 128. Rare, so look closer
    // only when the body could have them.
    if (mayBeStricter(this.body)) {
      const reason = jsonSyntaxError(this.body);
      if (reason !== undefined) throw HttpError.badRequest(`the request body is not valid JSON: ${reason}`);
    }
    return value;
  }
}

/** Whether a body JSON.parse accepted has a `\\u` escape or over 128 brackets. */
function mayBeStricter(bytes) {
  let brackets = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x5c && bytes[i + 1] === 0x75) return true;
    if ((b === 0x5b || b === 0x7b) && ++brackets > 128) return true;
  }
  return false;
}

/** Rust's `u8::is_ascii_whitespace`, which the Rust SDK uses for "empty". */
function isAsciiWhitespace(b) {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d;
}

/**
 * The 400 the Rust SDK answers a JSON body of the wrong shape with (serde
 * could not read it as the handler's type): "the request body has the wrong
 * shape: <detail>", `detail` in serde's words ("missing field `id`").
 * @param {string} detail
 * @returns {HttpError}
 */
export function wrongShape(detail) {
  return HttpError.badRequest(`the request body has the wrong shape: ${detail}`);
}

/**
 * A response whose body is `value` as JSON, with `content-type: application/json`.
 * A value JSON can't hold (a BigInt, a cycle, `undefined`) throws an HttpError 500.
 */
export function json(status, value, headers) {
  let body;
  try {
    body = JSON.stringify(value);
  } catch (err) {
    throw new HttpError(500, `the response could not be serialized to JSON: ${describe(err)}`);
  }
  if (body === undefined) {
    throw new HttpError(500, `the response could not be serialized to JSON: ${typeof value} has no JSON form`);
  }
  return { status, headers: [["content-type", "application/json"], ...headerPairs(headers)], body: encoder.encode(body) };
}

/** A response whose body is `text`, with `content-type: text/plain; charset=utf-8`. */
export function text(status, body, headers) {
  return {
    status,
    headers: [["content-type", "text/plain; charset=utf-8"], ...headerPairs(headers)],
    body: encoder.encode(String(body)),
  };
}

/** `{"error": message}` with `status`: how every failure answers. */
export function errorResponse(status, message) {
  return json(status, { error: message });
}

/** Headers given as pairs, an object, or anything with `entries()`, as WIT pairs of strings. */
function headerPairs(headers) {
  if (headers === undefined || headers === null) return [];
  const pairs = Array.isArray(headers)
    ? headers
    : typeof headers.entries === "function" && !isPlainObject(headers)
      ? [...headers.entries()]
      : Object.entries(headers);
  return pairs.map((pair) => {
    if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError("each header must be a [name, value] pair");
    return [String(pair[0]), String(pair[1])];
  });
}

function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks what a handler returned and makes it the WIT `response` record. A
 * body may be a Uint8Array, an ArrayBuffer, a string or nothing.
 * @throws {TypeError} saying what is wrong with it
 */
export function toWitResponse(returned) {
  if (returned === null || typeof returned !== "object" || !("status" in returned)) {
    throw new TypeError(
      `the handler returned ${returned === null ? "null" : typeof returned}, not a response: ` +
        "return json(status, value), text(status, string) or { status, headers, body }",
    );
  }
  const { status, headers, body } = returned;
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new TypeError(`the handler's response has status ${String(status)}; use an integer from 100 to 999`);
  }
  return { status, headers: headerPairs(headers), body: bodyBytes(body) };
}

function bodyBytes(body) {
  if (body === undefined || body === null) return new Uint8Array(0);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === "string") return encoder.encode(body);
  throw new TypeError(
    `the handler's response body is ${typeof body === "object" ? "an object" : `a ${typeof body}`}; ` +
      "give a string or a Uint8Array, or use json(status, value)",
  );
}
