// The errors a workflow meets and throws, and the HTTP status each one means.
//
// - `KVError`: a KV call failed. The host says why with one of the WIT
//   `kv-error` cases, kept as `kind`; `statusCode` is its HTTP status.
// - `BatchError`: a `KVError` for a whole batch, naming the write that failed.
// - `HttpError`: thrown by a handler to answer with a status and message of its
//   own (the Rust SDK's `floww::Error`).
//
// Thrown out of a webhook handler, each becomes `{"error": message}` with its
// status (see `errorAnswer`); anything else thrown is a 500 with its message.

/** HTTP status for each `kv-error` case of the WIT, plus the SDK's own `decode`. */
const KV_STATUS = Object.freeze({
  "not-found": 404,
  "permission-denied": 403,
  "invalid-input": 400,
  "value-too-large": 413,
  conflict: 409,
  internal: 500,
  unavailable: 503,
  decode: 500,
});

/** Why a KV call failed: `kind` is the WIT case, `statusCode` its HTTP status. */
export class KVError extends Error {
  /**
   * @param {string} kind a WIT `kv-error` case, e.g. "not-found"
   * @param {string} message for people, as the host wrote it
   */
  constructor(kind, message) {
    super(message);
    this.name = "KVError";
    this.kind = kind;
    this.statusCode = KV_STATUS[kind] ?? 500;
  }
}

/**
 * Why a batch changed nothing: the write at `index` (from 0) failed with
 * `error`. Its `kind` and `statusCode` are that error's; its message names the
 * write: "write #2 failed: …", as the Rust SDK's does.
 */
export class BatchError extends KVError {
  /**
   * @param {number} index
   * @param {KVError} error
   */
  constructor(index, error) {
    super(error.kind, `write #${index} failed: ${error.message}`);
    this.name = "BatchError";
    this.index = index;
    this.error = error;
  }
}

/** A handler's own failure: the caller gets `statusCode` and `{"error": message}`. */
export class HttpError extends Error {
  /**
   * @param {number} statusCode
   * @param {string} message
   */
  constructor(statusCode, message) {
    super(message);
    this.name = "HttpError";
    this.statusCode = statusCode;
  }

  /** A 400: the request is wrong. */
  static badRequest(message) {
    return new HttpError(400, message);
  }

  /** A 404: what was asked for does not exist. */
  static notFound(message) {
    return new HttpError(404, message);
  }

  /** A 409: the request conflicts with what is stored. */
  static conflict(message) {
    return new HttpError(409, message);
  }
}

/**
 * The `KVError` for an error a `kv` import threw. componentize-js throws an
 * `Error` whose `payload` is the WIT error value, `{ tag, val }`.
 */
export function kvErrorFrom(thrown) {
  const payload = thrown?.payload;
  if (payload && typeof payload.tag === "string") return new KVError(payload.tag, String(payload.val ?? ""));
  return new KVError("internal", `the KV call failed unexpectedly: ${describe(thrown)}`);
}

/** The `BatchError` for an error the `kv.batch` import threw (`{ index, error: { tag, val } }`). */
export function batchErrorFrom(thrown) {
  const payload = thrown?.payload;
  if (payload && typeof payload.index === "number" && payload.error) {
    return new BatchError(payload.index, kvErrorFrom({ payload: payload.error }));
  }
  return new BatchError(0, kvErrorFrom(thrown));
}

/**
 * What a thrown value answers: its status, its message, and whether it was
 * expected (our error classes) or a bug in the handler (anything else).
 * @returns {{ status: number, message: string, expected: boolean }}
 */
export function errorAnswer(thrown) {
  if (thrown instanceof HttpError || thrown instanceof KVError) {
    return { status: validStatus(thrown.statusCode), message: thrown.message, expected: true };
  }
  return { status: 500, message: describe(thrown), expected: false };
}

/** A status to send: an integer 100–999, or 500. */
function validStatus(status) {
  return Number.isInteger(status) && status >= 100 && status <= 999 ? status : 500;
}

/** A thrown value as a message: an Error's message, anything else as a string. */
export function describe(thrown) {
  if (thrown instanceof Error) return thrown.message || thrown.name;
  try {
    return String(thrown);
  } catch {
    return Object.prototype.toString.call(thrown);
  }
}

/** The stack of an unexpected Error, for the log, if the engine gave one. */
export function stackOf(thrown) {
  return thrown instanceof Error && typeof thrown.stack === "string" && thrown.stack.trim() !== ""
    ? thrown.stack.trimEnd()
    : undefined;
}
