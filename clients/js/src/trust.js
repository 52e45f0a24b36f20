// The gateway's keys (docs/protocol.md §1.1, "The gateway's keys"): every `sig` key is
// trusted by its kid, the token request is sealed to the first `enc` key.
import { ErrorKind, SealgateError, errorFromAnswer } from "./errors.js";
import { BodyTooLarge, MAX_JWKS_BYTES, checkJwksUrl, readCapped } from "./http.js";
import { parseJsonObject } from "./json.js";
import { importPublicJwk, publicJwkText } from "./jose.js";

const KID = /^[A-Za-z0-9._-]{1,64}$/;
export const DEFAULT_JWKS_PATH = "/.well-known/jwks.json";

const invalid = (message, cause) => new SealgateError(ErrorKind.HANDSHAKE_INVALID, message, cause === undefined ? {} : { cause });

export class GatewayTrust {
  #sig;
  #encKid;
  #encKey;
  #jwks;

  /** Use GatewayTrust.fromJwks or GatewayTrust.fetch. */
  constructor(token, sig, encKid, encKey, jwks) {
    if (token !== CONSTRUCT) throw new TypeError("use GatewayTrust.fromJwks() or GatewayTrust.fetch()");
    this.#sig = sig;
    this.#encKid = encKid;
    this.#encKey = encKey;
    this.#jwks = jwks;
    Object.freeze(this);
  }

  /**
   * Trust from a JWK Set: an object, its JSON text, or its UTF-8 bytes (read strictly). Every
   * key with use "sig" (alg ES256 when given) is trusted by its kid; the first key with use
   * "enc" (alg ECDH-ES when given) receives sealed token requests. Keys of other uses are
   * ignored; a sig or enc key that is not a public P-256 key on the curve, a repeated sig
   * kid, or a set without a sig key or without an enc key is refused (HANDSHAKE_INVALID).
   * @returns {Promise<GatewayTrust>}
   */
  static async fromJwks(jwks) {
    let set = jwks;
    if (typeof jwks === "string" || jwks instanceof Uint8Array) {
      try {
        set = parseJsonObject(jwks);
      } catch (e) {
        throw invalid("the JWK Set is not a strict JSON object", e);
      }
    }
    if (set === null || typeof set !== "object" || !Array.isArray(set.keys)) throw invalid("the JWK Set has no keys array");
    const sig = new Map();
    let encKid = null;
    let encKey = null;
    const kept = [];
    for (const jwk of set.keys) {
      if (jwk === null || typeof jwk !== "object") throw invalid("a JWK Set member is not an object");
      if (jwk.use !== "sig" && jwk.use !== "enc") continue;
      if (typeof jwk.kid !== "string" || !KID.test(jwk.kid)) throw invalid(`a ${jwk.use} key has no valid kid`);
      const wantAlg = jwk.use === "sig" ? "ES256" : "ECDH-ES";
      if (jwk.alg !== undefined && jwk.alg !== wantAlg) throw invalid(`${jwk.use} key ${jwk.kid} is not for ${wantAlg}`);
      let key;
      try {
        key = await importPublicJwk(jwk, jwk.use === "sig" ? "ecdsa" : "ecdh");
      } catch (e) {
        throw invalid(`${jwk.use} key ${jwk.kid} is not a public P-256 key`, e);
      }
      const text = publicJwkText(jwk);
      if (jwk.use === "sig") {
        if (sig.has(jwk.kid)) throw invalid(`sig key ${jwk.kid} is listed twice`);
        sig.set(jwk.kid, key);
      } else if (encKey === null) {
        encKid = jwk.kid;
        encKey = key;
      }
      kept.push({ ...JSON.parse(text), kid: jwk.kid, use: jwk.use, alg: wantAlg });
    }
    if (sig.size === 0) throw invalid("the JWK Set has no sig key");
    if (encKey === null) throw invalid("the JWK Set has no enc key");
    return new GatewayTrust(CONSTRUCT, sig, encKid, encKey, Object.freeze({ keys: kept }));
  }

  /**
   * Fetches `<baseUrl>/.well-known/jwks.json` and trusts it. Worth only as much as the
   * connection it came over: prefer a set pinned in the app. Over http: only from localhost,
   * 127.0.0.1 or [::1], unless `allowInsecureJwksFetch` is true (a TypeError, before anything
   * is sent). A set over 64 KiB is HANDSHAKE_INVALID.
   * @param {string} baseUrl
   * @param {{fetch?: typeof fetch, path?: string, signal?: AbortSignal, allowInsecureJwksFetch?: boolean}} [options]
   */
  static async fetch(baseUrl, { fetch: fetchImpl = globalThis.fetch, path = DEFAULT_JWKS_PATH, signal, allowInsecureJwksFetch = false } = {}) {
    const url = new URL(String(baseUrl).replace(/\/+$/, "") + path);
    checkJwksUrl(url, allowInsecureJwksFetch);
    let response, bytes;
    try {
      response = await fetchImpl(url, { method: "GET", redirect: "manual", credentials: "omit", signal });
      bytes = await readCapped(response, MAX_JWKS_BYTES);
    } catch (e) {
      if (e instanceof BodyTooLarge) throw invalid(`the JWK Set is larger than ${MAX_JWKS_BYTES} bytes`, e);
      throw new SealgateError(ErrorKind.TRANSPORT, "fetching the JWK Set failed", { cause: e });
    }
    if (response.status !== 200) throw errorFromAnswer(response.status, bytes, response.headers, "the JWK Set endpoint");
    return GatewayTrust.fromJwks(bytes);
  }

  /** The trusted sig kids. */
  get sigKids() {
    return [...this.#sig.keys()];
  }

  /** The kid of the enc key that token requests are sealed to. */
  get encKid() {
    return this.#encKid;
  }

  /** The ECDH CryptoKey of the enc key. */
  get encKey() {
    return this.#encKey;
  }

  /** The ECDSA CryptoKey of the sig key named `kid`, or null. */
  sigKey(kid) {
    return this.#sig.get(kid) ?? null;
  }

  /** The public keys kept, as a JWK Set (for display or pinning). */
  toJSON() {
    return this.#jwks;
  }
}

const CONSTRUCT = Symbol("GatewayTrust");
