// Type declarations for @sealgate/client (hand-written; the source is plain JavaScript in src/).
// The wire contract is docs/protocol.md of the sealgate repository.

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** The kinds of SealgateError, the same in every sealgate client library. */
export type SealgateErrorKind =
  /** TOK002, TOK004: the channel, apiKey or secret is wrong, or the client is disabled. Not retryable. */
  | "CREDENTIALS_REFUSED"
  /** TOK003 (400), BODY001/002/006–009, AUTH001/002/004, and other 4xx answers of the gateway. */
  | "REQUEST_REFUSED"
  /** 429 or 503; `retryAfterSeconds` holds Retry-After when it was sent (and, in a browser, exposed). */
  | "RETRY_LATER"
  /**
   * AUTH003, AUTH005, AUTH007, AUTH009, AUTH010, AUTH011 with 401. `call` drops the session; it
   * makes a new handshake and sends the call once more only for GET, HEAD, OPTIONS, PUT and DELETE.
   */
  | "SESSION_EXPIRED"
  /** AUTH008: these exact bytes were accepted before. Never retried automatically. */
  | "REPLAYED"
  /** AUTH006: the token looks issued in the future (clocks differ by more than the leeway). */
  | "CLOCK_SKEW"
  /** Client-side: a missing or bad handshake signature, a bad server key, a malformed token answer or JWK Set. */
  | "HANDSHAKE_INVALID"
  /** A sealed answer that does not open or is not typed response+jwe, or an answer in clear below 400 from a sealing route. */
  | "RESPONSE_INVALID"
  /** Any other answer of the gateway (5xx, UPSTREAM00x, GATEWAY500, …). */
  | "GATEWAY_ERROR"
  /** fetch failed (network, CORS, abort), or the answer was a redirect. */
  | "TRANSPORT";

export declare const ErrorKind: Readonly<{ [K in SealgateErrorKind]: K }>;

export interface SealgateErrorDetails {
  status?: number;
  resCode?: string | null;
  retryAfterSeconds?: number | null;
  cause?: unknown;
}

/** Every failure the library reports about the gateway or the exchange. Its message never holds a secret. */
export declare class SealgateError extends Error {
  constructor(kind: SealgateErrorKind, message: string, details?: SealgateErrorDetails);
  readonly name: "SealgateError";
  /** What happened, from the shared vocabulary. */
  readonly kind: SealgateErrorKind;
  /** The HTTP status; 0 when there was no answer. */
  readonly status: number;
  /** The gateway's resCode (e.g. "AUTH005"), or null. */
  readonly resCode: string | null;
  /** Seconds from Retry-After, or null. */
  readonly retryAfterSeconds: number | null;
}

/** The kind for an answer of the gateway from its status and resCode. */
export declare function kindFor(status: number, resCode: string | null): SealgateErrorKind;
/** Retry-After as whole seconds (delta-seconds or an HTTP date), or null. */
export declare function parseRetryAfter(value: string | null | undefined, nowMs?: number): number | null;
/** The gateway's `{"resCode","resDesc"}` body, or null when the body is not exactly that. */
export declare function parseGatewayError(body: Uint8Array | string): { resCode: string; resDesc: string } | null;

// ---------------------------------------------------------------------------------------------
// Trust in the gateway's keys
// ---------------------------------------------------------------------------------------------

/** A public JWK as published in the gateway's JWK Set. */
export interface GatewayJwk {
  kty: "EC";
  crv: "P-256";
  x: string;
  y: string;
  kid: string;
  use: "sig" | "enc" | string;
  alg?: string;
  [member: string]: unknown;
}

/** A JWK Set (RFC 7517 §5). */
export interface JwkSet {
  keys: GatewayJwk[];
}

export interface FetchJwksOptions {
  /** The fetch to use (default: globalThis.fetch). */
  fetch?: typeof fetch;
  /** Default "/.well-known/jwks.json". */
  path?: string;
  signal?: AbortSignal;
  /** Allow the fetch over http: from a host other than localhost, 127.0.0.1 or [::1] (refused by default). */
  allowInsecureJwksFetch?: boolean;
}

/** The gateway's keys: every `sig` key by kid, the first `enc` key. */
export declare class GatewayTrust {
  private constructor();
  /** Checks and imports a JWK Set (object, JSON text or UTF-8 bytes). Rejects with HANDSHAKE_INVALID. */
  static fromJwks(jwks: JwkSet | string | Uint8Array): Promise<GatewayTrust>;
  /** Fetches `<baseUrl>/.well-known/jwks.json`. Prefer a set pinned in the app. */
  static fetch(baseUrl: string | URL, options?: FetchJwksOptions): Promise<GatewayTrust>;
  /** The kids of the trusted sig keys. */
  readonly sigKids: string[];
  /** The kid of the enc key that token requests are sealed to. */
  readonly encKid: string;
  /** The enc key, for ECDH. */
  readonly encKey: CryptoKey;
  /** The ES256 verification key named `kid`, or null. */
  sigKey(kid: string): CryptoKey | null;
  /** The public keys kept, as a JWK Set. */
  toJSON(): JwkSet;
}

export declare const DEFAULT_JWKS_PATH: "/.well-known/jwks.json";

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

export type Kdf = "hkdf-sha256" | "concat-kdf" | "raw";

export interface SealgateClientOptionsBase {
  /** The gateway: an http(s) origin, with an optional path prefix (e.g. "https://gw.bank.example"). */
  baseUrl: string | URL;
  /** The channel, sent as X-API-KEY (e.g. "MOB-APP-2001"). */
  channel: string;
  /** Which client is asking (e.g. "MOB-APP"). */
  apiKey: string;
  /** The password that goes with apiKey. Kept in a private field; never in an error message. */
  secret: string;
  /** The channel's KDF (docs/protocol.md §2). Default "hkdf-sha256". */
  kdf?: Kdf;
  /** Default "/token-service/new/v2/token". */
  tokenPath?: string;
  /** Default "/.well-known/jwks.json" (used with trust: "fetch"). */
  jwksPath?: string;
  /** Renew when less than this many milliseconds are left before expiry. Default 60000. */
  renewBeforeMs?: number;
  /** The largest answer read, in bytes; a larger one is TRANSPORT. Default 33554432 (32 MiB). */
  maxResponseBytes?: number;
  /** The fetch to use (default: globalThis.fetch at call time). */
  fetch?: typeof fetch;
  /** The clock, in milliseconds since the epoch (default Date.now): renewal and the sealed request's iat. */
  now?: () => number;
}

export interface SealgateClientOptionsTrusted extends SealgateClientOptionsBase {
  /**
   * The gateway's keys: a GatewayTrust, a pinned JWK Set (object or JSON text), or "fetch" to
   * fetch `<baseUrl>/.well-known/jwks.json` once. Token requests are then sealed to the first
   * enc key (with iat and chn), and every answer's signature is checked before K is derived.
   */
  trust: GatewayTrust | JwkSet | string | "fetch";
  unauthenticatedHandshake?: false;
  /**
   * With trust: "fetch", allow the fetch over http: from a host other than localhost,
   * 127.0.0.1 or [::1] (refused by default with a TypeError).
   */
  allowInsecureJwksFetch?: boolean;
}

export interface SealgateClientOptionsUnauthenticated extends SealgateClientOptionsBase {
  trust?: undefined | null;
  /**
   * The seed's plain, unsigned token request: the secret travels in a plain JSON body and
   * nothing proves that serverPublicKey is the gateway's. Only for gateways that publish no
   * keys.
   */
  unauthenticatedHandshake: true;
}

export type SealgateClientOptions = SealgateClientOptionsTrusted | SealgateClientOptionsUnauthenticated;

/** A request body: text (UTF-8), bytes, or any other value written as JSON. */
export type SealgateBody = string | ArrayBuffer | ArrayBufferView | Record<string, unknown> | unknown[] | number | boolean;

export interface CallOptions {
  /** The plaintext body. Absent (or empty): the call carries X-Request-Seal instead. */
  body?: SealgateBody | null;
  /**
   * The plaintext's media type, sealed as `cty`. Default: "application/json" for a JSON value,
   * "text/plain; charset=utf-8" for a string, "application/octet-stream" for bytes.
   */
  contentType?: string;
  /** More request headers (e.g. X-Request-Id). Authorization, Content-Type and X-Request-Seal are the library's. */
  headers?: HeadersInit;
  signal?: AbortSignal;
  /**
   * Default true: an answer must come sealed (a route with auth = "token" seals every answer);
   * one in clear is a gateway error (status >= 400) or refused (RESPONSE_INVALID). Set false
   * only for a route configured with encrypted_response = false.
   */
  expectSealed?: boolean;
}

/** A token, its expiry and K. Hold it in memory only. */
export declare class Session {
  constructor(parts: { token: string; expiry: number; key: CryptoKey });
  /** The opaque token. */
  readonly token: string;
  /** When the token stops being valid, in milliseconds since the epoch. */
  readonly expiry: number;
  /** K, a non-extractable AES-256-GCM CryptoKey. */
  readonly key: CryptoKey;
  remainingMs(nowMs?: number): number;
  /** `{expiry}` only. */
  toJSON(): { expiry: number };
}

/** The answer of a protected route, opened. */
export declare class SealgateResponse {
  private constructor();
  readonly status: number;
  readonly headers: Headers;
  /** Whether it came sealed (opened and typed response+jwe). */
  readonly sealed: boolean;
  /** The plaintext's media type (the sealed header's cty), or null. */
  readonly cty: string | null;
  /** Whether the status is 2xx. */
  readonly ok: boolean;
  bytes(): Uint8Array;
  text(): string;
  json<T = unknown>(): T;
}

export declare const DEFAULT_TOKEN_PATH: "/token-service/new/v2/token";
export declare const RENEW_BEFORE_MS: 60000;
export declare const DEFAULT_MAX_RESPONSE_BYTES: 33554432;
/** The methods a call is sent again for, once, after a SESSION_EXPIRED and a new handshake. */
export declare const IDEMPOTENT_METHODS: readonly ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"];

export declare class SealgateClient {
  constructor(options: SealgateClientOptions);
  readonly baseUrl: string;
  readonly channel: string;
  readonly apiKey: string;
  readonly kdf: Kdf;
  readonly tokenPath: string;
  readonly jwksPath: string;
  readonly renewBeforeMs: number;
  readonly maxResponseBytes: number;
  /** The current session or null. Assign a Session (from handshake()) or null. */
  session: Session | null;
  /** Forgets the session. */
  forget(): void;
  /** The gateway's keys (fetched or checked once); null for the unauthenticated handshake. */
  trust(): Promise<GatewayTrust | null>;
  /** The session, after a new handshake when none is held or less than renewBeforeMs is left. */
  ensureSession(): Promise<Session>;
  /** A new handshake now (concurrent callers share one). */
  handshake(): Promise<Session>;
  /**
   * A sealed, bound call. `pathAndQuery` is the target in origin form ("/api/x?y=1"), exactly
   * as it must reach the gateway (it is sealed as htp). HEAD is refused (its answer has no
   * body to seal) unless expectSealed is false. Rejects with SealgateError. After a
   * SESSION_EXPIRED the call is sent once more (after a new handshake) only for GET, HEAD,
   * OPTIONS, PUT and DELETE, and only with expectSealed; otherwise the error is thrown and the
   * next call makes the new handshake.
   */
  call(method: string, pathAndQuery: string, options?: CallOptions): Promise<SealgateResponse>;
}

// ---------------------------------------------------------------------------------------------
// Primitives (docs/protocol.md); for tests, vectors and other transports
// ---------------------------------------------------------------------------------------------

export type Bytes = Uint8Array | ArrayBuffer | ArrayBufferView;
export interface PublicJwk {
  kty: "EC";
  crv: "P-256";
  x: string;
  y: string;
}
export interface DirHeaderMembers {
  cty?: string | null;
  typ?: string | null;
  htm?: string | null;
  htp?: string | null;
}
export interface OpenedJwe {
  header: Record<string, unknown> & { alg: "dir"; enc: "A256GCM"; cty?: string; typ?: string };
  headerText: string;
  plaintext: Uint8Array;
}
export interface TokenAnswer {
  serverPublicKey: string;
  expiry: number;
  signature?: string;
  [member: string]: unknown;
}

export declare const KDFS: readonly Kdf[];
/** Strict base64url without padding. */
export declare function b64uEncode(bytes: Bytes): string;
/** Strict base64url: throws SyntaxError on padding, +, /, white space, a bad length or stray bits. */
export declare function b64uDecode(text: string): Uint8Array;
/** JSON without repeated member names, lone surrogates, a BOM or invalid UTF-8. Throws SyntaxError. */
export declare function parseJsonStrict(text: string | Uint8Array): unknown;
/** parseJsonStrict, requiring an object. */
export declare function parseJsonObject(text: string | Uint8Array): Record<string, unknown>;
export declare function getCrypto(): Promise<Crypto>;
export declare function checkPublicJwk(jwk: object | string | Uint8Array): PublicJwk;
/** `{"kty":"EC","crv":"P-256","x":…,"y":…}` exactly. */
export declare function publicJwkText(jwk: object | string | Uint8Array): string;
export declare function exportPublicJwkText(publicKey: CryptoKey): Promise<string>;
export declare function importPublicJwk(jwk: object | string | Uint8Array, use?: "ecdh" | "ecdsa"): Promise<CryptoKey>;
/** A P-256 ECDH pair; the private key is not extractable. */
export declare function generateKeyPair(): Promise<CryptoKeyPair>;
/** Z, 32 bytes. */
export declare function agree(privateKey: CryptoKey, publicKey: CryptoKey): Promise<Uint8Array>;
export declare function deriveKeyBytes(kdf: Kdf, z: Bytes): Promise<Uint8Array>;
/** K as a non-extractable AES-GCM CryptoKey. */
export declare function deriveSessionKey(kdf: Kdf, z: Bytes): Promise<CryptoKey>;
export declare function importAesKey(bytes: Bytes, usages?: KeyUsage[]): Promise<CryptoKey>;
export declare function dirHeaderText(members?: DirHeaderMembers): string;
export declare function sealCompact(key: CryptoKey | Bytes, headerText: string, plaintext: Bytes, iv?: Bytes): Promise<string>;
export declare function seal(key: CryptoKey | Bytes, plaintext: Bytes, members?: DirHeaderMembers, iv?: Bytes): Promise<string>;
export declare function open(key: CryptoKey | Bytes, compact: string, options?: { typ?: string; maxHeaderChars?: number }): Promise<OpenedJwe>;
/** RFC 7638 SHA-256 thumbprint, base64url. */
export declare function thumbprint(jwk: object | string | Uint8Array): Promise<string>;
export declare function sealTokenRequest(
  plaintext: Bytes,
  options: { kid: string; encKey: CryptoKey | object | string; channel: string; iat?: number; epk?: CryptoKeyPair; iv?: Bytes },
): Promise<string>;
/** Throws unless the answer's signature is valid for this client key, server key, expiry and channel. Returns the kid. */
export declare function verifyHandshake(
  answer: TokenAnswer,
  sigKeyFor: (kid: string) => CryptoKey | null | Promise<CryptoKey | null>,
  clientJwk: object | string | Uint8Array,
  channel: string,
): Promise<string>;
