// sealgate reference client for JavaScript: WebCrypto and fetch only, so the same module
// runs in Node >= 18 and in a browser.
//   node sealgate-client.mjs --vectors ../test-vectors.json
//   node sealgate-client.mjs --url http://127.0.0.1:8080
const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();
const dec = new TextDecoder();
const HKDF_INFO = enc.encode("token-service/v2 A256GCM");

export const b64uEncode = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
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

export async function seal(key, plaintext, cty, iv = globalThis.crypto.getRandomValues(new Uint8Array(12))) {
  const header = `{"alg":"dir","enc":"A256GCM"${cty ? `,"cty":${JSON.stringify(cty)}` : ""}}`;
  const protectedB64 = b64uEncode(enc.encode(header));
  const aes = await subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  const sealed = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(protectedB64), tagLength: 128 }, aes, plaintext));
  return [protectedB64, "", b64uEncode(iv), b64uEncode(sealed.slice(0, -16)), b64uEncode(sealed.slice(-16))].join(".");
}

export async function open(key, compact) {
  const parts = compact.split(".");
  if (parts.length !== 5 || parts[1] !== "") throw new Error("not a dir compact JWE");
  const header = JSON.parse(dec.decode(b64uDecode(parts[0])));
  if (header.alg !== "dir" || header.enc !== "A256GCM") throw new Error("unexpected alg/enc");
  const [iv, ciphertext, tag] = parts.slice(2).map(b64uDecode);
  if (iv.length !== 12 || tag.length !== 16) throw new Error("bad IV or tag length");
  const aes = await subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
  // AAD is the header segment exactly as received.
  const plaintext = await subtle.decrypt({ name: "AES-GCM", iv, additionalData: enc.encode(parts[0]), tagLength: 128 }, aes, concat(ciphertext, tag));
  return { header, plaintext: new Uint8Array(plaintext) };
}

export async function handshake(base, { channel, apiKey, secret, kdf }) {
  const pair = await subtle.generateKey(EC, true, ["deriveBits"]);
  const publicKey = b64uEncode(enc.encode(await publicJwk(pair.publicKey)));
  const response = await fetch(`${base}/token-service/new/v2/token`, {
    method: "POST",
    headers: { "X-API-KEY": channel, "Content-Type": "application/json" },
    body: JSON.stringify({ apiKey, secret, publicKey }),
  });
  const answer = await response.json();
  if (response.status !== 200 || answer.resCode !== "TOK200") throw new Error(`token refused: ${response.status} ${JSON.stringify(answer)}`);
  const server = await importPublicJwk(dec.decode(b64uDecode(answer.serverPublicKey)));
  return { token: answer.token, key: await derive(kdf, await agree(pair.privateKey, server)) };
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
  console.log("js: test vectors OK");
}

async function roundTrip(base, identity) {
  const { token, key } = await handshake(base, identity);
  const sent = { amount: 100, from: "javascript" };
  const response = await fetch(`${base}/api/echo`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/jose" },
    body: await seal(key, enc.encode(JSON.stringify(sent)), "application/json"),
  });
  if (response.status !== 200 || response.headers.get("content-type") !== "application/jose") throw new Error(`call failed: ${response.status}`);
  const echoed = JSON.parse(dec.decode((await open(key, await response.text())).plaintext));
  if (JSON.stringify(echoed.body) !== JSON.stringify(sent)) throw new Error(`echo differs: ${JSON.stringify(echoed.body)}`);
  console.log(`js: round trip OK, the upstream received ${JSON.stringify(echoed.body)}`);
}

const isMain = typeof process !== "undefined" && import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const arg = (name, fallback) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : fallback; };
  const identity = {
    channel: arg("--channel", "MOB-APP-2001"),
    apiKey: arg("--api-key", "MOB-APP"),
    secret: arg("--secret", process.env.SEALGATE_CLIENT_SECRET ?? "TEST123"),
    kdf: arg("--kdf", "hkdf-sha256"),
  };
  try {
    if (arg("--vectors")) await checkVectors(arg("--vectors"));
    if (arg("--url")) await roundTrip(arg("--url"), identity);
    if (!arg("--vectors") && !arg("--url")) { console.error("usage: --vectors FILE and/or --url BASE"); process.exit(2); }
  } catch (error) {
    console.error(`js: FAILED: ${error.message}`);
    process.exit(1);
  }
}
