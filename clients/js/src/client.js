// The sealgate client: the authenticated handshake (docs/protocol.md §1, §1.1), the session
// key (§2), bound sealed calls and sealed answers (§4, §4.1), renewal, and the error
// vocabulary of errors.js.
import { b64uDecode, b64uEncode, toBytes } from "./base64url.js";
import { ErrorKind, SealgateError, errorFromAnswer, parseGatewayError } from "./errors.js";
import { parseJsonObject } from "./json.js";
import {
  KDFS,
  agree,
  deriveSessionKey,
  exportPublicJwkText,
  generateKeyPair,
  importPublicJwk,
  open,
  seal,
  sealTokenRequest,
  verifyHandshake,
} from "./jose.js";
import { BodyTooLarge, DEFAULT_MAX_RESPONSE_BYTES, checkJwksUrl, readCapped } from "./http.js";
import { DEFAULT_JWKS_PATH, GatewayTrust } from "./trust.js";

export const DEFAULT_TOKEN_PATH = "/token-service/new/v2/token";
/** Renew when less than this is left before expiry (docs/clients.md, step 8). */
export const RENEW_BEFORE_MS = 60_000;
const MAX_TOKEN_CHARS = 4096;

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);
const HEADER_VALUE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const SESSION_RESET_CODES = new Set(["AUTH001", "AUTH002", "AUTH004"]);
/**
 * A call refused with SESSION_EXPIRED is sent again, after a new handshake, only when its method
 * is one of these: the refusal comes in clear, so whoever terminates TLS could forge it after
 * passing the call on, and running the call twice must then do no harm. The same rule in every
 * sealgate client library.
 */
export const IDEMPOTENT_METHODS = Object.freeze(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
const IDEMPOTENT = new Set(IDEMPOTENT_METHODS);

const isCryptoKey = (key) => key !== null && typeof key === "object" && typeof key.type === "string" && typeof key.algorithm === "object";

/** A token, its expiry (ms since the epoch) and K, a non-extractable AES-GCM CryptoKey. */
export class Session {
  #token;
  #key;

  /** @param {{token: string, expiry: number, key: CryptoKey}} parts */
  constructor({ token, expiry, key }) {
    if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_CHARS || !HEADER_VALUE.test(token)) {
      throw new TypeError("a token is 1 to 4096 printable ASCII characters");
    }
    if (!Number.isSafeInteger(expiry)) throw new TypeError("expiry is whole milliseconds since the epoch");
    if (!isCryptoKey(key) || key.algorithm.name !== "AES-GCM") throw new TypeError("key is K as an AES-GCM CryptoKey");
    this.#token = token;
    this.#key = key;
    /** When the token stops being valid, in milliseconds since the Unix epoch. */
    this.expiry = expiry;
    Object.freeze(this);
  }

  /** The opaque token, sent back as `Authorization: Bearer <token>`. */
  get token() {
    return this.#token;
  }

  /** K: the session's AES-256-GCM key (non-extractable). */
  get key() {
    return this.#key;
  }

  /** Milliseconds left before `expiry` at `nowMs`. */
  remainingMs(nowMs = Date.now()) {
    return this.expiry - nowMs;
  }

  /** Only the expiry: a session is not meant to be stored. */
  toJSON() {
    return { expiry: this.expiry };
  }
}

/** An answer of a protected route, opened when it was sealed. The body is held in memory. */
export class SealgateResponse {
  #body;

  constructor({ status, headers, sealed, cty, body }) {
    /** The HTTP status (the upstream's, when sealed). */
    this.status = status;
    /** The answer's HTTP headers (only the CORS-exposed ones in a browser). */
    this.headers = headers;
    /** Whether the answer came sealed (and was opened and checked). */
    this.sealed = sealed;
    /** The media type of the body: the sealed header's cty, or the Content-Type of an answer in clear. */
    this.cty = cty;
    this.#body = body;
    Object.freeze(this);
  }

  /** Whether the status is 2xx. */
  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  /** The body's bytes. */
  bytes() {
    return this.#body;
  }

  /** The body as UTF-8 text (malformed sequences become U+FFFD, as Response.text() does). */
  text() {
    return new TextDecoder().decode(this.#body);
  }

  /** The body parsed as JSON (JSON.parse: this is the upstream's data). */
  json() {
    return JSON.parse(this.text());
  }
}

/**
 * A client of one gateway, for one channel and one app identity. It keeps one session at a
 * time, renews it when less than `renewBeforeMs` is left, and seals every call.
 */
export class SealgateClient {
  #secret;
  #fetch;
  #now;
  #trustOption;
  #trust = null;
  #trustPending = null;
  #allowInsecureJwksFetch;
  #session = null;
  #sessionPending = null;

  /**
   * @param {object} options see index.d.ts (SealgateClientOptions)
   */
  constructor(options) {
    const {
      baseUrl,
      channel,
      apiKey,
      secret,
      kdf = "hkdf-sha256",
      trust,
      unauthenticatedHandshake = false,
      tokenPath = DEFAULT_TOKEN_PATH,
      jwksPath = DEFAULT_JWKS_PATH,
      renewBeforeMs = RENEW_BEFORE_MS,
      maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES,
      allowInsecureJwksFetch = false,
      fetch: fetchImpl,
      now = Date.now,
    } = options ?? {};
    const base = new URL(String(baseUrl));
    if (base.protocol !== "https:" && base.protocol !== "http:") throw new TypeError("baseUrl must be an http: or https: URL");
    if (base.search || base.hash || base.username || base.password) throw new TypeError("baseUrl is an origin and an optional path, nothing else");
    for (const [name, value] of [["channel", channel], ["apiKey", apiKey]]) {
      if (typeof value !== "string" || !HEADER_VALUE.test(value)) throw new TypeError(`${name} must be a non-empty printable ASCII string`);
    }
    if (typeof secret !== "string" || secret.length === 0) throw new TypeError("secret must be a non-empty string");
    if (!KDFS.includes(kdf)) throw new TypeError(`kdf is one of ${KDFS.join(", ")}`);
    for (const [name, value] of [["tokenPath", tokenPath], ["jwksPath", jwksPath]]) {
      if (typeof value !== "string" || !value.startsWith("/")) throw new TypeError(`${name} must start with /`);
    }
    if (!Number.isFinite(renewBeforeMs) || renewBeforeMs < 0) throw new TypeError("renewBeforeMs must be a number of milliseconds >= 0");
    if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 0) throw new TypeError("maxResponseBytes must be a whole number of bytes >= 0");
    if (typeof allowInsecureJwksFetch !== "boolean") throw new TypeError("allowInsecureJwksFetch must be a boolean");
    if (typeof now !== "function") throw new TypeError("now must be a function returning milliseconds since the epoch");
    if (trust === undefined || trust === null) {
      if (!unauthenticatedHandshake) {
        throw new TypeError('give the gateway\'s keys (trust: a JWK Set, a GatewayTrust, or "fetch"), or ask for the unauthenticated handshake with unauthenticatedHandshake: true');
      }
    } else if (unauthenticatedHandshake) {
      throw new TypeError("unauthenticatedHandshake: true is for a client without trust");
    } else if (trust === "fetch") {
      checkJwksUrl(new URL(base.href.replace(/\/+$/, "") + jwksPath), allowInsecureJwksFetch);
    }
    this.baseUrl = base.href.replace(/\/+$/, "");
    this.channel = channel;
    this.apiKey = apiKey;
    this.kdf = kdf;
    this.tokenPath = tokenPath;
    this.jwksPath = jwksPath;
    this.renewBeforeMs = renewBeforeMs;
    this.maxResponseBytes = maxResponseBytes;
    this.#allowInsecureJwksFetch = allowInsecureJwksFetch;
    this.#secret = secret;
    this.#trustOption = trust ?? null;
    if (trust instanceof GatewayTrust) this.#trust = trust;
    this.#fetch = fetchImpl ?? ((...args) => globalThis.fetch(...args));
    this.#now = now;
  }

  /** The current session, or null (it may be due for renewal: see ensureSession). */
  get session() {
    return this.#session;
  }

  /**
   * Installs a session (one returned by handshake() of a client with the same identity), or
   * forgets the current one with null.
   */
  set session(session) {
    if (session !== null && !(session instanceof Session)) throw new TypeError("not a Session");
    this.#session = session;
  }

  /** Forgets the session (K stays only as long as something else references it). */
  forget() {
    this.#session = null;
  }

  /**
   * The gateway's keys: the GatewayTrust given, the JWK Set given (checked once), or the
   * set fetched from `<baseUrl>/.well-known/jwks.json` once and then kept for the client's
   * life (a signature by a kid it does not hold is HANDSHAKE_INVALID; the set is never fetched
   * again). Null for the unauthenticated handshake.
   * @returns {Promise<GatewayTrust|null>}
   */
  async trust() {
    if (this.#trustOption === null) return null;
    if (this.#trust !== null) return this.#trust;
    if (this.#trustPending === null) {
      const option = this.#trustOption;
      this.#trustPending = (
        option === "fetch"
          ? GatewayTrust.fetch(this.baseUrl, { fetch: this.#fetch, path: this.jwksPath, allowInsecureJwksFetch: this.#allowInsecureJwksFetch })
          : GatewayTrust.fromJwks(option)
      ).then(
        (trust) => {
          this.#trust = trust;
          this.#trustPending = null;
          return trust;
        },
        (error) => {
          this.#trustPending = null;
          throw error;
        },
      );
    }
    return this.#trustPending;
  }

  /** The current session, after a new handshake when there is none or less than renewBeforeMs is left. */
  async ensureSession() {
    const current = this.#session;
    if (current !== null && current.expiry - this.#now() >= this.renewBeforeMs) return current;
    return this.handshake();
  }

  /**
   * Makes a new handshake now and installs its session. Concurrent callers share one
   * handshake. Throws SealgateError (CREDENTIALS_REFUSED, REQUEST_REFUSED, RETRY_LATER,
   * HANDSHAKE_INVALID, GATEWAY_ERROR, TRANSPORT).
   * @returns {Promise<Session>}
   */
  async handshake() {
    if (this.#sessionPending === null) {
      this.#sessionPending = this.#handshake().then(
        (session) => {
          this.#session = session;
          this.#sessionPending = null;
          return session;
        },
        (error) => {
          this.#sessionPending = null;
          throw error;
        },
      );
    }
    return this.#sessionPending;
  }

  async #handshake() {
    const trust = await this.trust();
    const pair = await generateKeyPair();
    const clientJwk = await exportPublicJwkText(pair.publicKey);
    const plain = utf8.encode(JSON.stringify({ apiKey: this.apiKey, secret: this.#secret, publicKey: b64uEncode(utf8.encode(clientJwk)) }));
    const headers = { "X-API-KEY": this.channel };
    let body;
    if (trust !== null) {
      // A fresh epk and the current iat for every attempt: the gateway accepts a sealed
      // request once, within its leeway of iat, on the channel named by chn.
      body = await sealTokenRequest(plain, {
        kid: trust.encKid,
        encKey: trust.encKey,
        channel: this.channel,
        iat: Math.floor(this.#now() / 1000),
      });
      plain.fill(0);
      headers["Content-Type"] = "application/jose";
    } else {
      body = plain;
      headers["Content-Type"] = "application/json";
    }
    const { status, headers: answerHeaders, bytes } = await this.#exchange(this.baseUrl + this.tokenPath, { method: "POST", headers, body }, "the token request");
    if (body === plain) plain.fill(0);
    if (status !== 200) throw errorFromAnswer(status, bytes, answerHeaders, "the token endpoint");

    const bad = (message, cause) => new SealgateError(ErrorKind.HANDSHAKE_INVALID, message, { status, cause });
    let answer;
    try {
      answer = parseJsonObject(bytes);
    } catch (e) {
      throw bad("the token answer is not a strict JSON object", e);
    }
    if (answer.resCode !== "TOK200") throw bad("the token answer is not TOK200");
    if (typeof answer.token !== "string" || answer.token.length === 0 || answer.token.length > MAX_TOKEN_CHARS || !HEADER_VALUE.test(answer.token)) {
      throw bad("the token answer has no usable token");
    }
    if (!Number.isSafeInteger(answer.expiry) || answer.expiry <= 0) throw bad("the token answer's expiry is not whole milliseconds");
    if (typeof answer.serverPublicKey !== "string") throw bad("the token answer has no serverPublicKey");

    if (trust !== null) {
      // docs/protocol.md §1.1: the signature first; nothing is derived from an answer that fails.
      // An unknown kid is refused like any bad signature. A fetched set is never fetched again
      // because of it: whoever is on the path later would hand over keys of their own.
      try {
        await verifyHandshake(answer, (kid) => trust.sigKey(kid), clientJwk, this.channel);
      } catch (e) {
        throw bad(e.message, e);
      }
    }
    let serverKey;
    try {
      serverKey = await importPublicJwk(b64uDecode(answer.serverPublicKey), "ecdh");
    } catch (e) {
      throw bad("serverPublicKey is not a public P-256 key on the curve", e);
    }
    const z = await agree(pair.privateKey, serverKey);
    try {
      return new Session({ token: answer.token, expiry: answer.expiry, key: await deriveSessionKey(this.kdf, z) });
    } finally {
      z.fill(0);
    }
  }

  /**
   * Calls a protected route: seals the body under K bound to this method and target
   * (typ request+jwe, htm, htp, cty), or sends X-Request-Seal when there is no body; opens
   * the sealed answer and checks it is typed response+jwe. On SESSION_EXPIRED (a 401 in clear
   * with the gateway's {resCode, resDesc}) the session is dropped; a call whose method is
   * idempotent (GET, HEAD, OPTIONS, PUT, DELETE) is then sent once more after a new handshake,
   * sealed afresh. Any other call (POST, PATCH…), and any call with expectSealed: false, is not
   * sent again: the error is thrown and the next call makes the new handshake.
   *
   * @param {string} method an HTTP method (sent upper-cased)
   * @param {string} pathAndQuery the target in origin form, e.g. "/api/echo?via=js"
   * @param {{body?: unknown, contentType?: string, headers?: HeadersInit, signal?: AbortSignal, expectSealed?: boolean}} [options]
   * @returns {Promise<SealgateResponse>}
   */
  async call(method, pathAndQuery, options = {}) {
    const { body, contentType, headers, signal, expectSealed = true } = options;
    const verb = checkMethod(method);
    if (verb === "HEAD" && expectSealed) {
      throw new TypeError("a HEAD answer has no body, so a sealing route cannot seal it: use GET (or expectSealed: false on a route that does not seal)");
    }
    const { url, htp } = this.#target(pathAndQuery);
    const [plaintext, cty] = encodeBody(body, contentType);
    // Sent again after a session refusal only when running it twice does no harm, and only when
    // the refusal can be told apart from an upstream's answer (sealed answers expected).
    const mayResend = expectSealed && IDEMPOTENT.has(verb);
    for (let attempt = 0; ; attempt++) {
      const session = await this.ensureSession();
      try {
        return await this.#callOnce(session, verb, url, htp, plaintext, cty, { headers, signal, expectSealed });
      } catch (error) {
        if (error instanceof SealgateError && this.#session === session) {
          if (error.kind === ErrorKind.SESSION_EXPIRED || SESSION_RESET_CODES.has(error.resCode)) this.#session = null;
        }
        if (error instanceof SealgateError && error.kind === ErrorKind.SESSION_EXPIRED && attempt === 0 && mayResend) continue;
        throw error;
      }
    }
  }

  async #callOnce(session, method, url, htp, plaintext, cty, { headers, signal, expectSealed }) {
    const sendHeaders = new Headers(headers);
    const bind = { typ: "request+jwe", htm: method, htp };
    let payload;
    sendHeaders.delete("X-Request-Seal");
    if (plaintext.length > 0) {
      payload = await seal(session.key, plaintext, { cty, ...bind });
      sendHeaders.set("Content-Type", "application/jose");
    } else {
      sendHeaders.delete("Content-Type");
      sendHeaders.set("X-Request-Seal", await seal(session.key, EMPTY, bind));
    }
    sendHeaders.set("Authorization", `Bearer ${session.token}`);
    const answer = await this.#exchange(url, { method, headers: sendHeaders, body: payload, signal }, `${method} call`);
    const { status, headers: answerHeaders, bytes } = answer;
    const contentType = answerHeaders.get("content-type");
    if (isJose(contentType)) {
      let opened;
      try {
        opened = await open(session.key, new TextDecoder("utf-8", { fatal: true }).decode(bytes), { typ: "response+jwe" });
      } catch (e) {
        throw new SealgateError(ErrorKind.RESPONSE_INVALID, `the sealed answer (HTTP ${status}) does not open as a response+jwe under K`, { status, cause: e });
      }
      return new SealgateResponse({ status, headers: answerHeaders, sealed: true, cty: opened.header.cty ?? null, body: opened.plaintext });
    }
    if (!expectSealed) {
      // A route that does not seal answers: the gateway's own errors are still {resCode,resDesc}.
      if (status >= 400 && parseGatewayError(bytes) !== null) throw errorFromAnswer(status, bytes, answerHeaders, `the gateway (${method} call)`);
      return new SealgateResponse({ status, headers: answerHeaders, sealed: false, cty: contentType, body: bytes });
    }
    if (status < 400) {
      throw new SealgateError(ErrorKind.RESPONSE_INVALID, `the sealing route answered HTTP ${status} in clear: refused, it is not the upstream's data`, { status });
    }
    throw errorFromAnswer(status, bytes, answerHeaders, `the gateway (${method} call)`);
  }

  /**
   * fetch, with its failures as TRANSPORT, the body read (at most maxResponseBytes: a larger
   * answer is TRANSPORT, its reading stopped at the cap). Redirects are not followed: one in
   * clear (or an opaque one, in a browser) is TRANSPORT; a sealed 3xx is the upstream's.
   */
  async #exchange(url, init, what) {
    let response, bytes;
    try {
      response = await this.#fetch(url, { ...init, redirect: "manual", credentials: "omit" });
      bytes = await readCapped(response, this.maxResponseBytes);
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        throw new SealgateError(ErrorKind.TRANSPORT, `${what} was answered with more than maxResponseBytes (${this.maxResponseBytes} bytes)`, { status: response.status, cause: e });
      }
      const aborted = e?.name === "AbortError";
      throw new SealgateError(ErrorKind.TRANSPORT, aborted ? `${what} was aborted` : `${what} failed: no answer from the gateway`, { cause: e });
    }
    const redirect = response.status >= 300 && response.status < 400 && !isJose(response.headers.get("content-type"));
    if (response.type === "opaqueredirect" || response.status === 0 || redirect) {
      throw new SealgateError(ErrorKind.TRANSPORT, `${what} was answered by a redirect, which is not followed`);
    }
    return { status: response.status, headers: response.headers, bytes };
  }

  /** The URL to fetch and the htp that the gateway will compare with the request target. */
  #target(pathAndQuery) {
    if (typeof pathAndQuery !== "string" || !pathAndQuery.startsWith("/") || pathAndQuery.startsWith("//")) {
      throw new TypeError("pathAndQuery is a target in origin form: /path[?query]");
    }
    const base = new URL(this.baseUrl);
    const prefix = base.pathname.replace(/\/+$/, "");
    const target = prefix + pathAndQuery;
    const url = new URL(target, base.origin);
    // htp must be the request target byte for byte: refuse what URL parsing would rewrite
    // (dot segments, "\", "#", spaces, non-ASCII, an empty "?").
    if (url.pathname + url.search !== target) throw new TypeError("pathAndQuery would be rewritten by URL parsing (dot segments, \\, #, spaces or non-ASCII): encode it first");
    return { url: url.href, htp: target };
  }
}

function checkMethod(method) {
  if (typeof method !== "string" || !METHOD.test(method)) throw new TypeError("method is an HTTP method token");
  const verb = method.toUpperCase();
  if (verb === "CONNECT" || verb === "TRACE" || verb === "TRACK") throw new TypeError(`${verb} is not a method fetch can send`);
  return verb;
}

function isJose(contentType) {
  return typeof contentType === "string" && contentType.split(";")[0].trim().toLowerCase() === "application/jose";
}

/** [bytes, cty]: undefined/null is no body; a string is UTF-8 text; bytes are sent as they are; anything else as JSON. */
function encodeBody(body, contentType) {
  if (contentType !== undefined && (typeof contentType !== "string" || !HEADER_VALUE.test(contentType))) {
    throw new TypeError("contentType must be printable ASCII (it becomes a header value)");
  }
  if (body === undefined || body === null) return [EMPTY, undefined];
  if (typeof body === "string") return [utf8.encode(body), contentType ?? "text/plain; charset=utf-8"];
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return [toBytes(body), contentType ?? "application/octet-stream"];
  if ((typeof Blob !== "undefined" && body instanceof Blob) || (typeof ReadableStream !== "undefined" && body instanceof ReadableStream) || (typeof FormData !== "undefined" && body instanceof FormData)) {
    throw new TypeError("body is a string, bytes, or a JSON value; read a Blob, stream or FormData into bytes first");
  }
  const text = JSON.stringify(body);
  if (text === undefined) throw new TypeError("body cannot be written as JSON");
  return [utf8.encode(text), contentType ?? "application/json"];
}
