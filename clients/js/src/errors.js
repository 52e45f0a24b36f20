// The error vocabulary shared by every sealgate client library (docs/clients.md,
// "What to do with an error"). Messages never carry a secret: no client secret, token, K,
// private key or message body; a resDesc is quoted only when it is one of the gateway's own.
import { parseJsonObject } from "./json.js";

/** The kinds of SealgateError. */
export const ErrorKind = Object.freeze({
  CREDENTIALS_REFUSED: "CREDENTIALS_REFUSED",
  REQUEST_REFUSED: "REQUEST_REFUSED",
  RETRY_LATER: "RETRY_LATER",
  SESSION_EXPIRED: "SESSION_EXPIRED",
  REPLAYED: "REPLAYED",
  CLOCK_SKEW: "CLOCK_SKEW",
  HANDSHAKE_INVALID: "HANDSHAKE_INVALID",
  RESPONSE_INVALID: "RESPONSE_INVALID",
  GATEWAY_ERROR: "GATEWAY_ERROR",
  TRANSPORT: "TRANSPORT",
});

const KINDS = new Set(Object.values(ErrorKind));

export class SealgateError extends Error {
  /**
   * @param {string} kind one of ErrorKind
   * @param {string} message what went wrong, without any secret
   * @param {{status?: number, resCode?: string|null, retryAfterSeconds?: number|null, cause?: unknown}} [details]
   */
  constructor(kind, message, { status = 0, resCode = null, retryAfterSeconds = null, cause } = {}) {
    if (!KINDS.has(kind)) throw new TypeError(`unknown SealgateError kind ${String(kind).slice(0, 40)}`);
    super(`${kind}: ${message}`, cause === undefined ? undefined : { cause });
    this.name = "SealgateError";
    /** One of ErrorKind. */
    this.kind = kind;
    /** The HTTP status, 0 when there was no answer (or it does not apply). */
    this.status = status;
    /** The gateway's resCode, or null. */
    this.resCode = resCode;
    /** Seconds from Retry-After when the gateway sent one (and the browser let us read it), or null. */
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

const SESSION_EXPIRED_CODES = new Set(["AUTH003", "AUTH005", "AUTH007", "AUTH009", "AUTH010", "AUTH011"]);

/**
 * The kind for an answer of the gateway's own, from its status and resCode (null if none).
 * A session code is SESSION_EXPIRED only with 401, the status the gateway sends it with.
 */
export function kindFor(status, resCode) {
  if (status === 429 || status === 503) return ErrorKind.RETRY_LATER;
  if (resCode === "TOK002" || resCode === "TOK004") return ErrorKind.CREDENTIALS_REFUSED;
  if (resCode !== null && SESSION_EXPIRED_CODES.has(resCode) && status === 401) return ErrorKind.SESSION_EXPIRED;
  if (resCode === "AUTH008") return ErrorKind.REPLAYED;
  if (resCode === "AUTH006") return ErrorKind.CLOCK_SKEW;
  if (status >= 400 && status < 500) return ErrorKind.REQUEST_REFUSED;
  return ErrorKind.GATEWAY_ERROR;
}

/** Retry-After as whole seconds: delta-seconds, or an HTTP date from now; null otherwise. */
export function parseRetryAfter(value, nowMs = Date.now()) {
  if (value === null || value === undefined) return null;
  const text = String(value).trim();
  if (/^[0-9]{1,9}$/.test(text)) return Number(text);
  const when = Date.parse(text);
  if (/[A-Za-z]/.test(text) && Number.isFinite(when)) return Math.max(0, Math.ceil((when - nowMs) / 1000));
  return null;
}

/**
 * The gateway's {"resCode","resDesc"} body, or null when the body is not exactly that (both
 * members, strings, and nothing else): an upstream's JSON is never taken for the gateway's own
 * refusal.
 */
export function parseGatewayError(bytes) {
  try {
    if (bytes.length > 4096) return null;
    const body = parseJsonObject(bytes);
    const names = Object.keys(body);
    if (typeof body.resCode !== "string" || !/^[A-Z]{2,12}[0-9]{3}$/.test(body.resCode)) return null;
    if (typeof body.resDesc !== "string") return null;
    if (names.length !== 2) return null;
    return { resCode: body.resCode, resDesc: body.resDesc };
  } catch {
    return null;
  }
}

// The gateway's own descriptions (docs/protocol.md, "Errors"). Only these are quoted in a
// message: whatever else a body says could be anything, a secret included.
const KNOWN_DESCRIPTIONS = new Set([
  "Success", "Failure", "Invalid API Key Passed", "Your credentials not allowed to generate token",
  "Token missing", "Token malformed", "Token key unknown", "Token invalid", "Token expired", "Token not yet valid",
  "Session revoked or unknown", "Request replayed", "Session request limit reached",
  "Token issued before this instance started", "Session evicted: make a new handshake",
  "Request body is not a valid JWE", "Request body does not decrypt", "Request body too large",
  "Request body not received in time", "Request body could not be read", "Sealed message is not a request",
  "Sealed message is bound to another request", "Request binding required", "X-Request-Seal is not an empty sealed message",
  "No route", "Method or upgrade not supported", "Path not acceptable", "Route busy", "More than one Host header",
  "Too many header fields", "Upstream unreachable", "Upstream sent an invalid response", "Upstream response too large",
  "Upstream timed out", "Upstream broke HTTP framing", "Service unavailable", "Session state unavailable",
  "Replay memory full", "Internal error", "Not a valid WebSocket handshake", "Rate limit reached",
]);

/**
 * The SealgateError for an answer in clear that is not the success the caller waited for:
 * the gateway's own error (or a bare status). `bytes` is read for resCode and resDesc only.
 */
export function errorFromAnswer(status, bytes, headers, what) {
  const parsed = parseGatewayError(bytes);
  const resCode = parsed ? parsed.resCode : null;
  const kind = kindFor(status, resCode);
  const retryAfterSeconds = parseRetryAfter(headers?.get?.("retry-after") ?? null);
  let message = `${what} answered HTTP ${status}`;
  if (resCode) message += ` ${resCode}`;
  if (parsed && KNOWN_DESCRIPTIONS.has(parsed.resDesc)) message += ` (${parsed.resDesc})`;
  if (retryAfterSeconds !== null) message += `; retry after ${retryAfterSeconds} s`;
  return new SealgateError(kind, message, { status, resCode, retryAfterSeconds });
}
