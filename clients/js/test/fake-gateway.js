// A gateway in a fetch function, for the unit tests: it speaks docs/protocol.md with real
// cryptography (its own sig and enc keys, sealed token requests opened, signed answers,
// sealed and bound calls checked, sealed answers), and can be scripted to misbehave.
import { webcrypto } from "node:crypto";
import {
  agree,
  b64uDecode,
  b64uEncode,
  deriveKeyBytes,
  exportPublicJwkText,
  importAesKey,
  importPublicJwk,
  open,
  parseJsonObject,
  seal,
  sealCompact,
} from "../src/index.js";

const { subtle } = webcrypto;
const enc = new TextEncoder();
const dec = new TextDecoder();

export const SECRET = "S3cr3t-Do-Not-Leak-7731";
export const CHANNEL = "WEB-APP-1";
export const API_KEY = "WEB";

const json = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers } });
export const gatewayError = (status, resCode, resDesc = "Failure", headers = {}) => json(status, { resCode, resDesc }, headers);

async function ecdsaPair() {
  return subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
}

/** Opens an ECDH-ES + A256GCM compact JWE with the enc private key; returns {header, plaintext}. */
async function openSealedRequest(compact, encPrivate) {
  const parts = compact.split(".");
  if (parts.length !== 5 || parts[1] !== "") throw new Error("not a compact JWE");
  const header = parseJsonObject(b64uDecode(parts[0]));
  if (header.alg !== "ECDH-ES" || header.enc !== "A256GCM") throw new Error("not ECDH-ES");
  const epk = await importPublicJwk(header.epk, "ecdh");
  const cek = await deriveKeyBytes("concat-kdf", await agree(encPrivate, epk));
  const plaintext = await subtle.decrypt(
    { name: "AES-GCM", iv: b64uDecode(parts[2]), additionalData: enc.encode(parts[0]), tagLength: 128 },
    await importAesKey(cek),
    new Uint8Array([...b64uDecode(parts[3]), ...b64uDecode(parts[4])]),
  );
  return { header, plaintext: new Uint8Array(plaintext) };
}

/**
 * Options: kdf (the channel's), lifetimeMs, now (clock for expiry).
 * Returns {jwks, fetch, log, script, tokens, keysOf, answerTweak}.
 * `script` is a list of functions (request) => Response|undefined tried first, each used once
 * when it returns a Response. `answerTweak(answer)` may change a token answer before it is sent.
 */
export async function fakeGateway({ kdf = "hkdf-sha256", lifetimeMs = 30 * 60_000, now = Date.now } = {}) {
  const sig = await ecdsaPair();
  const encPair = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
  const sigJwk = JSON.parse(await exportPublicJwkText(sig.publicKey));
  const encJwk = JSON.parse(await exportPublicJwkText(encPair.publicKey));
  const gw = {
    jwks: { keys: [{ ...sigJwk, kid: "sig-1", use: "sig", alg: "ES256" }, { ...encJwk, kid: "enc-1", use: "enc", alg: "ECDH-ES" }] },
    log: [],
    script: [],
    sessions: new Map(),
    /** K bytes of every session, for the no-secret checks. */
    keyBytes: [],
    answerTweak: null,
    signWith: sig.privateKey,
    sigKid: "sig-1",
    /** Every call that passed the checks and went to the "upstream". */
    delivered: [],
  };

  async function tokenEndpoint(req) {
    const channel = req.headers.get("x-api-key");
    if (channel !== CHANNEL) return gatewayError(401, "TOK002", "Invalid API Key Passed");
    let body = req.body;
    if ((req.headers.get("content-type") ?? "").toLowerCase().startsWith("application/jose")) {
      let opened;
      try {
        opened = await openSealedRequest(dec.decode(body), encPair.privateKey);
      } catch {
        return gatewayError(400, "TOK003");
      }
      const { header } = opened;
      req.sealedHeader = header;
      if (header.kid !== "enc-1" || header.chn !== channel || !Number.isSafeInteger(header.iat) || Math.abs(header.iat - Math.floor(Date.now() / 1000)) > 60) {
        return gatewayError(400, "TOK003");
      }
      body = opened.plaintext;
    }
    let request;
    try {
      request = parseJsonObject(body);
    } catch {
      return gatewayError(400, "TOK003");
    }
    if (request.apiKey !== API_KEY) return gatewayError(401, "TOK002", "Invalid API Key Passed");
    if (request.secret !== SECRET) return gatewayError(401, "TOK004", "Your credentials not allowed to generate token");
    const clientJwk = dec.decode(b64uDecode(request.publicKey));
    const clientKey = await importPublicJwk(clientJwk, "ecdh");
    const server = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
    const keyBytes = await deriveKeyBytes(kdf, await agree(server.privateKey, clientKey));
    const token = `tok.${b64uEncode(webcrypto.getRandomValues(new Uint8Array(24)))}`;
    const expiry = Math.floor((now() + lifetimeMs) / 1000) * 1000;
    gw.sessions.set(token, { key: await importAesKey(keyBytes), expiry, ivs: new Set() });
    gw.keyBytes.push(keyBytes);
    const spk = b64uEncode(enc.encode(await exportPublicJwkText(server.publicKey)));
    const { thumbprint } = await import("../src/index.js");
    const header = b64uEncode(enc.encode(`{"alg":"ES256","kid":"${gw.sigKid}","typ":"handshake+jws"}`));
    const payload = b64uEncode(enc.encode(`{"cpk":"${await thumbprint(clientJwk)}","spk":"${spk}","exp":${expiry},"chn":"${channel}"}`));
    const signature = new Uint8Array(await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, gw.signWith, enc.encode(`${header}.${payload}`)));
    let answer = { resCode: "TOK200", resDesc: "Success", token, expiry, serverPublicKey: spk, signature: `${header}.${payload}.${b64uEncode(signature)}` };
    if (gw.answerTweak) answer = (await gw.answerTweak(answer)) ?? answer;
    return typeof answer === "string" ? new Response(answer, { status: 200, headers: { "Content-Type": "application/json" } }) : json(200, answer);
  }

  async function route(req) {
    const auth = req.headers.get("authorization") ?? "";
    if (!auth.startsWith("Bearer ")) return gatewayError(401, "AUTH001", "Token missing");
    const session = gw.sessions.get(auth.slice(7));
    if (!session) return gatewayError(401, "AUTH004", "Token invalid");
    const target = req.url.pathname + req.url.search;
    let sealedMessage = req.body.length ? dec.decode(req.body) : req.headers.get("x-request-seal");
    if (!sealedMessage) return gatewayError(400, "BODY008", "Request binding required");
    let opened;
    try {
      opened = await open(session.key, sealedMessage);
    } catch {
      return gatewayError(400, "BODY002", "Request body does not decrypt");
    }
    const { header, plaintext } = opened;
    if (header.typ !== "request+jwe") return gatewayError(400, "BODY006", "Sealed message is not a request");
    if (header.htm !== req.method || header.htp !== target) return gatewayError(400, "BODY007", "Sealed message is bound to another request");
    if (!req.body.length && plaintext.length) return gatewayError(400, "BODY009", "X-Request-Seal is not an empty sealed message");
    const iv = sealedMessage.split(".")[2];
    if (session.ivs.has(iv)) return gatewayError(401, "AUTH008", "Request replayed");
    session.ivs.add(iv);
    req.opened = { header, plaintext: dec.decode(plaintext) };
    gw.delivered.push(req);
    const echo = { method: req.method, path: req.url.pathname, query: req.url.search.slice(1) || null, cty: header.cty ?? null, body: dec.decode(plaintext) };
    const sealed = await seal(session.key, enc.encode(JSON.stringify(echo)), { cty: "application/json", typ: "response+jwe" });
    return new Response(sealed, { status: 200, headers: { "Content-Type": "application/jose", "Cache-Control": "no-store" } });
  }

  gw.fetch = async (input, init = {}) => {
    const url = new URL(String(input));
    const headers = new Headers(init.headers);
    const body = init.body === undefined ? new Uint8Array(0) : typeof init.body === "string" ? enc.encode(init.body) : new Uint8Array(init.body);
    const req = { url, method: init.method ?? "GET", headers, body, init, kind: url.pathname.includes("/token-service/") ? "token" : url.pathname.includes("/.well-known/") ? "jwks" : "call" };
    gw.log.push(req);
    for (let i = 0; i < gw.script.length; i++) {
      let answer;
      try {
        answer = await gw.script[i](req);
      } catch (error) {
        gw.script.splice(i, 1); // a script step that throws is used once too
        throw error;
      }
      if (answer) {
        gw.script.splice(i, 1);
        return answer;
      }
    }
    if (req.kind === "jwks") return new Response(JSON.stringify(gw.jwks), { status: 200, headers: { "Content-Type": "application/jwk-set+json" } });
    if (req.kind === "token") return tokenEndpoint(req);
    return route(req);
  };
  /** The route itself (checks, upstream, sealed answer), for a script step that forwards a call. */
  gw.route = route;
  gw.calls = () => gw.log.filter((r) => r.kind === "call");
  gw.tokens = () => gw.log.filter((r) => r.kind === "token");
  /** A sealed answer under the session's K, with the given header members. */
  gw.sealedAnswer = async (req, members, plaintext = "{}", status = 200) => {
    const session = gw.sessions.get(req.headers.get("authorization").slice(7));
    return new Response(await sealCompact(session.key, members, enc.encode(plaintext)), { status, headers: { "Content-Type": "application/jose" } });
  };
  return gw;
}
