// sealgate reference client for JavaScript: WebCrypto and fetch only, so the same module
// runs in Node >= 18 and in a browser.
//   node sealgate-client.mjs --vectors ../test-vectors.json
//   node sealgate-client.mjs --url http://127.0.0.1:8080 [--jwks pinned-jwks.json]
// With the gateway's JWK Set (fetched, or pinned) the token request is sealed to its enc key,
// stamped with iat (now) and chn (the channel it is sent on), and the signed answer is
// checked before K is derived. Every call is bound (htm, htp); a call without a body
// carries X-Request-Seal; the answer must be sealed (one in clear is refused) and typed
// response+jwe. The token is renewed a minute before it expires.
// Run by Node, prints "js: ALL CHECKS PASSED" last, only when everything asked for passed;
// exits 1 on a failure, 2 on an unknown flag or a flag without its value.
const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();
const dec = new TextDecoder();
const HKDF_INFO = enc.encode("token-service/v2 A256GCM");

export const b64uEncode = (bytes) => {
  // In chunks: spreading a whole body into String.fromCharCode overflows the call stack
  // past about 150 KB.
  const all = new Uint8Array(bytes);
  let binary = "";
  for (let at = 0; at < all.length; at += 0x8000) binary += String.fromCharCode(...all.subarray(at, at + 0x8000));
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};
export const b64uDecode = (text) => {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
};
const hex = (bytes) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (text) => Uint8Array.from(text.match(/../g), (h) => parseInt(h, 16));
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const u32 = (n) => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);

const EC = { name: "ECDH", namedCurve: "P-256" };

/** The canonical public JWK text: kty, crv, x, y in this order. */
export async function publicJwk(key) {
  const { x, y } = await subtle.exportKey("jwk", key);
  return JSON.stringify({ kty: "EC", crv: "P-256", x, y });
}

/** Imports a server JWK; WebCrypto validates that the point is on the curve. */
export async function importPublicJwk(text) {
  const jwk = JSON.parse(text);
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || "d" in jwk) throw new Error("not a public P-256 JWK");
  return subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, EC, false, []);
}

/** Z: the 32-byte x-coordinate of the shared point. */
export async function agree(privateKey, publicKey) {
  return new Uint8Array(await subtle.deriveBits({ name: "ECDH", public: publicKey }, privateKey, 256));
}

export async function derive(kdf, z) {
  if (kdf === "hkdf-sha256") {
    const ikm = await subtle.importKey("raw", z, "HKDF", false, ["deriveBits"]);
    return new Uint8Array(await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: HKDF_INFO }, ikm, 256));
  }
  if (kdf === "concat-kdf") {
    const alg = enc.encode("A256GCM");
    const input = concat(u32(1), z, u32(alg.length), alg, u32(0), u32(0), u32(256));
    return new Uint8Array(await subtle.digest("SHA-256", input));
  }
  if (kdf === "raw") return z;
  throw new Error(`unknown kdf ${kdf}`);
}

export async function seal(key, plaintext, cty, iv = globalThis.crypto.getRandomValues(new Uint8Array(12)), bind = {}) {
  // The header text is the AAD: members in this order (the gateway writes the same order).
  let header = `{"alg":"dir","enc":"A256GCM"`;
  for (const [name, value] of [["cty", cty], ["typ", bind.typ], ["htm", bind.htm], ["htp", bind.htp]]) {
    if (value) header += `,"${name}":${JSON.stringify(value)}`;
  }
  return sealProtected(key, header + "}", plaintext, iv);
}

async function sealProtected(key, header, plaintext, iv = globalThis.crypto.getRandomValues(new Uint8Array(12))) {
  const protectedB64 = b64uEncode(enc.encode(header));
  const aes = await subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  const sealed = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(protectedB64), tagLength: 128 }, aes, plaintext));
  return [protectedB64, "", b64uEncode(iv), b64uEncode(sealed.slice(0, -16)), b64uEncode(sealed.slice(-16))].join(".");
}

/** RFC 7638: SHA-256 of {"crv","kty","x","y"} in that order, no spaces. */
export async function thumbprint(jwkText) {
  const { crv, kty, x, y } = JSON.parse(jwkText);
  return b64uEncode(await subtle.digest("SHA-256", enc.encode(JSON.stringify({ crv, kty, x, y }))));
}

/** docs/protocol.md §1.1: the signature verifies with the gateway's sig key (ES256, r || s) and is
 * over this client's key, this serverPublicKey, this expiry and this channel. */
export async function verifyHandshake(answer, sigJwkText, clientJwkText, channel) {
  const parts = (answer.signature ?? "").split(".");
  if (parts.length !== 3) throw new Error("no handshake signature");
  const header = JSON.parse(dec.decode(b64uDecode(parts[0])));
  if (header.alg !== "ES256" || header.typ !== "handshake+jws") throw new Error("not an ES256 handshake+jws signature");
  const { x, y } = JSON.parse(sigJwkText);
  const key = await subtle.importKey("jwk", { kty: "EC", crv: "P-256", x, y }, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  const ok = await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, b64uDecode(parts[2]), enc.encode(`${parts[0]}.${parts[1]}`));
  if (!ok) throw new Error("handshake signature does not verify");
  const claims = JSON.parse(dec.decode(b64uDecode(parts[1])));
  const same = claims.cpk === (await thumbprint(clientJwkText)) && claims.spk === answer.serverPublicKey
    && claims.exp === answer.expiry && claims.chn === channel;
  if (!same) throw new Error("signed for another key, server key, expiry or channel");
}

/** docs/protocol.md §1.1: the token request sealed ECDH-ES + A256GCM to the gateway's enc key, sealed
 * now (iat, seconds since the epoch) for `channel` (chn: the X-API-KEY it is sent with). The
 * header is the AAD, so the gateway trusts both; it refuses the request on another channel,
 * outside its clock leeway of iat, or a second time (a new epk every request). */
export async function sealTokenRequest(plaintext, kid, encJwkText, channel, iat = Math.floor(Date.now() / 1000), epk, iv) {
  epk = epk ?? (await subtle.generateKey(EC, true, ["deriveBits"])).privateKey;
  const epkPublic = JSON.parse(await publicJwk(epk));
  const z = await agree(epk, await importPublicJwk(encJwkText));
  const cek = await derive("concat-kdf", z);
  // Members in this order (alg, enc, kid, epk, iat, chn), as the published vectors write them.
  const header = JSON.stringify({ alg: "ECDH-ES", enc: "A256GCM", kid, epk: epkPublic, iat, chn: channel });
  return sealProtected(cek, header, plaintext, iv);
}

export async function open(key, compact, wantTyp) {
  const parts = compact.split(".");
  if (parts.length !== 5 || parts[1] !== "") throw new Error("not a dir compact JWE");
  const header = JSON.parse(dec.decode(b64uDecode(parts[0])));
  if (header.alg !== "dir" || header.enc !== "A256GCM") throw new Error("unexpected alg/enc");
  if (wantTyp !== undefined && header.typ !== wantTyp) throw new Error(`sealed message is not typed ${wantTyp}`);
  const [iv, ciphertext, tag] = parts.slice(2).map(b64uDecode);
  if (iv.length !== 12 || tag.length !== 16) throw new Error("bad IV or tag length");
  const aes = await subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
  // AAD is the header segment exactly as received.
  const plaintext = await subtle.decrypt({ name: "AES-GCM", iv, additionalData: enc.encode(parts[0]), tagLength: 128 }, aes, concat(ciphertext, tag));
  return { header, plaintext: new Uint8Array(plaintext) };
}

export async function fetchJwks(base) {
  const response = await fetch(`${base}/.well-known/jwks.json`);
  if (response.status !== 200) throw new Error(`no JWK Set: ${response.status}`);
  return response.json();
}

export async function handshake(base, { channel, apiKey, secret, kdf }, jwks) {
  const pair = await subtle.generateKey(EC, true, ["deriveBits"]);
  const clientJwk = await publicJwk(pair.publicKey);
  let body = JSON.stringify({ apiKey, secret, publicKey: b64uEncode(enc.encode(clientJwk)) });
  const headers = { "X-API-KEY": channel, "Content-Type": "application/json" };
  const encKey = jwks?.keys.find((k) => k.use === "enc");
  if (encKey) {
    body = await sealTokenRequest(enc.encode(body), encKey.kid, JSON.stringify(encKey), channel); // chn = X-API-KEY
    headers["Content-Type"] = "application/jose";
  }
  const response = await fetch(`${base}/token-service/new/v2/token`, { method: "POST", headers, body });
  const answer = await response.json();
  if (response.status !== 200 || answer.resCode !== "TOK200") throw new Error(`token refused: ${response.status} ${JSON.stringify(answer)}`);
  if (jwks) {
    // Every listed sig key is trusted by kid, so the gateway can move to a newer one.
    const kid = JSON.parse(dec.decode(b64uDecode((answer.signature ?? "e30").split(".")[0]))).kid;
    const sig = jwks.keys.find((k) => k.use === "sig" && k.kid === kid);
    if (!sig) throw new Error("signed by a key that is not pinned");
    await verifyHandshake(answer, JSON.stringify(sig), clientJwk, channel); // before deriving K
  }
  const server = await importPublicJwk(dec.decode(b64uDecode(answer.serverPublicKey)));
  return { token: answer.token, key: await derive(kdf, await agree(pair.privateKey, server)), expiry: answer.expiry };
}

/** A token and K, renewed a minute before the token expires; every call bound. */
export class Session {
  constructor(base, identity, jwks) { Object.assign(this, { base, identity, jwks, current: null }); }

  async get() {
    if (!this.current || this.current.expiry - Date.now() < 60_000) this.current = await handshake(this.base, this.identity, this.jwks);
    return this.current;
  }

  async call(method, target, body, cty = "application/json") {
    const { token, key } = await this.get();
    const bind = { typ: "request+jwe", htm: method, htp: target };
    const headers = { Authorization: `Bearer ${token}` };
    let payload;
    if (body && body.length) {
      payload = await seal(key, body, cty, undefined, bind);
      headers["Content-Type"] = "application/jose";
    } else {
      headers["X-Request-Seal"] = await seal(key, new Uint8Array(0), undefined, undefined, bind);
    }
    const response = await fetch(`${this.base}${target}`, { method, headers, body: payload });
    // A token route seals every upstream answer, whatever its status; only the gateway's own
    // errors come in clear. So an answer in clear is never data: refuse it.
    if (response.headers.get("content-type") !== "application/jose") throw await unsealed(response);
    const { plaintext } = await open(key, await response.text(), "response+jwe");
    return { status: response.status, body: plaintext };
  }
}

/** The error for an answer in clear from a sealed route: a gateway error ({"resCode",
 * "resDesc"}) when its status says so, else a plaintext answer that must not be trusted. */
async function unsealed(response) {
  const text = (await response.text()).slice(0, 200);
  if (response.status >= 400) return new Error(`gateway error ${response.status}: ${text}`);
  return new Error(`refused: the sealed route answered ${response.status} in clear (Content-Type: ${response.headers.get("content-type")}), not application/jose: ${text}`);
}

async function checkVectors(path) {
  const { readFile } = await import("node:fs/promises");
  const v = JSON.parse(await readFile(path, "utf8"));
  const importPrivate = (who) => {
    const jwk = JSON.parse(v[who].jwk);
    return subtle.importKey("jwk", { ...jwk, d: b64uEncode(fromHex(v[who].d)) }, EC, true, ["deriveBits"]);
  };
  const client = await importPrivate("client");
  const z = await agree(client, await importPublicJwk(v.server.jwk));
  if (hex(z) !== v.z) throw new Error("Z");
  for (const [kdf, want] of Object.entries(v.k)) if (hex(await derive(kdf, z)) !== want) throw new Error(kdf);
  const key = fromHex(v.k["hkdf-sha256"]);
  const sealed = await seal(key, enc.encode(v.request.plaintext), "application/json", fromHex(v.request.iv));
  if (sealed !== v.request.jwe) throw new Error("request JWE");
  const { header, plaintext } = await open(key, v.response.jwe);
  if (dec.decode(plaintext) !== v.response.plaintext || header.cty !== v.response.cty) throw new Error("response");
  const h = v.handshake;
  if ((await thumbprint(v.client.jwk)) !== h.client_thumbprint) throw new Error("thumbprint");
  const answer = { serverPublicKey: v.server.encoded, expiry: h.expiry, signature: h.signature };
  await verifyHandshake(answer, h.gateway_sig.jwk, v.client.jwk, h.channel);
  let forged = false;
  try { await verifyHandshake(answer, h.gateway_sig.jwk, v.server.jwk, h.channel); forged = true; } catch { /* refused, as it must be */ }
  if (forged) throw new Error("a signature over another client's key was accepted");
  const r = h.sealed_request;
  const epk = await subtle.importKey("jwk", { ...JSON.parse(r.epk.jwk), d: b64uEncode(fromHex(r.epk.d)) }, EC, true, ["deriveBits"]);
  const sealedRequest = await sealTokenRequest(enc.encode(r.plaintext), "enc-1", h.gateway_enc.jwk, r.chn, r.iat, epk, fromHex(r.iv));
  if (dec.decode(b64uDecode(sealedRequest.split(".")[0])) !== r.protected) throw new Error("sealed request header");
  if (sealedRequest !== r.jwe) throw new Error("sealed request");
  const b = v.binding;
  const bound = await seal(key, enc.encode(b.body.plaintext), "application/json", fromHex(b.body.iv), { typ: "request+jwe", htm: "POST", htp: "/api/transfer?from=1" });
  if (bound !== b.body.jwe) throw new Error("bound body");
  const sealOnly = await seal(key, new Uint8Array(0), undefined, fromHex(b.seal.iv), { typ: "request+jwe", htm: "GET", htp: "/api/account/7" });
  if (sealOnly !== b.seal.jwe) throw new Error("seal");
  const typed = await open(key, b.response.jwe, "response+jwe");
  if (dec.decode(typed.plaintext) !== b.response.plaintext) throw new Error("typed response");
  const big = new Uint8Array(1 << 20).fill(65);
  if (b64uDecode(b64uEncode(big)).length !== big.length) throw new Error("large body base64");
  console.log("js: test vectors OK");
}

async function roundTrip(base, identity, jwksPath) {
  const jwks = jwksPath ? JSON.parse(await (await import("node:fs/promises")).readFile(jwksPath, "utf8")) : await fetchJwks(base);
  const session = new Session(base, identity, jwks);
  const sent = { amount: 100, from: "javascript" };
  const reply = await session.call("POST", "/api/echo?via=js", enc.encode(JSON.stringify(sent)));
  if (reply.status !== 200) throw new Error(`call failed: ${reply.status}`);
  const echoed = JSON.parse(dec.decode(reply.body));
  if (JSON.stringify(echoed.body) !== JSON.stringify(sent)) throw new Error(`echo differs: ${JSON.stringify(echoed.body)}`);
  const large = "x".repeat(300_000);
  const big = await session.call("POST", "/api/echo", enc.encode(JSON.stringify({ large })));
  if (big.status !== 200 || JSON.parse(dec.decode(big.body)).body.large.length !== large.length) throw new Error(`a 300 KB body failed: ${big.status}`);
  const got = await session.call("GET", "/api/echo");
  if (got.status !== 200 || JSON.parse(dec.decode(got.body)).method !== "GET") throw new Error(`bodyless call failed: ${got.status}`);
  console.log(`js: authenticated handshake and bound round trips OK, the upstream received ${JSON.stringify(echoed.body)}`);
}

/** Whether Node runs this file as its script. Compares real paths, not URL text, so a path
 * with a space or a "%", a symlinked folder or --preserve-symlinks-main still matches. Never
 * true in a browser: without `process` the node: modules are not loaded, so the module stays
 * importable there. */
async function isMain() {
  if (typeof process === "undefined" || !process.argv?.[1]) return false;
  const { fileURLToPath } = await import("node:url");
  const { realpathSync } = await import("node:fs");
  try {
    return realpathSync(fileURLToPath(import.meta.url)) === realpathSync(process.argv[1]);
  } catch {
    return false; // argv[1] names no file (Node found the script by adding an extension)
  }
}

const USAGE = "usage: node sealgate-client.mjs [--vectors FILE] [--url BASE] [--jwks FILE] [--channel ID] [--api-key ID] [--secret S] [--kdf NAME]";

/** --flag value pairs; an unknown flag or one without its value is refused (usage, exit 2). */
function parseArgs(argv) {
  const known = ["--vectors", "--url", "--jwks", "--channel", "--api-key", "--secret", "--kdf"];
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (!known.includes(name)) return usage(`unknown argument ${name}`);
    if (value === undefined || value.startsWith("--")) return usage(`${name} needs a value`);
    args[name] = value;
  }
  if (args["--vectors"] === undefined && args["--url"] === undefined) return usage("nothing to do");
  return args;
}

function usage(problem) {
  console.error(`js: ${problem}\n${USAGE}`);
  process.exit(2);
}

if (await isMain()) {
  const args = parseArgs(process.argv.slice(2));
  const identity = {
    channel: args["--channel"] ?? "MOB-APP-2001",
    apiKey: args["--api-key"] ?? "MOB-APP",
    secret: args["--secret"] ?? process.env.SEALGATE_CLIENT_SECRET ?? "TEST123",
    kdf: args["--kdf"] ?? "hkdf-sha256",
  };
  try {
    if (args["--vectors"] !== undefined) await checkVectors(args["--vectors"]);
    if (args["--url"] !== undefined) await roundTrip(args["--url"], identity, args["--jwks"]);
  } catch (error) {
    console.error(`js: FAILED: ${error.message}`);
    process.exit(1);
  }
  // The last line, only when everything asked for passed: CI looks for it.
  console.log("js: ALL CHECKS PASSED");
}
