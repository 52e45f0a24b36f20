// The published test vectors (clients/test-vectors.json, docs/protocol.md §5) as a list of
// named checks, shared by the node:test suite and the command-line runner. Each check
// throws an Error naming what differs.
import { b64uDecode, b64uEncode } from "./base64url.js";
import {
  agree,
  deriveKeyBytes,
  dirHeaderText,
  exportPublicJwkText,
  getCrypto,
  importAesKey,
  importPublicJwk,
  open,
  seal,
  sealCompact,
  sealTokenRequest,
  thumbprint,
  verifyHandshake,
} from "./jose.js";
import { GatewayTrust } from "./trust.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (text) => Uint8Array.from(text.match(/../g), (h) => parseInt(h, 16));
const same = (got, want, what) => {
  if (got !== want) throw new Error(`${what}: got ${got}, want ${want}`);
};

/** Imports the P-256 key pair of a vector entry {d (hex), jwk (text)} for ECDH. */
export async function importVectorPair(entry) {
  const { subtle } = await getCrypto();
  const jwk = JSON.parse(entry.jwk);
  const privateKey = await subtle.importKey("jwk", { ...jwk, d: b64uEncode(fromHex(entry.d)) }, { name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
  return { privateKey, publicKey: await importPublicJwk(entry.jwk, "ecdh") };
}

async function trustFor(h) {
  const sig = { ...JSON.parse(h.gateway_sig.jwk), kid: h.gateway_sig.kid, use: "sig", alg: "ES256" };
  const encKey = { ...JSON.parse(h.gateway_enc.jwk), kid: h.gateway_enc.kid, use: "enc", alg: "ECDH-ES" };
  return GatewayTrust.fromJwks({ keys: [sig, encKey] });
}

/** [name, async (vectors) => void] for every published vector. */
export const vectorChecks = [
  ["client and server public JWK text and encoding", async (v) => {
    for (const who of ["client", "server"]) {
      const pair = await importVectorPair(v[who]);
      const text = await exportPublicJwkText(pair.publicKey);
      same(text, v[who].jwk, `${who} jwk`);
      same(b64uEncode(enc.encode(text)), v[who].encoded, `${who} encoded`);
    }
  }],
  ["Z from the client's d and the server's jwk", async (v) => {
    const client = await importVectorPair(v.client);
    same(hex(await agree(client.privateKey, await importPublicJwk(v.server.jwk))), v.z, "Z");
    const server = await importVectorPair(v.server);
    same(hex(await agree(server.privateKey, await importPublicJwk(v.client.jwk))), v.z, "Z (server side)");
  }],
  ["K for hkdf-sha256, concat-kdf and raw", async (v) => {
    for (const [kdf, want] of Object.entries(v.k)) same(hex(await deriveKeyBytes(kdf, fromHex(v.z))), want, `K ${kdf}`);
  }],
  ["request: the sealed body byte for byte", async (v) => {
    const key = await importAesKey(fromHex(v.k[v.request.kdf]));
    same(dirHeaderText({ cty: "application/json" }), v.request.protected, "request header");
    same(await seal(key, enc.encode(v.request.plaintext), { cty: "application/json" }, fromHex(v.request.iv)), v.request.jwe, "request JWE");
  }],
  ["response: opens to the plaintext and cty", async (v) => {
    const { header, plaintext } = await open(await importAesKey(fromHex(v.k[v.response.kdf])), v.response.jwe);
    same(dec.decode(plaintext), v.response.plaintext, "response plaintext");
    same(header.cty, v.response.cty, "response cty");
  }],
  ["response: refused when a typ of response+jwe is required (it has none)", async (v) => {
    let opened = false;
    try {
      await open(await importAesKey(fromHex(v.k["hkdf-sha256"])), v.response.jwe, { typ: "response+jwe" });
      opened = true;
    } catch { /* refused, as it must be */ }
    if (opened) throw new Error("an untyped response was accepted as response+jwe");
  }],
  ["handshake: the client key's RFC 7638 thumbprint", async (v) => {
    same(await thumbprint(v.client.jwk), v.handshake.client_thumbprint, "thumbprint");
  }],
  ["handshake: the signed answer verifies with the client's key", async (v) => {
    const h = v.handshake;
    const trust = await trustFor(h);
    const answer = { serverPublicKey: v.server.encoded, expiry: h.expiry, signature: h.signature };
    const kid = await verifyHandshake(answer, (k) => trust.sigKey(k), v.client.jwk, h.channel);
    same(kid, h.gateway_sig.kid, "kid");
    const payload = dec.decode(b64uDecode(h.signature.split(".")[1]));
    same(payload, h.signed_payload, "signed payload");
  }],
  ["handshake: the forged signature (server key as client key) is refused", async (v) => {
    const h = v.handshake;
    const trust = await trustFor(h);
    const answer = { serverPublicKey: v.server.encoded, expiry: h.expiry, signature: h.signature };
    const refusals = [
      [answer, v.server.jwk, h.channel, "the server's JWK standing in for the client's key", /another client key/],
      [{ ...answer, expiry: h.expiry + 1 }, v.client.jwk, h.channel, "another expiry", /another expiry/],
      [{ ...answer, serverPublicKey: v.client.encoded }, v.client.jwk, h.channel, "another serverPublicKey", /another server key/],
      [answer, v.client.jwk, "OTHER-CHANNEL", "another channel", /another channel/],
    ];
    for (const [a, clientJwk, channel, what, reason] of refusals) {
      let accepted = false;
      try {
        await verifyHandshake(a, (k) => trust.sigKey(k), clientJwk, channel);
        accepted = true;
      } catch (e) {
        if (!reason.test(e.message)) throw new Error(`refused for ${what}, but for another reason: ${e.message}`);
      }
      if (accepted) throw new Error(`a signature was accepted for ${what}`);
    }
    // An unknown kid, and a flipped signature bit.
    const parts = h.signature.split(".");
    const sig = b64uDecode(parts[2]);
    sig[10] ^= 1;
    for (const [signature, keyFor, what, reason] of [
      [h.signature, () => null, "an untrusted kid", /not trusted/],
      [`${parts[0]}.${parts[1]}.${b64uEncode(sig)}`, (k) => trust.sigKey(k), "a changed signature", /does not verify/],
    ]) {
      let accepted = false;
      try {
        await verifyHandshake({ ...answer, signature }, keyFor, v.client.jwk, h.channel);
        accepted = true;
      } catch (e) {
        if (!reason.test(e.message)) throw new Error(`refused with ${what}, but for another reason: ${e.message}`);
      }
      if (accepted) throw new Error(`a signature was accepted with ${what}`);
    }
  }],
  ["handshake: the sealed token request byte for byte", async (v) => {
    const h = v.handshake;
    const r = h.sealed_request;
    const epk = await importVectorPair(r.epk);
    const jwe = await sealTokenRequest(enc.encode(r.plaintext), { kid: h.gateway_enc.kid, encKey: h.gateway_enc.jwk, channel: r.chn, iat: r.iat, epk, iv: fromHex(r.iv) });
    same(dec.decode(b64uDecode(jwe.split(".")[0])), r.protected, "sealed request header");
    same(jwe, r.jwe, "sealed request JWE");
    // The gateway's side: the content key from its enc key and the epk opens it.
    const gateway = await importVectorPair(h.gateway_enc);
    const cek = await deriveKeyBytes("concat-kdf", await agree(gateway.privateKey, epk.publicKey));
    same(hex(cek), r.cek, "cek");
  }],
  ["binding: the bound body byte for byte", async (v) => {
    const b = v.binding.body;
    same(dirHeaderText({ cty: "application/json", typ: "request+jwe", htm: "POST", htp: "/api/transfer?from=1" }), b.protected, "bound body header");
    const key = await importAesKey(fromHex(v.k["hkdf-sha256"]));
    same(await seal(key, enc.encode(b.plaintext), { cty: "application/json", typ: "request+jwe", htm: "POST", htp: "/api/transfer?from=1" }, fromHex(b.iv)), b.jwe, "bound body");
  }],
  ["binding: the X-Request-Seal byte for byte", async (v) => {
    const s = v.binding.seal;
    same(dirHeaderText({ typ: "request+jwe", htm: "GET", htp: "/api/account/7" }), s.protected, "seal header");
    const key = await importAesKey(fromHex(v.k["hkdf-sha256"]));
    same(await sealCompact(key, s.protected, new Uint8Array(0), fromHex(s.iv)), s.jwe, "seal");
  }],
  ["binding: the typed response opens as response+jwe", async (v) => {
    const r = v.binding.response;
    const { header, headerText, plaintext } = await open(await importAesKey(fromHex(v.k["hkdf-sha256"])), r.jwe, { typ: "response+jwe" });
    same(headerText, r.protected, "typed response header");
    same(header.typ, "response+jwe", "typ");
    same(dec.decode(plaintext), r.plaintext, "typed response plaintext");
  }],
];

/** Runs every check; returns the names that passed, throws at the first failure. */
export async function checkVectors(vectors) {
  const passed = [];
  for (const [name, check] of vectorChecks) {
    try {
      await check(vectors);
    } catch (e) {
      throw new Error(`vector "${name}": ${e.message}`);
    }
    passed.push(name);
  }
  return passed;
}
