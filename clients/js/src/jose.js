// The cryptography of docs/protocol.md: P-256 keys and their JWK text, ECDH, the three KDFs
// (§2), compact JWE dir + A256GCM (§4, §4.1), the sealed token request (ECDH-ES + A256GCM,
// §1.1), the RFC 7638 thumbprint and the ES256 handshake signature (§1.1).
// WebCrypto only. Header and thumbprint texts are written by hand: their exact bytes are
// the AAD and the hashed input. Errors are plain Error/SyntaxError without secrets; the
// client turns them into SealgateError.
import { b64uDecode, b64uEncode, toBytes } from "./base64url.js";
import { parseJsonObject } from "./json.js";

const enc = new TextEncoder();
const HKDF_INFO = enc.encode("token-service/v2 A256GCM");
const ECDH = { name: "ECDH", namedCurve: "P-256" };
const ECDSA = { name: "ECDSA", namedCurve: "P-256" };
/** The KDFs a channel can use (docs/protocol.md §2). */
export const KDFS = Object.freeze(["hkdf-sha256", "concat-kdf", "raw"]);

let cryptoPromise = null;

/**
 * The WebCrypto implementation: globalThis.crypto (browsers, Node >= 19, Node 18 with
 * --experimental-global-webcrypto) or node:crypto's webcrypto (Node 18).
 * @returns {Promise<Crypto>}
 */
export function getCrypto() {
  if (cryptoPromise === null) {
    cryptoPromise = (async () => {
      if (globalThis.crypto?.subtle) return globalThis.crypto;
      if (typeof process !== "undefined" && process.versions?.node) {
        const name = "node:crypto"; // a variable, so that bundlers leave it alone
        const { webcrypto } = await import(name);
        if (webcrypto?.subtle) return webcrypto;
      }
      throw new Error("WebCrypto (crypto.subtle) is not available; in a browser it needs a secure context (https or localhost)");
    })();
    cryptoPromise.catch(() => { cryptoPromise = null; });
  }
  return cryptoPromise;
}

const subtle = async () => (await getCrypto()).subtle;

/** 12 random bytes, a fresh AES-GCM IV. */
export async function randomIv() {
  return (await getCrypto()).getRandomValues(new Uint8Array(12));
}

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const u32 = (n) => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);

/** A P-256 coordinate: strict base64url of exactly 32 bytes. */
function coordinate(value, name) {
  if (typeof value !== "string") throw new SyntaxError(`JWK: ${name} is not a string`);
  let bytes;
  try {
    bytes = b64uDecode(value);
  } catch {
    throw new SyntaxError(`JWK: ${name} is not strict base64url`);
  }
  if (bytes.length !== 32) throw new SyntaxError(`JWK: ${name} is not 32 bytes`);
  return value;
}

/**
 * Checks a public P-256 JWK (an object, or its JSON text or UTF-8 bytes, read strictly) and returns its
 * canonical members {kty, crv, x, y}. A private member `d` is refused; other members are
 * ignored.
 */
export function checkPublicJwk(jwk) {
  const obj = typeof jwk === "string" || jwk instanceof Uint8Array ? parseJsonObject(jwk) : jwk;
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw new SyntaxError("JWK: not an object");
  if (obj.kty !== "EC" || obj.crv !== "P-256") throw new SyntaxError("JWK: not kty EC on crv P-256");
  if (Object.prototype.hasOwnProperty.call(obj, "d")) throw new SyntaxError("JWK: a private key where a public one is expected");
  return { kty: "EC", crv: "P-256", x: coordinate(obj.x, "x"), y: coordinate(obj.y, "y") };
}

/** The canonical public JWK text, {"kty":"EC","crv":"P-256","x":…,"y":…}, no white space. */
export function publicJwkText(jwk) {
  const { x, y } = checkPublicJwk(jwk);
  return `{"kty":"EC","crv":"P-256","x":"${x}","y":"${y}"}`;
}

/** The canonical public JWK text of a P-256 CryptoKey (a public key; always exportable). */
export async function exportPublicJwkText(publicKey) {
  const jwk = await (await subtle()).exportKey("jwk", publicKey);
  return publicJwkText({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y });
}

/**
 * Imports a public P-256 JWK (object or text) for ECDH ("ecdh") or for ES256 verification
 * ("ecdsa"). WebCrypto refuses a point that is not on the curve.
 */
export async function importPublicJwk(jwk, use = "ecdh") {
  const { kty, crv, x, y } = checkPublicJwk(jwk);
  const algorithm = use === "ecdsa" ? ECDSA : ECDH;
  const usages = use === "ecdsa" ? ["verify"] : [];
  try {
    return await (await subtle()).importKey("jwk", { kty, crv, x, y, ext: true }, algorithm, true, usages);
  } catch {
    throw new SyntaxError("JWK: not a point on P-256");
  }
}

/** A new P-256 ECDH key pair; the private key is not extractable. */
export async function generateKeyPair() {
  return (await subtle()).generateKey(ECDH, false, ["deriveBits"]);
}

/** Z: the 32-byte x-coordinate of the ECDH shared point. */
export async function agree(privateKey, publicKey) {
  return new Uint8Array(await (await subtle()).deriveBits({ name: "ECDH", public: publicKey }, privateKey, 256));
}

/** K as bytes, for tests and for platforms that need them; a session keeps a CryptoKey instead. */
export async function deriveKeyBytes(kdf, z) {
  const s = await subtle();
  const zBytes = toBytes(z);
  if (kdf === "hkdf-sha256") {
    const ikm = await s.importKey("raw", zBytes, "HKDF", false, ["deriveBits"]);
    return new Uint8Array(await s.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: HKDF_INFO }, ikm, 256));
  }
  if (kdf === "concat-kdf") {
    const alg = enc.encode("A256GCM");
    const input = concat(u32(1), zBytes, u32(alg.length), alg, u32(0), u32(0), u32(256));
    const out = new Uint8Array(await s.digest("SHA-256", input));
    input.fill(0);
    return out;
  }
  if (kdf === "raw") return Uint8Array.from(zBytes);
  throw new TypeError(`unknown kdf (one of ${KDFS.join(", ")})`);
}

/** Imports 32 bytes as a non-extractable AES-256-GCM key. */
export async function importAesKey(bytes, usages = ["encrypt", "decrypt"]) {
  const raw = toBytes(bytes);
  if (raw.length !== 32) throw new TypeError("an AES-256 key is 32 bytes");
  return (await subtle()).importKey("raw", raw, { name: "AES-GCM" }, false, usages);
}

/**
 * K as a non-extractable AES-GCM CryptoKey. With hkdf-sha256 the key bytes never exist in
 * JavaScript; with concat-kdf and raw they do for a moment, and are zeroed.
 */
export async function deriveSessionKey(kdf, z) {
  const s = await subtle();
  if (kdf === "hkdf-sha256") {
    const ikm = await s.importKey("raw", toBytes(z), "HKDF", false, ["deriveKey"]);
    return s.deriveKey(
      { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: HKDF_INFO },
      ikm,
      { name: "AES-GCM", length: 256 },
      false,
      ["encrypt", "decrypt"],
    );
  }
  const bytes = await deriveKeyBytes(kdf, z);
  try {
    return await importAesKey(bytes);
  } finally {
    bytes.fill(0);
  }
}

const asAesKey = async (key) => (key && typeof key === "object" && "algorithm" in key && "type" in key ? key : importAesKey(key));

/**
 * The protected header text of a dir + A256GCM message under K, members in the order alg,
 * enc, cty, typ, htm, htp (docs/protocol.md §4, §4.1). Absent (undefined/null) members are
 * left out.
 */
export function dirHeaderText({ cty, typ, htm, htp } = {}) {
  let header = '{"alg":"dir","enc":"A256GCM"';
  for (const [name, value] of [["cty", cty], ["typ", typ], ["htm", htm], ["htp", htp]]) {
    if (value === undefined || value === null) continue;
    if (typeof value !== "string") throw new TypeError(`${name} must be a string`);
    header += `,"${name}":${JSON.stringify(value)}`;
  }
  return header + "}";
}

/**
 * Seals `plaintext` as a compact JWE with the protected header `headerText` (the base64url
 * of its UTF-8 bytes is the AAD). `key` is K (a CryptoKey or 32 bytes); `iv` 12 bytes,
 * random by default. The encrypted-key segment is empty.
 */
export async function sealCompact(key, headerText, plaintext, iv) {
  const s = await subtle();
  const nonce = iv === undefined ? await randomIv() : toBytes(iv);
  if (nonce.length !== 12) throw new TypeError("the IV is 12 bytes");
  const protectedB64 = b64uEncode(enc.encode(headerText));
  const sealed = new Uint8Array(
    await s.encrypt({ name: "AES-GCM", iv: nonce, additionalData: enc.encode(protectedB64), tagLength: 128 }, await asAesKey(key), toBytes(plaintext)),
  );
  return `${protectedB64}..${b64uEncode(nonce)}.${b64uEncode(sealed.subarray(0, sealed.length - 16))}.${b64uEncode(sealed.subarray(sealed.length - 16))}`;
}

/** Seals under K with the dir header of `dirHeaderText(members)`. */
export async function seal(key, plaintext, members = {}, iv) {
  return sealCompact(key, dirHeaderText(members), plaintext, iv);
}

const FORBIDDEN_DIR_MEMBERS = ["zip", "crit", "jku", "x5u", "jwk", "x5c", "epk", "p2c", "p2s", "apu", "apv"];

/**
 * Opens a compact JWE dir + A256GCM under K, strictly: five segments of strict base64url,
 * an empty encrypted key, a header that is a JSON object without repeated members, alg
 * `dir`, enc `A256GCM`, no `zip` or `crit` (or other key-management member), a 12-byte IV,
 * a 16-byte tag, and `typ` equal to `options.typ` when it is given. The AAD is the header
 * segment as received.
 * @returns {Promise<{header: object, headerText: string, plaintext: Uint8Array}>}
 */
export async function open(key, compact, { typ, maxHeaderChars = 8192 } = {}) {
  if (typeof compact !== "string") throw new SyntaxError("JWE: not a string");
  const parts = compact.split(".");
  if (parts.length !== 5) throw new SyntaxError("JWE: not five segments");
  if (parts[1] !== "") throw new SyntaxError("JWE: the encrypted key is not empty");
  if (parts[0].length > maxHeaderChars) throw new SyntaxError("JWE: header too long");
  let headerBytes, iv, ciphertext, tag;
  try {
    [headerBytes, iv, ciphertext, tag] = [parts[0], parts[2], parts[3], parts[4]].map(b64uDecode);
  } catch {
    throw new SyntaxError("JWE: a segment is not strict base64url");
  }
  const header = parseJsonObject(headerBytes);
  if (header.alg !== "dir" || header.enc !== "A256GCM") throw new SyntaxError("JWE: not alg dir with enc A256GCM");
  for (const name of FORBIDDEN_DIR_MEMBERS) {
    if (Object.prototype.hasOwnProperty.call(header, name)) throw new SyntaxError(`JWE: header member ${name} is not accepted`);
  }
  for (const name of ["cty", "typ", "kid"]) {
    if (header[name] !== undefined && typeof header[name] !== "string") throw new SyntaxError(`JWE: ${name} is not a string`);
  }
  if (typ !== undefined && header.typ !== typ) throw new SyntaxError(`JWE: not typed ${typ}`);
  if (iv.length !== 12) throw new SyntaxError("JWE: the IV is not 12 bytes");
  if (tag.length !== 16) throw new SyntaxError("JWE: the tag is not 16 bytes");
  let plaintext;
  try {
    plaintext = await (await subtle()).decrypt(
      { name: "AES-GCM", iv, additionalData: enc.encode(parts[0]), tagLength: 128 },
      await asAesKey(key),
      concat(ciphertext, tag),
    );
  } catch {
    throw new Error("JWE: does not open under this key");
  }
  return { header, headerText: new TextDecoder().decode(headerBytes), plaintext: new Uint8Array(plaintext) };
}

/** The RFC 7638 SHA-256 thumbprint of a public P-256 JWK, base64url. */
export async function thumbprint(jwk) {
  const { x, y } = checkPublicJwk(jwk);
  const text = `{"crv":"P-256","kty":"EC","x":"${x}","y":"${y}"}`;
  return b64uEncode(new Uint8Array(await (await subtle()).digest("SHA-256", enc.encode(text))));
}

const KID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The sealed token request of docs/protocol.md §1.1: `plaintext` sealed ECDH-ES (direct key
 * agreement, Concat KDF) + A256GCM to the gateway's enc key, with the protected header
 * {"alg":"ECDH-ES","enc":"A256GCM","kid":…,"epk":…,"iat":…,"chn":…} in that order.
 * `encKey` is the gateway's enc key (a CryptoKey or a public JWK); `epk` a fresh key pair by
 * default (tests pass a fixed one: {privateKey, publicKey}); `iat` seconds, now by default.
 */
export async function sealTokenRequest(plaintext, { kid, encKey, channel, iat = Math.floor(Date.now() / 1000), epk, iv }) {
  if (typeof kid !== "string" || !KID.test(kid)) throw new TypeError("the enc key's kid is not 1 to 64 of A-Z a-z 0-9 . _ -");
  if (typeof channel !== "string" || channel.length === 0) throw new TypeError("the channel is not a non-empty string");
  if (!Number.isSafeInteger(iat)) throw new TypeError("iat is whole seconds");
  const gateway = encKey && typeof encKey === "object" && "algorithm" in encKey ? encKey : await importPublicJwk(encKey, "ecdh");
  const pair = epk ?? (await generateKeyPair());
  const epkText = await exportPublicJwkText(pair.publicKey);
  const z = await agree(pair.privateKey, gateway);
  const cek = await deriveKeyBytes("concat-kdf", z);
  z.fill(0);
  try {
    const header = `{"alg":"ECDH-ES","enc":"A256GCM","kid":${JSON.stringify(kid)},"epk":${epkText},"iat":${iat},"chn":${JSON.stringify(channel)}}`;
    return await sealCompact(await importAesKey(cek, ["encrypt"]), header, plaintext, iv);
  } finally {
    cek.fill(0);
  }
}

/**
 * Checks the handshake signature of docs/protocol.md §1.1 before K is derived: a JWS compact
 * `header.payload.signature` in strict base64url; header alg ES256, typ handshake+jws, and a
 * kid that `sigKeyFor(kid)` knows (it returns the ECDSA CryptoKey, or null); no crit; a
 * 64-byte r || s signature that verifies; a payload whose cpk is the thumbprint of
 * `clientJwk`, spk the answer's serverPublicKey, exp its expiry and chn the channel.
 * Throws an Error naming the failed check (never a key or token). Returns the kid.
 */
export async function verifyHandshake(answer, sigKeyFor, clientJwk, channel) {
  const signature = answer?.signature;
  if (typeof signature !== "string") throw new SyntaxError("handshake: no signature");
  const parts = signature.split(".");
  if (parts.length !== 3) throw new SyntaxError("handshake: the signature is not a compact JWS");
  let headerBytes, payloadBytes, sig;
  try {
    [headerBytes, payloadBytes, sig] = parts.map(b64uDecode);
  } catch {
    throw new SyntaxError("handshake: a signature segment is not strict base64url");
  }
  const header = parseJsonObject(headerBytes);
  if (header.alg !== "ES256" || header.typ !== "handshake+jws") throw new SyntaxError("handshake: not an ES256 handshake+jws signature");
  if (Object.prototype.hasOwnProperty.call(header, "crit")) throw new SyntaxError("handshake: crit is not understood");
  if (typeof header.kid !== "string") throw new SyntaxError("handshake: the signature names no kid");
  const key = await sigKeyFor(header.kid);
  if (!key) {
    const error = new Error("handshake: signed by a key that is not trusted");
    error.unknownKid = true;
    throw error;
  }
  if (sig.length !== 64) throw new SyntaxError("handshake: the signature is not 64 bytes (r || s)");
  const ok = await (await subtle()).verify({ name: "ECDSA", hash: "SHA-256" }, key, sig, enc.encode(`${parts[0]}.${parts[1]}`));
  if (!ok) throw new Error("handshake: the signature does not verify");
  const claims = parseJsonObject(payloadBytes);
  if (claims.cpk !== (await thumbprint(clientJwk))) throw new Error("handshake: signed for another client key");
  if (claims.spk !== answer.serverPublicKey) throw new Error("handshake: signed for another server key");
  if (!Number.isSafeInteger(claims.exp) || claims.exp !== answer.expiry) throw new Error("handshake: signed for another expiry");
  if (claims.chn !== channel) throw new Error("handshake: signed for another channel");
  return header.kid;
}
